package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/qosplane/qosplane/drivers/cgroup"
)

const cgroupPolicy = `
name: site
classes:
  - {name: voice, service: guaranteed, rate: 1Gbit, priority: 5}
  - {name: bulk, mark: {dscp: 8}}
flows:
  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 5004}}
  - {name: backup, class: bulk, match: {cgroup: system.slice/backup.service, protocol: tcp}}
targets:
  - {name: nic, kind: nic, interface: eth0}
  - {name: leaf, kind: switch, address: "127.0.0.1:1", interfaces: [Ethernet1]}
`

// fakeSockets records what the agent asks of the host's socket marker.
type fakeSockets struct {
	mu      sync.Mutex
	applied [][]cgroup.Rule
	rescans int
}

func (f *fakeSockets) Apply(rules []cgroup.Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, slices.Clone(rules))
	return nil
}

func (f *fakeSockets) Rescan() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rescans++
	return nil
}

func (f *fakeSockets) Counts() (map[string]uint64, error) {
	return map[string]uint64{"backup": 7, "other": 1}, nil
}

func (f *fakeSockets) state() (applies int, last []cgroup.Rule, rescans int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.applied) > 0 {
		last = f.applied[len(f.applied)-1]
	}
	return len(f.applied), last, f.rescans
}

// A NIC target's cgroup flows go to the socket marker with the NIC's TC
// priority; later reconciles
// rescan the cgroup tree instead of re-applying; the status counts the
// sockets classified; a target leaving takes its rules along.
func TestCgroupFlowsGoToTheSocketMarker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(cgroupPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	f, sm := newFakeFactory(), &fakeSockets{}
	h := start(t, f, path, func(c *Config) { c.Sockets = sm })
	h.waitFor("both targets", reconciled("nic", "leaf"))
	applies, last, _ := sm.state()
	want := wantPlan(t, path, "nic", "ice")
	if applies != 1 || !slices.Equal(last, cgroup.FromPlan(want)) || len(last) != 1 {
		t.Fatalf("socket marker got %d applies, last %+v; want %+v", applies, last, cgroup.FromPlan(want))
	}
	if r := last[0]; r.Flow != "backup" || r.Cgroup != "system.slice/backup.service" || r.Protocol != 6 || r.DSCP != 8 {
		t.Errorf("rule %+v", r)
	}
	s := h.waitFor("socket counts", func(s Status) bool { return target(s, "nic").Sockets["backup"] == 7 })
	if n := target(s, "nic").Sockets; len(n) != 1 {
		t.Errorf("nic counts %v, want only its own flow", n)
	}
	h.a.mu.Lock()
	w := h.a.workers["nic"]
	h.a.mu.Unlock()
	w.kickNow()
	h.waitFor("a rescan", func(Status) bool { _, _, r := sm.state(); return r > 0 })
	if applies, _, _ := sm.state(); applies != 1 {
		t.Errorf("unchanged rules re-applied: %d applies", applies)
	}
	// The fake device holds the whole plan, as Current then reports it;
	// a reconcile with nothing changed writes nothing to it.
	nic := f.device("nic", "")
	nic.mu.Lock()
	if nic.applies != 1 {
		t.Errorf("nic applied %d times, want 1", nic.applies)
	}
	nic.mu.Unlock()
	h.stop()
	if _, last, _ := sm.state(); len(last) != 0 {
		t.Errorf("after the agent stopped the marker holds %+v", last)
	}
}

// With the real driver (root): the agent attaches the socket programs for a
// cgroup flow, and a cgroup created after it started is matched within one
// reconcile, without the tree watch (off here).
func TestCgroupCreatedAfterStartMatchedInOneReconcile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root, err := cgroup.Mount()
	if err != nil {
		t.Skip(err)
	}
	tree := fmt.Sprintf("qosplane-agent-test-%d", os.Getpid())
	if err := os.Mkdir(filepath.Join(root, tree), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []string{"pods/pod-1", "pods", ""} {
			_ = syscall.Rmdir(filepath.Join(root, tree, d))
		}
	})
	if err := os.Mkdir(filepath.Join(root, tree, "pods"), 0o755); err != nil {
		t.Fatal(err)
	}
	policy := strings.Replace(cgroupPolicy, "system.slice/backup.service", tree+"/pods/*", 1)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	sm, err := cgroup.New(cgroup.Options{Root: root, NoWatch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	h := start(t, newFakeFactory(), path, func(c *Config) { c.Sockets = sm })
	h.waitFor("nic", reconciled("nic"))
	if got := sm.AttachedAt(); got != filepath.Join(root, tree, "pods") {
		t.Fatalf("programs attached at %q", got)
	}
	if err := os.Mkdir(filepath.Join(root, tree, "pods", "pod-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := target(h.a.Status(), "nic").LastSuccess
	h.a.mu.Lock()
	w := h.a.workers["nic"]
	h.a.mu.Unlock()
	w.kickNow()
	h.waitFor("one more reconcile", func(s Status) bool { return target(s, "nic").LastSuccess.After(before) })
	if m := sm.Matched(); !slices.Contains(m, tree+"/pods/pod-1") {
		t.Errorf("after one reconcile the marker matches %v", m)
	}
	h.stop()
	if got := sm.AttachedAt(); got != "" {
		t.Errorf("programs still attached at %q after the agent stopped", got)
	}
}
