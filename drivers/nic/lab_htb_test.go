package nic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/htb"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// TestLabHTBEncoding sends the HTB offload qdisc and classes qosplane
// encodes (package wire/htb) to the kernel and reads them back from the test NIC
// (qtn4, mlx5 with HTB offload) and from the kernel's class dump.
func TestLabHTBEncoding(t *testing.T) {
	needIface(t, "qtn4")
	d := labDriver(t, "qtn4", "qosplane-htb", t.TempDir())
	if err := d.setFeature("qtn4", "hw-tc-offload", true); err != nil {
		t.Fatal(err)
	}
	const major = 0x51520000
	idx, err := ifindex("qtn4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.c.write(tc.RTMDelQdisc, 0, tc.QdiscMsg(idx, major, tc.HRoot, "htb", nil))
		_ = d.setFeature("qtn4", "hw-tc-offload", false)
	})
	if err := d.c.write(tc.RTMNewQdisc, unix.NLM_F_CREATE|unix.NLM_F_EXCL, tc.QdiscMsg(idx, major, tc.HRoot, "htb", htb.QdiscOptions(0x10, true))); err != nil {
		t.Fatalf("htb offload qdisc: %v", err)
	}
	classes := []struct {
		minor, parent uint32
		c             htb.Class
	}{
		{1, 0, htb.Class{RateBytes: 1_250_000_000, CeilBytes: 5_000_000_000, BurstBytes: 1 << 20, CBurstBytes: 1 << 20}},
		{0x10, 1, htb.Class{RateBytes: 125_000_000, CeilBytes: 625_000_000, BurstBytes: 64 << 10, CBurstBytes: 64 << 10}},
	}
	for _, cl := range classes {
		opts, err := cl.c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.c.write(tc.RTMNewTclass, unix.NLM_F_CREATE|unix.NLM_F_EXCL, tc.QdiscMsg(idx, major|cl.minor, major|cl.parent, "htb", opts)); err != nil {
			t.Fatalf("htb class %x: %v", cl.minor, err)
		}
	}
	h := mustState(t, "qtn4").HTB
	if h == nil || h.Handle != major>>16 || h.DefCls != 0x10 {
		t.Fatalf("htb on the device: %+v", h)
	}
	top, leaf := h.Node(1), h.Node(0x10)
	if top == nil || leaf == nil || top.Rate != 1_250_000_000 || top.Ceil != 5_000_000_000 || top.QID != -1 ||
		leaf.Rate != 125_000_000 || leaf.Ceil != 625_000_000 || leaf.QID < 16 || leaf.MaxAverageBw != 5000 || leaf.BwShare != 2 {
		t.Fatalf("nodes: %+v", h.Nodes)
	}
	// The kernel's view (iproute2 6.1 prints htb classes as text only,
	// even with -j): the 64-bit ceil came through, both offloaded.
	out := tcRun(t, "class", "show", "dev", "qtn4")
	for _, want := range []string{"class htb 5152:1 root rate 10Gbit ceil 40Gbit", "class htb 5152:10 parent 5152:1 prio 0 rate 1Gbit ceil 5Gbit"} {
		if !strings.Contains(out, want) {
			t.Fatalf("tc class show dev qtn4: no %q in\n%s", want, out)
		}
	}
	if strings.Count(out, "offload") != 2 {
		t.Fatalf("tc class show dev qtn4: want both classes offloaded\n%s", out)
	}
}

func mustState(t *testing.T, dev string) *qtnstate.State {
	t.Helper()
	s, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// labHTBPolicy has classes with minimum rates and borrowing, which the
// mlx5-htb profile puts on offloaded HTB; peak is replaced by a test.
const labHTBPolicy = `
name: htblab
classes:
  - {name: voice, service: guaranteed, rate: 2Gbit, non-conforming: shape}
  - {name: video, service: controlled-load, rate: 5Gbit, peak: PEAK, non-conforming: borrow}
  - {name: bulk, service: best-effort}
flows:
  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 16384-32767}}
  - {name: cam, class: video, match: {protocol: udp, dst: 10.9.0.0/16}}
targets:
  - {name: nic, kind: nic, interface: qtn4, capacity: 25Gbit, profile: PROFILE}
`

// labHTBPlan compiles labHTBPolicy for qtn4 with the probed capabilities
// of profile prof and the video class's peak.
func labHTBPlan(t *testing.T, caps *offload.Capabilities, prof, peak string) *offload.TargetPlan {
	t.Helper()
	p, err := model.Parse("htb.yaml", []byte(strings.NewReplacer("PEAK", peak, "PROFILE", prof).Replace(labHTBPolicy)))
	if err != nil {
		t.Fatal(err)
	}
	c := *caps
	if prof != caps.Profile {
		pc, err := offload.LoadProfile(prof)
		if err != nil {
			t.Fatal(err)
		}
		pc.LinkSpeed, pc.Channels = caps.LinkSpeed, caps.Channels
		c = *pc
	}
	tp, err := offload.CompileTarget(p, &p.Targets[0], &c, p.Order())
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func labDriverProfile(t *testing.T, ifname, owner, stateDir, profile string) *Driver {
	t.Helper()
	d, err := Open(offload.Device{Interface: ifname}, owner, profile, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})), WithStateDir(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// checkHTBOnDevice compares the test NIC's offloaded tree (debugfs) with
// the plan's: handle, default class, the top class at the link rate and
// every leaf under it with its rate and ceil in bytes/s, each on a QoS
// queue; and the kernel's egress filters that set the leaves' classids.
func checkHTBOnDevice(t *testing.T, want *offload.HTBPlan) {
	t.Helper()
	h := mustState(t, "qtn4").HTB
	if h == nil || h.Handle != uint32(want.Handle) || h.DefCls != uint32(want.Class(want.Default).Minor) || len(h.Nodes) != 2+len(want.Classes) {
		t.Fatalf("htb on the device %+v, want handle %x default %s and %d nodes", h, want.Handle, want.Default, 2+len(want.Classes))
	}
	top := h.Node(1)
	if top == nil || top.Parent != qtnstate.HTBRoot || top.QID != -1 || top.Rate != want.Rate.Bytes() || top.Ceil != want.Rate.Bytes() {
		t.Fatalf("top class %+v, want rate = ceil %d bytes/s", top, want.Rate.Bytes())
	}
	for _, c := range want.Classes {
		n := h.Node(uint32(c.Minor))
		if n == nil || n.Parent != 1 || n.QID < 16 || n.Rate != c.Rate.Bytes() || n.Ceil != c.Ceil.Bytes() ||
			n.MaxAverageBw != uint32(c.Ceil/1_000_000) || n.BwShare != uint32(c.Share) {
			t.Fatalf("class %s (%x): %+v, want rate %d ceil %d bytes/s, max_average_bw %d, bw_share %d", c.Class, c.Minor, n, c.Rate.Bytes(), c.Ceil.Bytes(), c.Ceil/1_000_000, c.Share)
		}
	}
}

// TestLabHTBOffload carries a policy with minimum rates and borrowing onto
// qtn4 (mlx5 NIC mode with HTB offload) through compiler and driver: the
// plan's HTB tree is on the device and reads back equal, per-class
// counters come from its leaves, a re-apply makes
// no writes, a restarted driver (with and without its state file) adopts
// it, a rate change is made in place, a failure at each offload operation
// and at the rule step rolls back, mqprio and HTB swap both ways, and
// remove restores the root.
func TestLabHTBOffload(t *testing.T) {
	const dev = "qtn4"
	needIface(t, dev)
	ctx := context.Background()
	owner := "qosplane-htblab"
	dir := t.TempDir()
	d := labDriverProfile(t, dev, owner, dir, "mlx5-htb")
	removeAll(t, d)
	caps, err := d.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if caps.Profile != "mlx5-htb" || caps.HTB == nil || caps.LinkSpeed != 25_000_000_000 {
		t.Fatalf("probe: profile %q htb %+v speed %v", caps.Profile, caps.HTB, caps.LinkSpeed)
	}
	prevKind, _ := rootQdiscKind(t, dev)
	want := labHTBPlan(t, caps, "mlx5-htb", "10Gbit")
	if want.HTB == nil || want.Queues != nil {
		t.Fatalf("plan: htb %+v queues %+v notes %q", want.HTB, want.Queues, want.Notes)
	}

	// plan -> apply -> read back equals plan.
	w0, t0 := d.Writes(), time.Now()
	ops := converge(t, d, want)
	t.Logf("apply: %d ops, %d writes, %v", len(ops), d.Writes()-w0, time.Since(t0).Round(time.Millisecond))
	checkHTBOnDevice(t, want.HTB)
	if k, h := rootQdiscKind(t, dev); k != "htb" || h != "5152:" {
		t.Fatalf("root qdisc %s %s", k, h)
	}
	cur, err := d.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.HTB == nil || offload.Fingerprint(cur.HTB) != offload.Fingerprint(want.HTB) {
		t.Fatalf("read back %+v, want %+v", cur.HTB, want.HTB)
	}
	out := tcRun(t, "filter", "show", "dev", dev, "egress")
	for _, c := range []string{"voice", "video"} {
		if id := want.HTB.ClassID(want.HTB.Class(c).Minor); !strings.Contains(out, "priority "+hexClassID(id)) {
			t.Fatalf("no egress filter sets priority %s (class %s):\n%s", hexClassID(id), c, out)
		}
	}
	// Per-class counters come from the leaves, with the ceil as the
	// configured rate.
	cnt, err := d.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range want.HTB.Classes {
		if cc, ok := cnt.Classes[c.Class]; !ok || cc.ConfiguredRate != c.Ceil || cc.Where != want.Classes[labClassIndex(want, c.Class)].Where.Placement {
			t.Fatalf("counters of class %s: %+v (present %v), want configured rate %v", c.Class, cc, ok, c.Ceil)
		}
	}
	// Re-apply: no ops, no writes.
	w0, t0 = d.Writes(), time.Now()
	if ops := converge(t, d, want); len(ops) != 0 || d.Writes() != w0 {
		t.Fatalf("re-apply: %d ops, %d writes", len(ops), d.Writes()-w0)
	}
	t.Logf("re-apply: 0 ops, 0 writes, %v", time.Since(t0).Round(time.Millisecond))

	// Restart: a new driver reads the state file; without it, a driver
	// given the plan finds the tree by its handle and rates.
	d2 := labDriverProfile(t, dev, owner, dir, "mlx5-htb")
	assertConverged(t, d2, want)
	saved, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(d.path); err != nil {
		t.Fatal(err)
	}
	d3 := labDriverProfile(t, dev, owner, dir, "mlx5-htb")
	d3.Reference(want)
	cur, err = d3.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.HTB == nil || offload.Fingerprint(cur.HTB) != offload.Fingerprint(want.HTB) {
		t.Fatalf("without the state file: htb %+v", cur.HTB)
	}
	for _, op := range offload.Diff(cur, want) {
		if op.Object != offload.ObjClass {
			t.Fatalf("op %s %s %q after losing the state file", op.Kind, op.Object, op.ID)
		}
	}
	if err := os.WriteFile(d.path, saved, 0o644); err != nil {
		t.Fatal(err)
	}

	// A ceil change is made in place (TC_HTB_NODE_MODIFY); a failure of
	// it rolls back to the old ceil.
	changed := labHTBPlan(t, caps, "mlx5-htb", "20Gbit")
	cur, _ = d.Current(ctx)
	chOps := offload.Diff(cur, changed)
	if err := qtnstate.SetFailNth(1); err != nil {
		t.Fatal(err)
	}
	err = d.Apply(ctx, changed, chOps)
	_ = qtnstate.SetFailNth(0)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("change with fail_nth=1: %v", err)
	}
	assertConverged(t, d, want)
	checkHTBOnDevice(t, want.HTB)
	w0 = d.Writes()
	converge(t, d, changed)
	checkHTBOnDevice(t, changed.HTB)
	t.Logf("ceil change in place: %d writes", d.Writes()-w0)

	// A failure at each offload operation of a fresh apply, and at the
	// rule step after the tree, rolls everything back.
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	checkEmpty := func(what string) {
		t.Helper()
		if s := mustState(t, dev); s.HTB != nil || s.Mqprio != nil {
			t.Fatalf("%s: the device holds htb %+v mqprio %+v", what, s.HTB, s.Mqprio)
		}
		if k, _ := rootQdiscKind(t, dev); k != prevKind {
			t.Fatalf("%s: root %q, want %q", what, k, prevKind)
		}
		if n := len(tcFilters(t, dev, "egress")); n != 0 {
			t.Fatalf("%s: %d egress filters left", what, n)
		}
		if cur, err := d.Current(ctx); err != nil || cur.HTB != nil || len(cur.Rules) != 0 {
			t.Fatalf("%s: Current %+v %v", what, cur, err)
		}
	}
	n := applyFailingEach(t, d, want, 20, func(n int, err error) {
		if !strings.Contains(err.Error(), "rolled back") || !errors.Is(err, ErrOffloadRefused) && !strings.Contains(err.Error(), "injected") {
			t.Fatalf("fail_nth=%d: %v", n, err)
		}
		checkEmpty(fmt.Sprintf("after a failure at offload operation %d", n))
	})
	// CREATE, the top class, the first leaf (LEAF_TO_INNER) and two
	// more leaves: 5 offload operations, the 6th apply passes.
	if n != 2+len(want.HTB.Classes)+1 {
		t.Fatalf("the apply passed at fail_nth=%d, want %d", n, 2+len(want.HTB.Classes)+1)
	}
	checkHTBOnDevice(t, want.HTB)
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	// The rule step: a u32 filter at the rtp rule's pref takes it (the
	// kernel refuses a second kind on one pref), after the tree is built.
	rtp := ruleByIDLab(t, want, "rtp/egress/"+dev)
	tcRun(t, "qdisc", "add", "dev", dev, "clsact")
	tcRun(t, "filter", "add", "dev", dev, "egress", "pref", fmt.Sprint(rtp.Precedence), "protocol", "ip", "u32", "match", "u32", "0", "0", "action", "pass")
	cur, _ = d.Current(ctx)
	err = d.Apply(ctx, want, offload.Diff(cur, want))
	if err == nil || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "rtp") {
		t.Fatalf("apply over a foreign filter at pref %d: %v", rtp.Precedence, err)
	}
	if s := mustState(t, dev); s.HTB != nil {
		t.Fatalf("after the rule step failed the device holds htb %+v", s.HTB)
	}
	tcRun(t, "qdisc", "del", "dev", dev, "clsact")
	checkEmpty("after a failure at the rule step")

	// mqprio (mlx5-nic) -> HTB -> mqprio; a failure at each offload
	// operation of the swap rolls back to the mqprio.
	mq := labHTBPlan(t, caps, "mlx5-nic", "10Gbit")
	if mq.Queues == nil || mq.HTB != nil {
		t.Fatalf("mlx5-nic plan: queues %+v htb %+v", mq.Queues, mq.HTB)
	}
	converge(t, d, mq)
	n = applyFailingEach(t, d, want, 20, func(n int, _ error) {
		assertConverged(t, d, mq)
		if s := mustState(t, dev); s.Mqprio == nil || s.HTB != nil {
			t.Fatalf("swap failed at %d: the device holds mqprio %+v htb %+v", n, s.Mqprio, s.HTB)
		}
	})
	t.Logf("mqprio -> htb passed at fail_nth=%d", n)
	assertConverged(t, d, want)
	checkHTBOnDevice(t, want.HTB)
	converge(t, d, mq)
	assertConverged(t, d, mq)
	if s := mustState(t, dev); s.Mqprio == nil || s.HTB != nil {
		t.Fatalf("htb -> mqprio: the device holds mqprio %+v htb %+v", s.Mqprio, s.HTB)
	}
	converge(t, d, want)

	// Remove restores the root it replaced and turns hw-tc-offload off.
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	checkEmpty("after remove")
	if mustState(t, dev).HwTcOffload {
		t.Fatal("hw-tc-offload left on")
	}
}

func hexClassID(id uint32) string { return fmt.Sprintf("%x:%x", id>>16, id&0xffff) }

func ruleByIDLab(t *testing.T, tp *offload.TargetPlan, id string) *offload.Rule {
	t.Helper()
	for i := range tp.Rules {
		if tp.Rules[i].ID == id {
			return &tp.Rules[i]
		}
	}
	t.Fatalf("no rule %s", id)
	return nil
}

func labClassIndex(tp *offload.TargetPlan, name string) int {
	for i := range tp.Classes {
		if tp.Classes[i].Name == name {
			return i
		}
	}
	return -1
}
