package gnmilab

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/qosplane/qosplane/e2e/labpki"
)

// PKI is a throwaway CA (labpki) with a server certificate for 127.0.0.1
// and localhost signed by it; ClientCert issues client certificates for
// mutual TLS.
type PKI struct {
	// CAPEM is the CA certificate, PEM.
	CAPEM []byte
	// Pool holds the CA, to verify peers' certificates.
	Pool *x509.CertPool
	// Server is the server certificate and key.
	Server tls.Certificate

	ca *labpki.Authority
}

// NewPKI makes a CA and a server certificate.
func NewPKI() (*PKI, error) {
	ca, err := labpki.New("gnmilab CA")
	if err != nil {
		return nil, fmt.Errorf("gnmilab: pki: %w", err)
	}
	p := &PKI{CAPEM: ca.CertPEM, Pool: ca.Pool(), ca: ca}
	kp, err := ca.Server("gnmilab", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return nil, fmt.Errorf("gnmilab: pki: server certificate: %w", err)
	}
	if p.Server, err = tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		return nil, fmt.Errorf("gnmilab: pki: server certificate: %w", err)
	}
	return p, nil
}

// ClientCert issues a client certificate with common name cn and returns
// it and its key, PEM.
func (p *PKI) ClientCert(cn string) (certPEM, keyPEM []byte, err error) {
	kp, err := p.ca.Client(cn, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("gnmilab: pki: client certificate %q: %w", cn, err)
	}
	return kp.CertPEM, kp.KeyPEM, nil
}
