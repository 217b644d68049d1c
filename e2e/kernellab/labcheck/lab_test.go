package labcheck

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
)

// The netdevs the module registers, with their profiles and driver names.
func TestNetdevsAndEthtool(t *testing.T) {
	requireLab(t)
	want := map[string][2]string{
		"qtn0": {"mlx5", "mlx5_core"}, "qtn1": {"ice", "ice"},
		"qtn2": {"mlx5-switchdev", "mlx5_core"}, "qtn2r0": {"mlx5-switchdev", "mlx5_core"},
		"qtn2r1": {"mlx5-switchdev", "mlx5_core"}, "qtn3": {"ixgbe", "ixgbe"},
		"qtn4": {"mlx5", "mlx5_core"}, "qtn5": {"i40e", "i40e"},
		"qtn6": {"bnxt", "bnxt_en"}, "qtn7": {"cxgb4", "cxgb4"},
	}
	for dev, pd := range want {
		s := state(t, dev)
		if s.Profile != pd[0] || s.Driver != pd[1] || s.HwTcOffload {
			t.Errorf("%s: profile %q driver %q hw_tc_offload %v, want %q %q false",
				dev, s.Profile, s.Driver, s.HwTcOffload, pd[0], pd[1])
		}
		out, err := run(ethtoolBin, "-i", dev)
		if err != nil || !strings.Contains(out, "driver: "+pd[1]+"\n") {
			t.Errorf("ethtool -i %s: %v\n%s", dev, err, out)
		}
	}
	out, err := run(ethtoolBin, "qtn0")
	if err != nil || !strings.Contains(out, "Speed: 25000Mb/s") {
		t.Errorf("ethtool qtn0: want Speed: 25000Mb/s: %v\n%s", err, out)
	}
	out, err = run(ethtoolBin, "-k", "qtn0")
	if err != nil || !strings.Contains(out, "hw-tc-offload: off\n") {
		t.Errorf("ethtool -k qtn0: want hw-tc-offload: off (changeable): %v\n%s", err, out)
	}
	if s := state(t, "qtn0"); s.Channels != 16 || len(s.TxqPackets) != 16 {
		t.Errorf("qtn0: channels %d, %d tx queues; want 16, 16", s.Channels, len(s.TxqPackets))
	}
}

// mqprio hw 1 channel mode with a max_rate shaper lands in the module.
func TestMqprioChannelShaperOnMlx5(t *testing.T) {
	requireLab(t)
	hwTcOffload(t, "qtn0")
	rootMqprio(t, "qtn0", "num_tc", "2", "map", "0", "1", "1", "0", "queues", "8@0", "8@8",
		"hw", "1", "mode", "channel", "shaper", "bw_rlimit", "max_rate", "1gbit", "2gbit")
	s := state(t, "qtn0")
	m := s.Mqprio
	if m == nil {
		t.Fatalf("qtn0: no mqprio in state after tc accepted it")
	}
	wantMap := []int{0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if m.NumTC != 2 || !reflect.DeepEqual(m.PrioTCMap, wantMap) ||
		!reflect.DeepEqual(m.Count, []int{8, 8}) || !reflect.DeepEqual(m.Offset, []int{0, 8}) ||
		!reflect.DeepEqual(m.MaxRate, []uint64{125_000_000, 250_000_000}) ||
		!reflect.DeepEqual(m.MinRate, []uint64{0, 0}) || m.Mode != "channel" || m.Shaper != "bw_rlimit" {
		t.Fatalf("qtn0 mqprio = %+v", *m)
	}
	if s.NumTC != 2 {
		t.Errorf("qtn0 netdev num_tc = %d, want 2", s.NumTC)
	}
	tc(t, "qdisc", "del", "dev", "qtn0", "root")
	if s := state(t, "qtn0"); s.Mqprio != nil || s.NumTC != 0 {
		t.Errorf("after delete: mqprio %+v num_tc %d, want none", s.Mqprio, s.NumTC)
	}
}

// mlx5 refuses min_rate. The 6.1 mqprio offload carries no extack, so the
// text is in the kernel log and the module's last_error, tc sees EINVAL.
func TestMqprioMinRateRefusedOnMlx5(t *testing.T) {
	requireLab(t)
	hwTcOffload(t, "qtn0")
	out := tcFails(t, "qdisc", "add", "dev", "qtn0", "root", "handle", "100:", "mqprio",
		"num_tc", "2", "map", "0", "1", "queues", "8@0", "8@8", "hw", "1", "mode", "channel",
		"shaper", "bw_rlimit", "min_rate", "100mbit", "100mbit", "max_rate", "1gbit", "2gbit")
	if !strings.Contains(out, "Invalid argument") {
		t.Errorf("tc output %q, want Invalid argument", out)
	}
	s := state(t, "qtn0")
	if s.Mqprio != nil {
		t.Fatalf("qtn0 holds mqprio %+v after a refusal", *s.Mqprio)
	}
	wantLastError(t, s, "mqprio", "qostestnic: Min tx rate is not supported")
	dm, err := run("dmesg")
	if err != nil || !strings.Contains(dm, "qostestnic: Min tx rate is not supported") {
		t.Errorf("kernel log lacks the refusal: %v\n%s", err, lastLines(dm, 5))
	}
}

// ice takes rates in 500 kbit/s steps only.
func TestMqprioRateGranularityRefusedOnIce(t *testing.T) {
	requireLab(t)
	hwTcOffload(t, "qtn1")
	tcFails(t, "qdisc", "add", "dev", "qtn1", "root", "handle", "100:", "mqprio",
		"num_tc", "2", "map", "0", "1", "queues", "8@0", "8@8", "hw", "1", "mode", "channel",
		"shaper", "bw_rlimit", "max_rate", "1000100kbit", "2gbit")
	s := state(t, "qtn1")
	if s.Mqprio != nil {
		t.Fatalf("qtn1 holds mqprio after a refusal")
	}
	wantLastError(t, s, "mqprio", "qostestnic: Rate not a multiple of 500 Kbps")
	// The same with whole 500 kbit/s steps, and a min rate, is accepted.
	rootMqprio(t, "qtn1", "num_tc", "2", "map", "0", "1", "queues", "8@0", "8@8", "hw", "1",
		"mode", "channel", "shaper", "bw_rlimit", "min_rate", "500kbit", "0", "max_rate", "1000500kbit", "2gbit")
	m := state(t, "qtn1").Mqprio
	if m == nil || !reflect.DeepEqual(m.MinRate, []uint64{62_500, 0}) ||
		!reflect.DeepEqual(m.MaxRate, []uint64{125_062_500, 250_000_000}) {
		t.Fatalf("qtn1 mqprio = %+v", m)
	}
}

// An ingress skip_sw flower with hw_tc 1 is offloaded on ice (in_hw).
func TestFlowerHwTcInHwOnIce(t *testing.T) {
	requireLab(t)
	hwTcOffload(t, "qtn1")
	rootMqprio(t, "qtn1", "num_tc", "2", "map", "0", "1", "queues", "8@0", "8@8", "hw", "1",
		"mode", "channel", "shaper", "bw_rlimit", "max_rate", "1gbit", "2gbit")
	clsact(t, "qtn1")
	tc(t, "filter", "add", "dev", "qtn1", "ingress", "pref", "10", "protocol", "ip", "flower", "skip_sw",
		"dst_ip", "192.0.2.1", "ip_proto", "tcp", "dst_port", "5201", "hw_tc", "1")
	out := tc(t, "filter", "show", "dev", "qtn1", "ingress")
	if !strings.Contains(out, "in_hw") || strings.Contains(out, "not_in_hw") {
		t.Fatalf("filter not in_hw:\n%s", out)
	}
	s := state(t, "qtn1")
	if len(s.Flower) != 1 {
		t.Fatalf("qtn1 holds %d rules, want 1: %+v", len(s.Flower), s.Flower)
	}
	r := s.Flower[0]
	if r.Dir != "ingress" || r.Prio != 10 || r.Proto != 0x0800 || len(r.Actions) != 1 ||
		r.Actions[0].ID() != "hwtc" {
		t.Fatalf("rule = %+v", r)
	}
	if n, _ := r.Actions[0].Num("tc"); n != 1 {
		t.Errorf("hwtc tc = %v, want 1", n)
	}
	dst, _ := r.Keys["dst_ip"].(map[string]any)
	if dst["value"] != "192.0.2.1" {
		t.Errorf("keys = %v, want dst_ip 192.0.2.1", r.Keys)
	}
	// hw_tc 0 is refused, as ice does.
	out = tcFails(t, "filter", "add", "dev", "qtn1", "ingress", "pref", "11", "protocol", "ip", "flower",
		"skip_sw", "dst_ip", "192.0.2.2", "hw_tc", "0")
	if !strings.Contains(out, "qostestnic: Unable to add filter because of invalid destination") {
		t.Errorf("hw_tc 0: output %q", out)
	}
	tc(t, "filter", "del", "dev", "qtn1", "ingress", "pref", "10")
	if s := state(t, "qtn1"); len(s.Flower) != 0 {
		t.Errorf("after delete qtn1 holds %d rules", len(s.Flower))
	}
}

// Without hw-tc-offload, ice refuses flower with its own message.
func TestFlowerNeedsHwTcOffload(t *testing.T) {
	requireLab(t)
	clsact(t, "qtn1")
	out := tcFails(t, "filter", "add", "dev", "qtn1", "ingress", "protocol", "ip", "flower", "skip_sw",
		"ip_proto", "udp", "action", "drop")
	if !strings.Contains(out, "turn ON hw-tc-offload") {
		t.Errorf("output %q", out)
	}
}

// mlx5 offloads flower on ingress only: an egress skip_sw filter is refused.
func TestFlowerEgressSkipSwRefusedOnMlx5(t *testing.T) {
	requireLab(t)
	hwTcOffload(t, "qtn0")
	clsact(t, "qtn0")
	out := tcFails(t, "filter", "add", "dev", "qtn0", "egress", "protocol", "ip", "flower", "skip_sw",
		"ip_proto", "tcp", "action", "skbedit", "priority", "1")
	if !strings.Contains(out, "qostestnic: flower offload on egress is not supported") {
		t.Errorf("output %q", out)
	}
	// Police is not offloaded in NIC mode either.
	out = tcFails(t, "filter", "add", "dev", "qtn0", "ingress", "protocol", "ip", "flower", "skip_sw",
		"ip_proto", "tcp", "action", "police", "rate", "1mbit", "burst", "10k", "conform-exceed", "drop/pipe")
	if !strings.Contains(out, "qostestnic: Not implemented offload action") {
		t.Errorf("police in NIC mode: output %q", out)
	}
	if s := state(t, "qtn0"); len(s.Flower) != 0 {
		t.Errorf("qtn0 holds %d rules after refusals", len(s.Flower))
	}
}

// On a switchdev representor's ingress, DSCP pedit + VLAN PCP + police are
// offloaded together.
func TestFlowerPeditVlanPoliceOnRepresentor(t *testing.T) {
	requireLab(t)
	hwTcOffload(t, "qtn2r0")
	clsact(t, "qtn2r0")
	tc(t, "filter", "add", "dev", "qtn2r0", "ingress", "pref", "20", "protocol", "802.1q", "flower", "skip_sw",
		"vlan_id", "10", "vlan_ethtype", "ip",
		"action", "pedit", "ex", "munge", "ip", "dsfield", "set", "0xb8", "retain", "0xfc", "pipe",
		"action", "vlan", "modify", "id", "10", "priority", "5", "pipe",
		"action", "police", "rate", "100mbit", "burst", "64k", "conform-exceed", "drop/pipe")
	out := tc(t, "filter", "show", "dev", "qtn2r0", "ingress")
	if !strings.Contains(out, "in_hw") || strings.Contains(out, "not_in_hw") {
		t.Fatalf("filter not in_hw:\n%s", out)
	}
	s := state(t, "qtn2r0")
	if len(s.Flower) != 1 {
		t.Fatalf("qtn2r0 holds %d rules, want 1", len(s.Flower))
	}
	acts := s.Flower[0].Actions
	var ids []string
	for _, a := range acts {
		ids = append(ids, a.ID())
	}
	if !reflect.DeepEqual(ids, []string{"pedit", "vlan_mangle", "police"}) {
		t.Fatalf("actions %v, want pedit vlan_mangle police", ids)
	}
	// pedit on the IPv4 header's first word: new = (old & mask) ^ val; TOS is
	// byte 1, so val 0x00b80000 (big-endian 0xb8 in the TOS byte) as host order.
	if v, _ := acts[0].Num("val"); acts[0]["htype"] != "ip4" || acts[0]["cmd"] != "set" || v == 0 {
		t.Errorf("pedit = %v", acts[0])
	}
	if vid, _ := acts[1].Num("vid"); vid != 10 {
		t.Errorf("vlan_mangle = %v", acts[1])
	}
	if prio, _ := acts[1].Num("prio"); prio != 5 {
		t.Errorf("vlan_mangle = %v", acts[1])
	}
	if rate, _ := acts[2].Num("rate_bytes_ps"); rate != 12_500_000 || acts[2]["exceed"] != "drop" ||
		acts[2]["notexceed"] != "pipe" {
		t.Errorf("police = %v", acts[2])
	}
}

// fail_nth makes the Nth offload operation from now fail with the injected
// message, once.
func TestFailNth(t *testing.T) {
	requireLab(t)
	t.Cleanup(func() { _ = qtnstate.SetFailNth(0) })
	hwTcOffload(t, "qtn2r1")
	clsact(t, "qtn2r1")
	add := func(pref string) (string, error) {
		return run(tcBin, "filter", "add", "dev", "qtn2r1", "ingress", "pref", pref, "protocol", "ip",
			"flower", "skip_sw", "ip_proto", "udp", "action", "drop")
	}
	if err := qtnstate.SetFailNth(2); err != nil {
		t.Fatal(err)
	}
	if out, err := add("1"); err != nil {
		t.Fatalf("first add after fail_nth=2 failed: %v\n%s", err, out)
	}
	out, err := add("2")
	if err == nil || !strings.Contains(out, "qostestnic: injected failure") {
		t.Fatalf("second add after fail_nth=2: err %v, output %q; want the injected failure", err, out)
	}
	b, err := os.ReadFile(qtnstate.FailNthPath)
	if err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Errorf("fail_nth after firing = %q (%v), want 0", b, err)
	}
	if out, err := add("3"); err != nil {
		t.Fatalf("add after the injected failure: %v\n%s", err, out)
	}
	s := state(t, "qtn2r1")
	if len(s.Flower) != 2 {
		t.Errorf("qtn2r1 holds %d rules, want 2 (pref 1 and 3)", len(s.Flower))
	}
	wantLastError(t, s, "flower", "qostestnic: injected failure")
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
