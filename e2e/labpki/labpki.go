// Package labpki is the throwaway certificate authority of the test labs:
// the gNMI targets' TLS (gnmilab) and the kube-apiserver's serving and
// client certificates (kubelab). Keys are ECDSA P-256, kept in memory;
// private keys are PEM PKCS#8 ("PRIVATE KEY"), certificates "CERTIFICATE".
package labpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity bounds every certificate: long enough for any test run, short
// enough that a leaked key is worthless soon. NotBefore is set an hour
// back so that small clock differences do not matter.
const Validity = 7 * 24 * time.Hour

// Authority is a self-signed CA. Its key never leaves memory.
type Authority struct {
	// Cert is the CA certificate; CertPEM the same, PEM.
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// KeyPair is a certificate and its private key, PEM.
type KeyPair struct {
	CertPEM, KeyPEM []byte
}

// NewKey makes an ECDSA P-256 key.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA key: %w", err)
	}
	return k, nil
}

// EncodeKey returns k as a PEM PKCS#8 private key.
func EncodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n, nil
}

// New makes a CA named cn.
func New(cn string) (*Authority, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA %q: %w", cn, err)
	}
	return &Authority{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}, nil
}

// Pool returns a pool holding the CA, to verify peers' certificates.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Cert)
	return p
}

// Issue signs tmpl for a fresh key: its subject, extended key usages and
// SANs are kept; serial number, validity and key usage are set here.
func (a *Authority) Issue(tmpl *x509.Certificate) (KeyPair, error) {
	key, err := NewKey()
	if err != nil {
		return KeyPair{}, err
	}
	serial, err := serialNumber()
	if err != nil {
		return KeyPair{}, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(Validity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: keyPEM}, nil
}

// Server issues a serving certificate named cn for the addresses ips and
// the host names dns.
func (a *Authority) Server(cn string, ips []net.IP, dns []string) (KeyPair, error) {
	return a.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames:    dns,
	})
}

// Client issues a client certificate for user cn in groups (its CN and O,
// as the kube-apiserver reads them).
func (a *Authority) Client(cn string, groups []string) (KeyPair, error) {
	return a.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// ParseCert reads the first PEM CERTIFICATE block of certPEM.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no CERTIFICATE block in %.40q", certPEM)
	}
	return x509.ParseCertificate(block.Bytes)
}
