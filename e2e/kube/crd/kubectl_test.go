package crd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/kube/kubelab"
)

// findKubectl returns kubectl's path, or ends t as kubelab ends a test
// without its binaries: fail under QOSPLANE_KUBE_REQUIRED=1, else skip.
func findKubectl(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kubectl", "/usr/bin/kubectl", "/usr/local/bin/kubectl"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if kubelab.Required() {
		t.Fatal("kubectl is not in PATH, /usr/bin or /usr/local/bin")
	}
	t.Skip("kubectl is not in PATH, /usr/bin or /usr/local/bin")
	return ""
}

// kubectl runs the machine's kubectl against one lab as its admin, with a
// discovery cache of its own.
type kubectl struct {
	t          *testing.T
	path       string
	kubeconfig string
	cacheDir   string
}

// run runs kubectl with args, stdin piped in when not empty.
func (k *kubectl) run(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig=" + k.kubeconfig, "--cache-dir=" + k.cacheDir, "--request-timeout=30s"}, args...)
	cmd := exec.CommandContext(ctx, k.path, full...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// must runs kubectl and fails the test when it fails.
func (k *kubectl) must(stdin string, args ...string) string {
	k.t.Helper()
	out, errOut, err := k.run(stdin, args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// apply applies manifest and returns kubectl's error with its stderr.
func (k *kubectl) apply(manifest string) error {
	_, errOut, err := k.run(manifest, "apply", "-f", "-")
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut))
	}
	return nil
}

// eventually retries f every 200 ms until it succeeds or d passes (a new
// CRD reaches discovery and the apiserver's handlers a little after it is
// Established).
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// errNotRefused is what refusal checks report for an accepted object.
var errNotRefused = errors.New("the apiserver accepted it")
