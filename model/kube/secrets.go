package kube

import (
	"path/filepath"

	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// SecretDir is where qosplane materialises the Secret keys a QoSPolicy
// references, one file per key: SecretDir/<namespace>/<name>/<key>. The
// model's file-based fields (tls ca-file, cert-file, key-file, credentials
// password-file) point there.
const SecretDir = "/run/qosplane/secrets"

// Default keys of the Secrets a switch target references.
const (
	// DefaultCAKey is the key of SwitchTLS.CASecretRef when it names none.
	DefaultCAKey = "ca.crt"
	// DefaultPasswordKey is the key of SwitchCredentials.PasswordSecretRef
	// when it names none.
	DefaultPasswordKey = "password"
	// TLSCertKey and TLSKeyKey are the keys of a kubernetes.io/tls Secret.
	TLSCertKey = "tls.crt"
	TLSKeyKey  = "tls.key"
)

// SecretKeyPath is the file holding key of the Secret namespace/name.
func SecretKeyPath(namespace, name, key string) string {
	return filepath.Join(SecretDir, namespace, name, key)
}

// secretRefPath is the file of ref, with def when ref names no key.
func secretRefPath(ref *v1alpha1.SecretKeyReference, def string) string {
	key := ref.Key
	if key == "" {
		key = def
	}
	return SecretKeyPath(ref.Namespace, ref.Name, key)
}
