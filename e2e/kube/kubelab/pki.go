package kubelab

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"

	"github.com/qosplane/qosplane/e2e/labpki"
)

// The lab's certificate authority (labpki) signs the apiserver's serving
// certificate and every client certificate; the apiserver trusts it as
// --client-ca-file and clients trust it as the cluster CA.

// servingCert issues the apiserver's serving certificate, valid for the
// loopback addresses, localhost and the in-cluster names of the kubernetes
// Service (serviceIP is its ClusterIP).
func servingCert(ca *labpki.Authority, serviceIP net.IP) (labpki.KeyPair, error) {
	return ca.Server("kube-apiserver", []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP}, []string{
		"localhost",
		"kubernetes",
		"kubernetes.default",
		"kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local",
	})
}

// newServiceAccountKeys makes the key pair the apiserver signs (private,
// PKCS#8) and verifies (public, PKIX) service-account tokens with.
func newServiceAccountKeys() (privPEM, pubPEM []byte, err error) {
	key, err := labpki.NewKey()
	if err != nil {
		return nil, nil, err
	}
	if privPEM, err = labpki.EncodeKey(key); err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("marshal service-account public key: %w", err)
	}
	return privPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
