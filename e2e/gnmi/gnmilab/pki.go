package gnmilab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// PKI is a throwaway CA valid for a day, with a server certificate for
// 127.0.0.1 and localhost signed by it; ClientCert issues client
// certificates for mutual TLS.
type PKI struct {
	// CAPEM is the CA certificate, PEM.
	CAPEM []byte
	// Pool holds the CA, to verify peers' certificates.
	Pool *x509.CertPool
	// Server is the server certificate and key.
	Server tls.Certificate

	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial atomic.Int64
}

// NewPKI makes a CA and a server certificate.
func NewPKI() (*PKI, error) {
	p := &PKI{}
	p.serial.Store(1)
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, fmt.Errorf("gnmilab: pki: %w", err)
	}
	tmpl := p.template("gnmilab CA")
	tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		return nil, fmt.Errorf("gnmilab: pki: CA: %w", err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("gnmilab: pki: CA: %w", err)
	}
	p.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(p.ca)

	srv := p.template("gnmilab")
	srv.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	srv.IPAddresses, srv.DNSNames = []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"}
	certPEM, keyPEM, err := p.issue(srv)
	if err != nil {
		return nil, fmt.Errorf("gnmilab: pki: server certificate: %w", err)
	}
	if p.Server, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("gnmilab: pki: server certificate: %w", err)
	}
	return p, nil
}

// ClientCert issues a client certificate with common name cn and returns
// it and its key, PEM.
func (p *PKI) ClientCert(cn string) (certPEM, keyPEM []byte, err error) {
	tmpl := p.template(cn)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	certPEM, keyPEM, err = p.issue(tmpl)
	if err != nil {
		return nil, nil, fmt.Errorf("gnmilab: pki: client certificate %q: %w", cn, err)
	}
	return certPEM, keyPEM, nil
}

// template is a certificate valid from an hour ago for a day, with the
// next serial number.
func (p *PKI) template(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: big.NewInt(p.serial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
}

// issue signs tmpl for a new key with the CA.
func (p *PKI) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
