package kubelab

import (
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/qosplane/qosplane/e2e/labpki"
)

// userName is what UserKubeconfig accepts as a user name: the characters of
// Kubernetes user names such as "system:serviceaccount:ns:sa" or
// "qosplane-agent@node-1". Keeping to it lets the name go into YAML and a
// file name without escaping.
var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._@-]*$`)

// kubeconfigYAML renders a kubeconfig for one user of the lab with every
// credential embedded, so the file stands alone. user must match userName.
func kubeconfigYAML(server string, caPEM []byte, user string, kp labpki.KeyPair) string {
	b64 := base64.StdEncoding.EncodeToString
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\n")
	fmt.Fprintf(&b, "clusters:\n- name: kubelab\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n",
		server, b64(caPEM))
	fmt.Fprintf(&b, "users:\n- name: %q\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n",
		user, b64(kp.CertPEM), b64(kp.KeyPEM))
	fmt.Fprintf(&b, "contexts:\n- name: %q\n  context:\n    cluster: kubelab\n    user: %q\n",
		user+"@kubelab", user)
	fmt.Fprintf(&b, "current-context: %q\npreferences: {}\n", user+"@kubelab")
	return b.String()
}

// writeFile writes data to path, readable by the owner only (the files hold
// private keys).
func writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
