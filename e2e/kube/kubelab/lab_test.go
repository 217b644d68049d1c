package kubelab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/kube/kubelab"
)

// refused runs kubectl, expects it to fail, and checks its stderr holds
// every one of want.
func refused(t *testing.T, k *kubelab.Kubectl, kubeconfig, stdin string, want []string, args ...string) {
	t.Helper()
	out, errOut, err := k.Run(kubeconfig, stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded, want an error with %q\nstdout: %s", strings.Join(args, " "), want, out)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("kubectl %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errOut)
		}
	}
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.kubelab.qosplane.io
spec:
  group: kubelab.qosplane.io
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          spec:
            type: object
            required: [minRate, maxRate]
            properties:
              minRate: {type: integer, minimum: 0, maximum: 100}
              maxRate: {type: integer, minimum: 0, maximum: 100}
            x-kubernetes-validations:
            - rule: self.minRate <= self.maxRate
              message: minRate must not exceed maxRate
              fieldPath: .minRate
`

// widget is a Widget object in namespace default.
func widget(name string, minRate, maxRate int) string {
	return fmt.Sprintf("apiVersion: kubelab.qosplane.io/v1\nkind: Widget\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  minRate: %d\n  maxRate: %d\n",
		name, minRate, maxRate)
}

const viewerRBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widget-viewer
rules:
- apiGroups: [kubelab.qosplane.io]
  resources: [widgets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: widget-viewers
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: widget-viewer
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: qosplane:viewers
`

// TestLab starts the lab and checks, with the machine's kubectl, what the
// qosplane e2e tests will rely on: the server version, CRD schema and CEL
// validation with field paths, an apiserver restart that keeps the data,
// and RBAC by the groups of a client certificate.
func TestLab(t *testing.T) {
	k := kubelab.NewKubectl(t)
	t0 := time.Now()
	lab := kubelab.ForTest(t, kubelab.Options{})
	t.Logf("lab up in %v", time.Since(t0).Round(time.Millisecond))
	admin := lab.Kubeconfig()

	// kubectl version: the server reports the version build.sh stamped in.
	var v struct {
		ServerVersion struct {
			GitVersion   string `json:"gitVersion"`
			Major        string `json:"major"`
			GitTreeState string `json:"gitTreeState"`
		} `json:"serverVersion"`
	}
	out := k.Must(admin, "", "version", "-o", "json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("kubectl version -o json: %v\n%s", err, out)
	}
	sv := v.ServerVersion
	if !regexp.MustCompile(`^v1\.\d+\.\d+$`).MatchString(sv.GitVersion) || sv.Major != "1" || sv.GitTreeState != "clean" {
		t.Errorf("server version %+v, want a release v1.x.y, major 1, tree clean", sv)
	}
	t.Logf("server version %s", sv.GitVersion)

	// A CRD with a structural schema and a CEL rule.
	k.Must(admin, widgetCRD, "apply", "-f", "-")
	k.Must(admin, "", "wait", "--for=condition=Established", "--timeout=30s", "crd/widgets.kubelab.qosplane.io")
	kubelab.Eventually(t, 10*time.Second, "create a valid Widget", func() error {
		_, errOut, err := k.Run(admin, widget("good", 10, 20), "apply", "-f", "-")
		if err != nil {
			return errorString(errOut)
		}
		return nil
	})
	refused(t, k, admin, widget("bad-order", 80, 20),
		[]string{`Widget "bad-order" is invalid`, "spec.minRate", "minRate must not exceed maxRate"},
		"apply", "-f", "-")
	refused(t, k, admin, widget("bad-range", 10, 1000),
		[]string{`Widget "bad-range" is invalid`, "spec.maxRate", "less than or equal to 100"},
		"apply", "-f", "-")

	// Restart: same port, same kubeconfig, the Widget is still there.
	t1 := time.Now()
	if err := lab.RestartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("apiserver restarted in %v", time.Since(t1).Round(time.Millisecond))
	k.Must(admin, "", "version", "-o", "json")
	if got := k.Must(admin, "", "get", "widget", "good", "-n", "default", "-o", "jsonpath={.spec.maxRate}"); got != "20" {
		t.Errorf("after restart: Widget good maxRate = %q, want 20", got)
	}

	// RBAC: a user without bindings is Forbidden; a binding to one of its
	// certificate's groups lets it read but still not write.
	alice, err := lab.UserKubeconfig("alice", "qosplane:viewers")
	if err != nil {
		t.Fatal(err)
	}
	refused(t, k, alice, "", []string{"Forbidden", `User "alice" cannot list resource "widgets"`},
		"get", "widgets", "-n", "default")
	k.Must(admin, viewerRBAC, "apply", "-f", "-")
	kubelab.Eventually(t, 10*time.Second, "alice lists widgets through her group", func() error {
		_, errOut, err := k.Run(alice, "", "get", "widgets", "-n", "default")
		if err != nil {
			return errorString(errOut)
		}
		return nil
	})
	refused(t, k, alice, widget("by-alice", 1, 2), []string{"Forbidden", `User "alice" cannot create resource "widgets"`},
		"create", "-f", "-")
	bob, err := lab.UserKubeconfig("bob", "qosplane:others")
	if err != nil {
		t.Fatal(err)
	}
	refused(t, k, bob, "", []string{"Forbidden", `User "bob" cannot list resource "widgets"`},
		"get", "widgets", "-n", "default")
}

// errorString is kubectl's stderr as an error.
type errorString string

func (e errorString) Error() string { return strings.TrimSpace(string(e)) }
