package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
)

// TestLabCLIOnNIC runs the qosplane commands on the kernel lab's mlx5-like
// test NIC: plan probes the device for its profile, apply installs, apply
// again does nothing, the agent serves status, remove gives the device back.
func TestLabCLIOnNIC(t *testing.T) {
	labtest.NeedNICs(t, "qtn0")
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(`
name: clilab
classes:
  - {name: voice, service: guaranteed, rate: 100Mbit}
  - {name: bulk}
flows:
  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 5004}}
targets:
  - {name: nic, kind: nic, interface: qtn0, capacity: 25Gbit}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	must := func(want string, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(args...)
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("qosplane %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	// No profile in the policy: plan probes qtn0 (ethtool says mlx5_core).
	must("target nic (nic, profile mlx5-nic, capacity 25Gbit)", "plan", policy)
	must("placement: 2 hardware, 1 software", "apply", policy, "--socket", sock)
	if st, _ := qtnstate.Read("qtn0"); st.Mqprio == nil || st.Mqprio.NumTC != 2 {
		t.Fatalf("apply left no 2-TC mqprio: %+v", st)
	}
	must("0 ops", "apply", policy, "--socket", sock)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		code, _, _ := runCLIContext(ctx, "agent", policy, "--socket", sock)
		done <- code
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out, _ := runCLI("status", "--socket", sock)
		if code == exitOK && strings.Contains(out, "target nic (nic, profile mlx5-nic): ok") {
			if !strings.Contains(out, "voice") {
				t.Errorf("status lacks the class table:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status from the agent: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("agent exit %d", code)
	}
	must("removed", "remove", policy)
	if st, _ := qtnstate.Read("qtn0"); st.Mqprio != nil || len(st.Flower) != 0 {
		t.Errorf("remove left state: %+v", st)
	}
}
