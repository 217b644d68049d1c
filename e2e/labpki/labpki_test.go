package labpki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAuthority: client certificates carry the user as CN and the groups
// as O and chain to the CA for client auth only; a serving certificate
// chains for server auth for its names; keys are PKCS#8 and load as TLS
// key pairs.
func TestAuthority(t *testing.T) {
	ca, err := New("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	roots := ca.Pool()
	kp, err := ca.Client("system:serviceaccount:qos:agent", []string{"qosplane:agents", "system:authenticated"})
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, kp.CertPEM)
	if c.Subject.CommonName != "system:serviceaccount:qos:agent" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	if want := []string{"qosplane:agents", "system:authenticated"}; !slices.Equal(c.Subject.Organization, want) {
		t.Errorf("O = %q, want %q", c.Subject.Organization, want)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client auth: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate verifies for server auth")
	}
	if !strings.Contains(string(kp.KeyPEM), "BEGIN PRIVATE KEY") {
		t.Errorf("client key is not PKCS#8: %.40q", kp.KeyPEM)
	}
	if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		t.Errorf("client key pair: %v", err)
	}

	srv, err := ca.Server("srv", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	s := parseCert(t, srv.CertPEM)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := s.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	if _, err := s.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.net"}); err == nil {
		t.Error("serving certificate verifies for a name it does not carry")
	}
	other, err := New("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(x509.VerifyOptions{Roots: other.Pool(), DNSName: "localhost"}); err == nil {
		t.Error("serving certificate verifies against another CA")
	}
}
