package kubelab

import (
	"context"
	"testing"
	"time"
)

// NeedBinaries returns the lab's binaries, or ends t when they are missing:
// t fails if Required (QOSPLANE_KUBE_REQUIRED=1), so CI cannot
// pass by skipping the lab, and is skipped with the reason and BuildHint
// otherwise.
func NeedBinaries(t testing.TB) Binaries {
	t.Helper()
	bins, err := FindBinaries()
	if err != nil {
		if Required() {
			t.Fatalf("%v (required: %s=1)", err, EnvRequired)
		}
		t.Skip(err)
	}
	return bins
}

// ForTest starts a lab for t with opts (Binaries from NeedBinaries and Logf
// t.Logf when unset) and stops it when t ends.
func ForTest(t testing.TB, opts Options) *Lab {
	t.Helper()
	if opts.Binaries == (Binaries{}) {
		opts.Binaries = NeedBinaries(t)
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	l, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

// Eventually retries f every 200 ms until it returns nil, and fails the
// test with f's last error when d has passed: RBAC, CRD and discovery
// changes reach the apiserver's caches a little after the write.
func Eventually(t testing.TB, d time.Duration, what string, f func() error) {
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
