package kubelab

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Kubectl runs the machine's kubectl against a lab, with a discovery cache
// of its own; each call names the kubeconfig (the admin's or a user's).
// Every call is bounded by a minute, and by 30 s per request.
type Kubectl struct {
	t        testing.TB
	path     string
	cacheDir string
}

// NewKubectl finds kubectl in PATH, /usr/bin or /usr/local/bin, or ends t
// as NeedBinaries does: a failure when Required, else a skip.
func NewKubectl(t testing.TB) *Kubectl {
	t.Helper()
	for _, name := range []string{"kubectl", "/usr/bin/kubectl", "/usr/local/bin/kubectl"} {
		if p, err := exec.LookPath(name); err == nil {
			return &Kubectl{t: t, path: p, cacheDir: t.TempDir()}
		}
	}
	if Required() {
		t.Fatal("kubectl is not in PATH, /usr/bin or /usr/local/bin")
	}
	t.Skip("kubectl is not in PATH, /usr/bin or /usr/local/bin")
	return nil
}

// Run runs kubectl with args as the user of kubeconfig, stdin piped in when
// not empty.
func (k *Kubectl) Run(kubeconfig, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + k.cacheDir, "--request-timeout=30s"}, args...)
	cmd := exec.CommandContext(ctx, k.path, full...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// Must is Run that fails the test when kubectl fails.
func (k *Kubectl) Must(kubeconfig, stdin string, args ...string) string {
	k.t.Helper()
	out, errOut, err := k.Run(kubeconfig, stdin, args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}
