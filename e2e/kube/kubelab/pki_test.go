package kubelab

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE block in %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPKI checks what the apiserver relies on: client certificates carry
// the user as CN and the groups as O and chain to the CA for client auth;
// the serving certificate chains for server auth and names 127.0.0.1.
func TestPKI(t *testing.T) {
	ca, err := newAuthority("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	kp, err := ca.client("system:serviceaccount:qos:agent", []string{"qosplane:agents", "system:authenticated"})
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, kp.certPEM)
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
	if !strings.Contains(string(kp.keyPEM), "BEGIN PRIVATE KEY") {
		t.Errorf("client key is not PKCS#8: %.40q", kp.keyPEM)
	}

	srv, err := ca.serving(serviceIP)
	if err != nil {
		t.Fatal(err)
	}
	s := parseCert(t, srv.certPEM)
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
