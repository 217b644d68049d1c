package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	mkube "github.com/qosplane/qosplane/model/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	"github.com/qosplane/qosplane/offload"
)

// secretKey is one key of one Secret a switch target references.
type secretKey struct{ namespace, name, key string }

func (k secretKey) String() string { return k.namespace + "/" + k.name + "[" + k.key + "]" }

// switchSecretKeys lists the Secret keys switch target t needs.
func switchSecretKeys(t *v1alpha1.SwitchTarget) []secretKey {
	var out []secretKey
	if tls := t.TLS; tls != nil {
		if r := tls.CASecretRef; r != nil {
			out = append(out, secretKey{r.Namespace, r.Name, ctlKeyOr(r.Key, mkube.DefaultCAKey)})
		}
		if r := tls.ClientCertSecretRef; r != nil {
			out = append(out, secretKey{r.Namespace, r.Name, mkube.TLSCertKey}, secretKey{r.Namespace, r.Name, mkube.TLSKeyKey})
		}
	}
	if cr := t.Credentials; cr != nil && cr.PasswordSecretRef != nil {
		r := cr.PasswordSecretRef
		out = append(out, secretKey{r.Namespace, r.Name, ctlKeyOr(r.Key, mkube.DefaultPasswordKey)})
	}
	return out
}

func ctlKeyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}

// secretData is what the controller keeps of a Secret while it applies:
// its version and data (never logged, never put on a status).
type secretData struct {
	rv   string
	data map[string][]byte
}

// getSecret returns a Secret: from the watched cache in the controller's
// namespace, else read with the typed client (refs elsewhere are picked up
// on the next Resync, as they are not watched).
func (c *Controller) getSecret(ctx context.Context, namespace, name string) (*secretData, error) {
	if namespace == c.cfg.Namespace {
		u, ok := c.secrets.get(namespace, name)
		if !ok {
			return nil, fmt.Errorf("secret %s/%s not found", namespace, name)
		}
		var s corev1.Secret
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &s); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, err)
		}
		return &secretData{rv: s.ResourceVersion, data: s.Data}, nil
	}
	s, err := c.clients.Core.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, err)
	}
	return &secretData{rv: s.ResourceVersion, data: s.Data}, nil
}

// secretVersions is the resourceVersions of every Secret the policy's
// switches reference, as one comparable string ("ns/name@rv,..."), and
// the Secrets themselves by "ns/name". A Secret that cannot be read is
// listed with its error's text, so that it becoming readable changes the
// string too.
func (c *Controller) secretVersions(ctx context.Context, qp *v1alpha1.QoSPolicy) (string, map[string]*secretData, map[string]error) {
	got := make(map[string]*secretData)
	errs := make(map[string]error)
	for i := range qp.Spec.Switches {
		for _, k := range switchSecretKeys(&qp.Spec.Switches[i]) {
			id := k.namespace + "/" + k.name
			if _, ok := got[id]; ok {
				continue
			}
			if _, ok := errs[id]; ok {
				continue
			}
			s, err := c.getSecret(ctx, k.namespace, k.name)
			if err != nil {
				errs[id] = err
				continue
			}
			got[id] = s
		}
	}
	var parts []string
	for id, s := range got {
		parts = append(parts, id+"@"+s.rv)
	}
	for id, err := range errs {
		parts = append(parts, id+"!"+err.Error())
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), got, errs
}

// materialise writes the keys switch t needs into dir (dir/ns/name/key,
// files 0600 in 0700 directories) and points tp's file fields, which the
// model set under mkube.SecretDir, there. The content is never logged; the
// caller removes dir after the round.
func materialise(dir string, t *v1alpha1.SwitchTarget, tp *offload.TargetPlan, secrets map[string]*secretData, errs map[string]error) error {
	for _, k := range switchSecretKeys(t) {
		id := k.namespace + "/" + k.name
		if err := errs[id]; err != nil {
			return err
		}
		v, ok := secrets[id].data[k.key]
		if !ok {
			return fmt.Errorf("secret %s has no key %q", id, k.key)
		}
		p := filepath.Join(dir, k.namespace, k.name, k.key)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("secret %s: %w", k, err)
		}
		if err := os.WriteFile(p, v, 0o600); err != nil {
			return fmt.Errorf("secret %s: %w", k, err)
		}
	}
	re := func(p *string) {
		if rest, ok := strings.CutPrefix(*p, mkube.SecretDir); ok && *p != "" {
			*p = filepath.Join(dir, rest)
		}
	}
	re(&tp.Device.TLS.CAFile)
	re(&tp.Device.TLS.CertFile)
	re(&tp.Device.TLS.KeyFile)
	re(&tp.Device.Credentials.PasswordFile)
	return nil
}
