package kubelab

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"testing"

	"github.com/qosplane/qosplane/e2e/labpki"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := labpki.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPKI checks what the apiserver relies on beyond labpki's own test:
// the serving certificate chains for the loopback address, localhost, the
// in-cluster names and the Service IP; the service-account keys are PKCS#8
// and PKIX.
func TestPKI(t *testing.T) {
	ca, err := labpki.New("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	roots := ca.Pool()
	srv, err := servingCert(ca, serviceIP)
	if err != nil {
		t.Fatal(err)
	}
	s := parseCert(t, srv.CertPEM)
	for _, host := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := s.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	if !slices.ContainsFunc(s.IPAddresses, func(ip net.IP) bool { return ip.Equal(serviceIP) }) {
		t.Errorf("serving certificate lacks %v: %v", serviceIP, s.IPAddresses)
	}

	priv, pub, err := newServiceAccountKeys()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(priv); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("service-account private key: %.40q", priv)
	}
	if b, _ := pem.Decode(pub); b == nil || b.Type != "PUBLIC KEY" {
		t.Errorf("service-account public key: %.40q", pub)
	}
}

// TestUserName checks the names UserKubeconfig accepts.
func TestUserName(t *testing.T) {
	for _, ok := range []string{"alice", "system:serviceaccount:ns:sa", "qosplane-agent@node-1", "a.b_c"} {
		if !userName.MatchString(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", ":x", "a b", "a\"b", "a\nb", "a/b"} {
		if userName.MatchString(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
