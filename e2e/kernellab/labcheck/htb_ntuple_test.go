package labcheck

import (
	"reflect"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
)

// Offloaded HTB on qtn4 with iproute2: the tree lands in the module the way
// mlx5 holds it (leaf queues above the regular ones, ceil in Mbit/s, rate
// as a share of the parent's ceil), the kernel refuses prio on offloaded
// classes, and a leaf turned inner hands its queue to its child.
func TestHTBOffloadOnMlx5(t *testing.T) {
	requireLab(t)
	out := tcFails(t, "qdisc", "add", "dev", "qtn4", "root", "handle", "1:", "htb", "offload")
	if !strings.Contains(out, "hw-tc-offload ethtool feature flag must be on") {
		t.Fatalf("htb offload without hw-tc-offload: %s", out)
	}
	hwTcOffload(t, "qtn4")
	tc(t, "qdisc", "add", "dev", "qtn4", "root", "handle", "1:", "htb", "offload", "default", "10")
	t.Cleanup(func() { _, _ = run(tcBin, "qdisc", "del", "dev", "qtn4", "root") })
	tc(t, "class", "add", "dev", "qtn4", "parent", "1:", "classid", "1:1", "htb", "rate", "1gbit", "ceil", "2gbit")
	tc(t, "class", "add", "dev", "qtn4", "parent", "1:1", "classid", "1:10", "htb", "rate", "500mbit", "ceil", "1gbit")
	tc(t, "class", "add", "dev", "qtn4", "parent", "1:1", "classid", "1:20", "htb", "rate", "200mbit", "ceil", "2gbit")
	h := state(t, "qtn4").HTB
	if h == nil || h.Handle != 1 || h.DefCls != 0x10 {
		t.Fatalf("htb state %+v", h)
	}
	inner, l10, l20 := h.Node(1), h.Node(0x10), h.Node(0x20)
	if inner == nil || l10 == nil || l20 == nil || h.Node(qtnstate.HTBRoot) == nil {
		t.Fatalf("nodes %+v", h.Nodes)
	}
	if inner.QID != -1 || inner.Parent != qtnstate.HTBRoot || inner.MaxAverageBw != 2000 || inner.Rate != 125_000_000 {
		t.Errorf("1:1 = %+v, want inner, ceil 2000 Mbit/s, rate 125000000 bytes/s", *inner)
	}
	// 1:1 was a leaf (queue 16) until 1:10 came: 1:10 took its queue.
	if l10.QID != 16 || l20.QID != 17 || l10.Parent != 1 || l10.BwShare != 25 || l10.MaxAverageBw != 1000 {
		t.Errorf("1:10 = %+v, 1:20 = %+v; want queues 16 and 17, 1:10 share 25%% of 2000 Mbit/s", *l10, *l20)
	}
	out = tcFails(t, "class", "add", "dev", "qtn4", "parent", "1:1", "classid", "1:30", "htb", "rate", "1mbit", "prio", "1")
	if !strings.Contains(out, "HTB offload doesn't support the prio parameter") {
		t.Fatalf("prio on an offloaded class: %s", out)
	}
	tc(t, "class", "change", "dev", "qtn4", "parent", "1:1", "classid", "1:20", "htb", "rate", "300mbit", "ceil", "1500mbit")
	if n := state(t, "qtn4").HTB.Node(0x20); n == nil || n.MaxAverageBw != 1500 || n.Rate != 37_500_000 {
		t.Fatalf("1:20 after change: %+v", n)
	}
	_, _ = run(ethtoolBin, "-K", "qtn4", "hw-tc-offload", "off")
	if !state(t, "qtn4").HwTcOffload {
		t.Fatal("hw-tc-offload turned off with HTB offloaded")
	}
	// The refused request stays in wanted_features, and a later "off"
	// would change nothing: ask for "on" again, as after a refusal on mlx5.
	if out, err := run(ethtoolBin, "-K", "qtn4", "hw-tc-offload", "on"); err != nil {
		t.Fatalf("ethtool -K qtn4 hw-tc-offload on: %v\n%s", err, out)
	}
	// Deleting both leaves makes 1:1 a leaf again with the last one's queue.
	tc(t, "class", "del", "dev", "qtn4", "classid", "1:20")
	tc(t, "class", "del", "dev", "qtn4", "classid", "1:10")
	if n := state(t, "qtn4").HTB.Node(1); n == nil || n.QID != 16 {
		t.Fatalf("1:1 after its children left: %+v", n)
	}
	tc(t, "qdisc", "del", "dev", "qtn4", "root")
	if h := state(t, "qtn4").HTB; h != nil {
		t.Fatalf("htb after delete: %+v", h)
	}
}

// ethtool ntuple rules on qtn3 with iproute2's peer, ethtool: read back as
// ixgbe reports them, and ixgbe's refusals.
func TestNtupleOnIxgbe(t *testing.T) {
	requireLab(t)
	ethtool := func(args ...string) (string, error) { return run(ethtoolBin, args...) }
	// ethtool 6.1 prints the refusal ("rmgr: Cannot insert RX class rule")
	// but may exit 0: the device's state is what counts.
	_, _ = ethtool("-N", "qtn3", "flow-type", "tcp4", "dst-port", "80", "action", "2", "loc", "1")
	if s := state(t, "qtn3"); len(s.Ntuple) != 0 {
		t.Fatalf("insert with ntuple off: %+v", s.Ntuple)
	}
	wantLastError(t, state(t, "qtn3"), "ntuple", "qostestnic: ntuple filters are off (ethtool -K ntuple on)")
	if out, err := ethtool("-K", "qtn3", "ntuple", "on"); err != nil {
		t.Fatalf("ethtool -K qtn3 ntuple on: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = ethtool("-K", "qtn3", "ntuple", "off") })
	for _, args := range [][]string{
		{"flow-type", "tcp4", "dst-port", "80", "action", "2", "loc", "1"},
		{"flow-type", "udp4", "dst-port", "53", "action", "3", "loc", "7"},
	} {
		if out, err := ethtool(append([]string{"-N", "qtn3"}, args...)...); err != nil {
			t.Fatalf("ethtool -N qtn3 %v: %v\n%s", args, err, out)
		}
	}
	s := state(t, "qtn3")
	if !s.NtupleOn || len(s.Ntuple) != 2 || s.Ntuple[0].Loc != 1 || s.Ntuple[0].DstPort != 80 || s.Ntuple[0].Queue != 2 ||
		s.Ntuple[1].FlowType != "udp4" || s.Ntuple[1].Queue != 3 {
		t.Fatalf("state %+v", s.Ntuple)
	}
	out, err := ethtool("-n", "qtn3")
	if err != nil || !strings.Contains(out, "Total 2 rules") || !strings.Contains(out, "Filter: 7") {
		t.Fatalf("ethtool -n qtn3: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"flow-type", "tcp4", "src-ip", "10.0.0.1", "dst-port", "81", "action", "2", "loc", "2"}, "qostestnic: Only one mask supported per port"},
		{[]string{"flow-type", "tcp4", "dst-port", "82", "action", "99", "loc", "3"}, "qostestnic: queue out of range"},
		{[]string{"flow-type", "tcp4", "dst-port", "83", "action", "1", "loc", "3000"}, "qostestnic: Location out of range"},
		{[]string{"flow-type", "tcp6", "dst-port", "84", "action", "1", "loc", "4"}, "qostestnic: Unrecognized flow type"},
	} {
		_, _ = ethtool(append([]string{"-N", "qtn3"}, c.args...)...)
		wantLastError(t, state(t, "qtn3"), "ntuple", c.msg)
	}
	if n := len(state(t, "qtn3").Ntuple); n != 2 {
		t.Fatalf("refusals changed the table: %d rules", n)
	}
	if out, err := ethtool("-K", "qtn3", "ntuple", "off"); err != nil {
		t.Fatalf("ntuple off: %v\n%s", err, out)
	}
	if n := len(state(t, "qtn3").Ntuple); n != 0 {
		t.Fatalf("ntuple off left %d rules", n)
	}
}

// qtn3 takes mqprio as ixgbe does (__ixgbe_setup_tc, ixgbe_set_dcb_queues):
// a TC count of at most 8 with the driver's layout (16 queues per TC up to
// 4 TCs, 8 above; 64 tx queues), no rates; in DCB mode an ntuple rule may
// name any of rss_i x TCs rx queues.
func TestIxgbeMqprioTCCount(t *testing.T) {
	requireLab(t)
	const dev = "qtn3"
	ethtool := func(args ...string) (string, error) { return run(ethtoolBin, args...) }
	tcFails(t, "qdisc", "add", "dev", dev, "root", "handle", "100:", "mqprio", "num_tc", "9", "map", "0", "1", "2", "3", "4", "5", "6", "7", "8",
		"queues", "1@0", "1@1", "1@2", "1@3", "1@4", "1@5", "1@6", "1@7", "1@8", "hw", "1")
	wantLastError(t, state(t, dev), "mqprio", "qostestnic: ixgbe_setup_tc: more TCs than dcb_cfg.num_tcs.pg_tcs (8)")

	rootMqprio(t, dev, "num_tc", "3", "map", "0", "1", "2", "queues", "2@0", "2@2", "4@4", "hw", "1",
		"mode", "channel", "shaper", "bw_rlimit", "max_rate", "1gbit", "1gbit", "1gbit")
	s := state(t, dev)
	if m := s.Mqprio; m == nil || !reflect.DeepEqual(m.Count, []int{16, 16, 16}) || !reflect.DeepEqual(m.Offset, []int{0, 16, 32}) ||
		!reflect.DeepEqual(m.MaxRate, []uint64{0, 0, 0}) {
		t.Fatalf("mqprio %+v", s.Mqprio)
	}
	out, err := run(tcBin, "qdisc", "show", "dev", dev, "root")
	if err != nil || !strings.Contains(out, "queues:(0:15) (16:31) (32:47)") {
		t.Fatalf("tc qdisc show dev %s root: %v\n%s", dev, err, out)
	}
	if out, err := ethtool("-K", dev, "ntuple", "on"); err != nil {
		t.Fatalf("ethtool -K %s ntuple on: %v\n%s", dev, err, out)
	}
	t.Cleanup(func() { _, _ = ethtool("-K", dev, "ntuple", "off") })
	// ethtool may exit 0 on a refusal: the device's state is what counts.
	_, _ = ethtool("-N", dev, "flow-type", "tcp4", "dst-port", "80", "action", "47", "loc", "1")
	if n := state(t, dev).Ntuple; len(n) != 1 || n[0].Queue != 47 {
		t.Fatalf("rule to rx queue 47 of 48: %+v", n)
	}
	_, _ = ethtool("-N", dev, "flow-type", "tcp4", "dst-port", "80", "action", "48", "loc", "2")
	wantLastError(t, state(t, dev), "ntuple", "qostestnic: queue out of range")

	// Five TCs: 8 queues each.
	if out, err := ethtool("-K", dev, "ntuple", "off"); err != nil {
		t.Fatalf("ntuple off: %v\n%s", err, out)
	}
	tc(t, "qdisc", "del", "dev", dev, "root")
	tc(t, "qdisc", "add", "dev", dev, "root", "handle", "100:", "mqprio", "num_tc", "5", "map", "0", "1", "2", "3", "4",
		"queues", "1@0", "1@1", "1@2", "1@3", "1@4", "hw", "1")
	if m := state(t, dev).Mqprio; m == nil || !reflect.DeepEqual(m.Count, []int{8, 8, 8, 8, 8}) || !reflect.DeepEqual(m.Offset, []int{0, 8, 16, 24, 32}) {
		t.Fatalf("5 TCs: mqprio %+v", m)
	}
}
