package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic"
	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/offload"
)

// nicFactory opens the real NIC driver and keeps the drivers it opened, so
// a test can count their netlink writes.
type nicFactory struct {
	stateDir string
	mu       sync.Mutex
	opened   []*nic.Driver
}

func (f *nicFactory) Open(_ context.Context, t Target) (offload.Driver, error) {
	d, err := nic.Open(t.Device, t.Owner, t.Profile, slog.New(slog.DiscardHandler), nic.WithStateDir(f.stateDir))
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.opened = append(f.opened, d)
	f.mu.Unlock()
	return d, nil
}

func (f *nicFactory) OpenPacer(context.Context, *offload.TargetPlan) (offload.Driver, error) {
	panic("no pacer in this test")
}

func (f *nicFactory) last() *nic.Driver {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened[len(f.opened)-1]
}

const labPolicy = `
name: agentlab
classes:
  - {name: voice, service: guaranteed, rate: 100Mbit, mark: {dscp: 46}}
  - {name: video, service: controlled-load, rate: 1Gbit, peak: 2Gbit}
  - {name: bulk}
flows:
  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 5004}}
  - {name: cam, class: video, match: {protocol: udp, dst: 10.9.0.0/24}}
targets:
  - {name: nic, kind: nic, interface: qtn0, profile: mlx5-nic}
`

// TestLabAgentOnRealNIC runs the agent with the real NIC driver on the
// lab's mlx5-like test NIC: it applies, a restarted agent adopts the state
// with zero netlink writes, SIGTERM leaves the state by default, and
// --on-exit remove restores the device.
func TestLabAgentOnRealNIC(t *testing.T) {
	labtest.NeedNICs(t, "qtn0")
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(labPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &nicFactory{stateDir: filepath.Join(dir, "state")}
	h := start(t, f, path, nil)
	s := h.waitFor("first reconcile", reconciled("nic"))
	if n := target(s, "nic"); n.LastError != "" || n.LastOps == 0 {
		t.Fatalf("first reconcile: %+v", n)
	}
	st, err := qtnstate.Read("qtn0")
	if err != nil || st.Mqprio == nil || st.Mqprio.NumTC != 3 {
		t.Fatalf("the NIC holds no 3-TC mqprio: %+v %v", st, err)
	}
	h.stop()
	if st, _ := qtnstate.Read("qtn0"); st.Mqprio == nil {
		t.Fatal("SIGTERM (leave) removed the offload")
	}

	// Restart: adopt without a single netlink write.
	h = start(t, f, path, nil)
	s = h.waitFor("adoption", reconciled("nic"))
	if n := target(s, "nic"); n.LastError != "" || n.LastOps != 0 {
		t.Fatalf("restart reconcile: %+v", n)
	}
	if w := f.last().Writes(); w != 0 {
		t.Errorf("restart adoption made %d netlink writes, want 0", w)
	}
	h.stop()

	// --on-exit remove: the device is given back.
	h = start(t, f, path, func(c *Config) { c.RemoveOnExit = true })
	h.waitFor("reconcile", reconciled("nic"))
	h.stop()
	if st, _ := qtnstate.Read("qtn0"); st.Mqprio != nil {
		t.Errorf("remove on exit left the mqprio offload: %+v", st.Mqprio)
	}
}
