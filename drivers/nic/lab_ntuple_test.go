package nic

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

const ethtoolPath = "/usr/sbin/ethtool"

// ntuplePeerRules is how many rules TestLabNtupleBench installs with
// `ethtool -N` in a loop: one process per rule costs ~50 ms under TCG, so
// make e2e-kernel runs 200 (the per-rule time is what compares); the full
// comparison is
//
//	QOSPLANE_LAB_ARGS='-test.run=NtupleBench -ntuple-peer-rules=2000' bash e2e/kernellab/run.sh ./drivers/nic
var ntuplePeerRules = flag.Int("ntuple-peer-rules", 200, "rules the ethtool -N peer loop of TestLabNtupleBench installs")

// ntuplePlan is a plan for qtn3 (the ixgbe profile) with one tcp4
// dst-port rule per entry of ports, steering to queue queues[i].
func ntuplePlan(owner string, ports []uint16, queues []uint16) *offload.TargetPlan {
	tp := &offload.TargetPlan{Target: "nic", Kind: model.NIC, Owner: owner, Profile: "ixgbe",
		Device: offload.Device{Interface: "qtn3"}, Classes: []offload.ClassPlan{}}
	for i, p := range ports {
		r := ntupleRule(fmt.Sprintf("f%d/ingress/qtn3", p), model.Match{Protocol: 6, DstPort: model.PortRange{Lo: p, Hi: p}}, queues[i])
		tp.Rules = append(tp.Rules, r)
	}
	return tp
}

// ntupleTable reads qtn3's rules from the module's debugfs.
func ntupleTable(t *testing.T) []qtnstate.Ntuple {
	t.Helper()
	st, err := qtnstate.Read("qtn3")
	if err != nil {
		t.Fatal(err)
	}
	return st.Ntuple
}

func needNtuple(t *testing.T) {
	t.Helper()
	needIface(t, "qtn3")
	_, err := os.Stat(ethtoolPath)
	labtest.Need(t, err == nil, "ethtool at %s", ethtoolPath)
}

func runEthtool(t *testing.T, args ...string) string {
	t.Helper()
	return labtest.Run(t, ethtoolPath, args...)
}

// TestLabNtuple: apply, read back, re-apply with 0 writes, a foreign rule
// never touched, restart with the state file lost adopts, a change, a
// refused rule and injected failures roll back, remove.
func TestLabNtuple(t *testing.T) {
	needNtuple(t)
	ctx := context.Background()
	dir := t.TempDir()
	owner := "qosplane-ntuple"
	d := labDriver(t, "qtn3", owner, dir)
	removeAll(t, d)
	t.Cleanup(func() {
		_ = exec.Command(ethtoolPath, "-N", "qtn3", "delete", "5").Run()
		_ = exec.Command(ethtoolPath, "-K", "qtn3", "ntuple", "off").Run()
	})

	// Probe picks the ixgbe profile by the driver name, with ntuple.
	caps, err := d.Probe(ctx)
	if err != nil || caps.Profile != "ixgbe" || caps.Ntuple == nil {
		t.Fatalf("probe of qtn3: %+v, %v; want the ixgbe profile with ntuple", caps, err)
	}

	want := ntuplePlan(owner, []uint16{80, 443, 22}, []uint16{4, 4, 8})
	converge(t, d, want)
	st := mustState(t, "qtn3")
	if !st.NtupleOn || len(st.Ntuple) != 3 {
		t.Fatalf("after apply: ntuple_on %v, rules %+v", st.NtupleOn, st.Ntuple)
	}
	got := map[uint16]qtnstate.Ntuple{}
	for _, r := range st.Ntuple {
		got[r.DstPort] = r
		if r.FlowType != "tcp4" || r.DstPortMask != 0xffff || r.SrcMask != "0.0.0.0" || r.Loc < 2043 {
			t.Errorf("rule %+v: want tcp4 dst-port exact at the top of the table", r)
		}
	}
	if got[80].Queue != 4 || got[443].Queue != 4 || got[22].Queue != 8 {
		t.Fatalf("queues: %+v", st.Ntuple)
	}
	// iproute2's peer: ethtool -n shows the same rules.
	if out := runEthtool(t, "-n", "qtn3"); !strings.Contains(out, "Total 3 rules") || !strings.Contains(out, "Dest port: 443") {
		t.Fatalf("ethtool -n qtn3:\n%s", out)
	}
	assertConverged(t, d, want)
	if ops := converge(t, d, want); len(ops) != 0 {
		t.Fatalf("re-apply: %d ops", len(ops))
	}

	// A foreign rule with the same mask (ixgbe holds one per port).
	runEthtool(t, "-N", "qtn3", "flow-type", "tcp4", "dst-port", "8080", "action", "1", "loc", "5")

	// Restart without the state file: a driver given the plan adopts.
	if err := os.Remove(filepath.Join(dir, "nic-"+owner+"@qtn3.json")); err != nil {
		t.Fatal(err)
	}
	d2 := labDriver(t, "qtn3", owner, dir)
	d2.Reference(want)
	before := d2.Writes()
	assertConverged(t, d2, want)
	if ops := converge(t, d2, want); len(ops) != 0 || d2.Writes() != before {
		t.Fatalf("restart: %d ops, %d writes", len(ops), d2.Writes()-before)
	}
	if n := len(ntupleTable(t)); n != 4 {
		t.Fatalf("after restart: %d rules, want 3 + the foreign one", n)
	}

	// A change: 22 goes, 443 moves to queue 12.
	want2 := ntuplePlan(owner, []uint16{80, 443}, []uint16{4, 12})
	converge(t, d2, want2)
	assertConverged(t, d2, want2)
	tab := ntupleTable(t)
	var ports []string
	for _, r := range tab {
		ports = append(ports, fmt.Sprintf("%d->%d@%d", r.DstPort, r.Queue, r.Loc))
	}
	if len(tab) != 3 || !slices.Contains(ports, "8080->1@5") || !slices.ContainsFunc(tab, func(r qtnstate.Ntuple) bool { return r.DstPort == 443 && r.Queue == 12 }) {
		t.Fatalf("after change: %v", ports)
	}

	// A refused rule (another mask: ixgbe_add_ethtool_fdir_entry's "Only
	// one mask supported per port") leaves the device as it was.
	bad := ntuplePlan(owner, []uint16{80, 443, 53}, []uint16{4, 12, 2})
	bad.Rules[2].Match.Src = mustPrefix("10.0.0.0/8")
	cur, err := d2.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = d2.Apply(ctx, bad, offload.Diff(cur, bad))
	if !errors.Is(err, ErrOffloadRefused) {
		t.Fatalf("apply of a second mask: %v, want ErrOffloadRefused", err)
	}
	if st, _ := qtnstate.Read("qtn3"); st.LastError == nil || !strings.Contains(st.LastError.Msg, "Only one mask supported per port") {
		t.Fatalf("last error: %+v", st.LastError)
	}
	if after := ntupleTable(t); !slices.Equal(after, tab) {
		t.Fatalf("refused apply changed the table:\n%+v\nwas\n%+v", after, tab)
	}
	assertConverged(t, d2, want2)

	// A failure injected at each insert of a 3-rule change rolls back.
	want3 := ntuplePlan(owner, []uint16{80, 443, 25, 110, 143}, []uint16{4, 12, 3, 3, 3})
	for n := 1; n <= 3; n++ {
		cur, err := d2.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := qtnstate.SetFailNth(n); err != nil {
			t.Fatal(err)
		}
		if err := d2.Apply(ctx, want3, offload.Diff(cur, want3)); err == nil || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("fail_nth %d: %v", n, err)
		}
		if after := ntupleTable(t); !slices.Equal(after, tab) {
			t.Fatalf("fail_nth %d: table not restored:\n%+v\nwas\n%+v", n, after, tab)
		}
		assertConverged(t, d2, want2)
	}
	_ = qtnstate.SetFailNth(0)
	converge(t, d2, want3)
	assertConverged(t, d2, want3)

	// Remove takes qosplane's rules only; the foreign rule keeps the
	// feature on.
	if err := d2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = qtnstate.Read("qtn3")
	if len(st.Ntuple) != 1 || st.Ntuple[0].Loc != 5 || !st.NtupleOn {
		t.Fatalf("after remove: ntuple_on %v, %+v", st.NtupleOn, st.Ntuple)
	}
}

// TestLabNtupleBench installs 2,000 ntuple rules through qosplane (one
// Apply), re-applies (0 writes) and removes them, then does the same with
// `ethtool -N` in a loop (-ntuple-peer-rules of them), on the same device,
// and prints both.
func TestLabNtupleBench(t *testing.T) {
	needNtuple(t)
	const n = 2000
	ctx := context.Background()
	owner := "qosplane-ntuple-bench"
	d := labDriver(t, "qtn3", owner, t.TempDir())
	removeAll(t, d)
	ports := make([]uint16, n)
	queues := make([]uint16, n)
	for i := range ports {
		ports[i], queues[i] = uint16(10000+i), uint16(i%16)
	}
	want := ntuplePlan(owner, ports, queues)

	start := time.Now()
	w0 := d.Writes()
	converge(t, d, want)
	apply, writes := time.Since(start), d.Writes()-w0
	if got := len(ntupleTable(t)); got != n {
		t.Fatalf("%d rules on the device, want %d", got, n)
	}
	start = time.Now()
	w0 = d.Writes()
	if ops := converge(t, d, want); len(ops) != 0 || d.Writes() != w0 {
		t.Fatalf("re-apply: %d ops, %d writes", len(ops), d.Writes()-w0)
	}
	reapply := time.Since(start)
	start = time.Now()
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	remove := time.Since(start)
	if got := len(ntupleTable(t)); got != 0 {
		t.Fatalf("%d rules after remove", got)
	}

	// The peer: ethtool -N, one process per rule, as a script would.
	peer := min(max(*ntuplePeerRules, 1), n)
	runEthtool(t, "-K", "qtn3", "ntuple", "on")
	t.Cleanup(func() { _ = exec.Command(ethtoolPath, "-K", "qtn3", "ntuple", "off").Run() })
	start = time.Now()
	for i := range peer {
		runEthtool(t, "-N", "qtn3", "flow-type", "tcp4", "dst-port", fmt.Sprint(ports[i]), "action", fmt.Sprint(queues[i]), "loc", fmt.Sprint(2045-i))
	}
	peerAdd := time.Since(start)
	if got := len(ntupleTable(t)); got != peer {
		t.Fatalf("ethtool: %d rules on the device, want %d", got, peer)
	}
	start = time.Now()
	for i := range peer {
		runEthtool(t, "-N", "qtn3", "delete", fmt.Sprint(2045-i))
	}
	peerDel := time.Since(start)
	t.Logf("ntuple bench (qtn3, same VM): qosplane %d rules: apply %v (%d writes, %.0f µs/rule), re-apply %v (0 writes), remove %v; ethtool -N loop %d rules: add %v (%.0f µs/rule), delete %v",
		n, apply.Round(time.Millisecond), writes, float64(apply.Microseconds())/n, reapply.Round(time.Millisecond), remove.Round(time.Millisecond),
		peer, peerAdd.Round(time.Millisecond), float64(peerAdd.Microseconds())/float64(peer), peerDel.Round(time.Millisecond))
	fmt.Printf("NTUPLE-BENCH qosplane_rules=%d qosplane_apply_ms=%d qosplane_reapply_ms=%d qosplane_remove_ms=%d ethtool_rules=%d ethtool_add_ms=%d ethtool_delete_ms=%d\n",
		n, apply.Milliseconds(), reapply.Milliseconds(), remove.Milliseconds(), peer, peerAdd.Milliseconds(), peerDel.Milliseconds())
}
