package nic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// handPlan is a plan for an ice-like NIC written by hand: four TCs with
// max (and one min) rates, a hardware receive-steering rule, and software
// egress rules with a shared borrowing meter, a dropping policer, DSCP
// rewrites for both families.
func handPlan(ifname, owner string) *offload.TargetPlan {
	hw := offload.Where{Placement: offload.Hardware}
	sw := offload.Where{Placement: offload.Software, Reason: "egress flower runs in the kernel"}
	return &offload.TargetPlan{
		Target: "lab", Kind: model.NIC, Owner: owner, Profile: "ice", Device: offload.Device{Interface: ifname},
		Queues: &offload.QueueLayout{NumTC: 4, PrioTC: [16]uint8{0, 1, 2, 3}, Where: hw, TCs: []offload.TC{
			{Index: 0, Classes: []string{"bulk"}, Count: 4, Offset: 0, MaxRate: 1_000_000_000},
			{Index: 1, Classes: []string{"video"}, Count: 4, Offset: 4, MaxRate: 2_000_000_000, MinRate: 500_000_000},
			{Index: 2, Classes: []string{"voice"}, Count: 4, Offset: 8, MaxRate: 500_000_000},
			{Index: 3, Classes: []string{"netctl"}, Count: 4, Offset: 12},
		}},
		Classes: []offload.ClassPlan{
			{Name: "bulk", Service: model.BestEffort, NonConforming: model.Discard, TC: 0, SkbPriority: 0, Where: hw},
			{Name: "video", Service: model.ControlledLoad, NonConforming: model.Borrow, TC: 1, SkbPriority: 1, Where: sw},
			{Name: "voice", Service: model.Guaranteed, NonConforming: model.Shape, TC: 2, SkbPriority: 2, Where: hw},
			{Name: "netctl", Service: model.NetworkControl, NonConforming: model.Borrow, TC: 3, SkbPriority: 3, Where: hw},
		},
		Rules: []offload.Rule{
			{ID: "voice-in/ingress/" + ifname, Flow: "voice-in", Class: "voice", Direction: offload.OnIngress, Device: ifname, Precedence: 10,
				Match:   model.Match{Dst: mustPrefix("10.0.0.1/32"), Protocol: model.TCP, DstPort: model.PortRange{Lo: 80, Hi: 80}},
				Actions: []offload.Action{{Kind: offload.SteerTC, TC: 2}}, Where: hw},
			{ID: "video/egress/" + ifname, Flow: "video", Class: "video", Direction: offload.OnEgress, Device: ifname, Precedence: 10,
				Match: model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: 5006, Hi: 5006}},
				Actions: []offload.Action{
					{Kind: offload.Police, Rate: 50_000_000, Burst: 64 << 10, Shared: "class/video", Exceed: &offload.Exceed{DSCP: 8, DemotePriority: 0}},
					{Kind: offload.SetPriority, Priority: 1}, {Kind: offload.SetDSCP, DSCP: 34}}, Where: sw},
			{ID: "bulk-v6/egress/" + ifname, Flow: "bulk-v6", Class: "bulk", Direction: offload.OnEgress, Device: ifname, Precedence: 20,
				Match: model.Match{Dst: mustPrefix("2001:db8::/32")},
				Actions: []offload.Action{
					{Kind: offload.Police, Rate: 30_000_000, Burst: 64 << 10, Exceed: &offload.Exceed{Drop: true}},
					{Kind: offload.SetPriority, Priority: 0}, {Kind: offload.SetDSCP, DSCP: 10}}, Where: sw},
		},
	}
}

func TestLabApplyCurrentRemove(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	ctx := context.Background()
	owner := "qosplane-handplan"
	stateDir := t.TempDir()
	d := labDriver(t, dev, owner, stateDir)
	removeAll(t, d)

	caps, err := d.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if caps.Profile != "ice" || caps.Channels != 16 || caps.LinkSpeed != 25_000_000_000 {
		t.Fatalf("probe: profile %q channels %d speed %v, want ice 16 25Gbit", caps.Profile, caps.Channels, caps.LinkSpeed)
	}
	prevKind, _ := rootQdiscKind(t, dev)

	want := handPlan(dev, owner)
	ops := converge(t, d, want)
	if len(ops) != 4+3+1 { // 4 classes, 3 rules, queues
		t.Fatalf("first apply: %d ops", len(ops))
	}

	// The device (the module's record) holds the plan.
	s, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mqprio == nil || s.Mqprio.NumTC != 4 || !slices.Equal(s.Mqprio.Count, []int{4, 4, 4, 4}) || !slices.Equal(s.Mqprio.Offset, []int{0, 4, 8, 12}) ||
		s.Mqprio.Mode != "channel" || s.Mqprio.Shaper != "bw_rlimit" ||
		!slices.Equal(s.Mqprio.MaxRate[:4], []uint64{125_000_000, 250_000_000, 62_500_000, 0}) ||
		!slices.Equal(s.Mqprio.MinRate[:4], []uint64{0, 62_500_000, 0, 0}) ||
		!slices.Equal(s.Mqprio.PrioTCMap[:4], []int{0, 1, 2, 3}) {
		t.Fatalf("module mqprio = %+v", s.Mqprio)
	}
	if !s.HwTcOffload {
		t.Fatal("hw-tc-offload was not turned on")
	}
	if len(s.Flower) != 1 || s.Flower[0].Dir != "ingress" || s.Flower[0].ClassID != 0xFFFFFFE2 || s.Flower[0].Prio != 10 {
		t.Fatalf("module flower = %+v", s.Flower)
	}

	// iproute2 sees the same.
	if k, h := rootQdiscKind(t, dev); k != "mqprio" || h != "5150:" {
		t.Fatalf("root qdisc %s %s", k, h)
	}
	for _, q := range tcJSON(t, "qdisc", "show", "dev", dev) {
		if q["kind"] == "mqprio" {
			o, _ := q["options"].(map[string]any)
			ints := func(v any) []uint64 {
				var out []uint64
				l, _ := v.([]any)
				for _, x := range l {
					f, _ := x.(float64)
					out = append(out, uint64(f))
				}
				return out
			}
			// tc prints the rates as the kernel holds them: bytes/s.
			got := strings.TrimSpace(fmt.Sprintln(o["tc"], o["map"], o["queues"], o["mode"], o["shaper"], ints(o["min_rate"]), ints(o["max_rate"])))
			want := "4 [0 1 2 3 0 0 0 0 0 0 0 0 0 0 0 0] [[0 3] [4 7] [8 11] [12 15]] channel bw_rlimit " +
				"[0 62500000 0 0] [125000000 250000000 62500000 0]"
			if got != want {
				t.Errorf("tc -j mqprio options:\n got %s\nwant %s", got, want)
			}
		}
	}
	in := tcFilters(t, dev, "ingress")
	if len(in) != 1 {
		t.Fatalf("ingress filters: %v", in)
	}
	opts := in[0]["options"].(map[string]any)
	if opts["skip_sw"] != true || opts["in_hw"] != true || in[0]["protocol"] != "all" || fmt.Sprint(in[0]["pref"]) != "10" {
		t.Fatalf("ingress filter %v", in[0])
	}
	if !strings.Contains(tcRun(t, "filter", "show", "dev", dev, "ingress"), "hw_tc 2") {
		t.Fatal("tc does not show hw_tc 2")
	}
	eg := tcFilters(t, dev, "egress")
	if len(eg) != 3 { // video: IPv4 + IPv6; bulk-v6: IPv6
		t.Fatalf("egress filters: %d: %v", len(eg), eg)
	}
	for _, f := range eg {
		o := f["options"].(map[string]any)
		if o["skip_hw"] != true || o["not_in_hw"] != true {
			t.Fatalf("egress filter flags %v", o)
		}
		acts := o["actions"].([]any)
		var kinds []string
		for _, a := range acts {
			kinds = append(kinds, a.(map[string]any)["kind"].(string))
		}
		// video: the class meter first; bulk-v6: the flow policer last.
		want := "police skbedit pedit csum skbedit pedit csum"
		if fmt.Sprint(f["pref"]) == "20" {
			want = "skbedit pedit csum police"
		}
		if strings.Join(kinds, " ") != want {
			t.Fatalf("egress pref %v actions %v, want %s", f["pref"], kinds, want)
		}
	}
	text := tcRun(t, "filter", "show", "dev", dev, "egress")
	for _, frag := range []string{
		"at ipv4+0: val 00880000 mask ff03ffff", // video conforming: DSCP 34
		"at ipv4+0: val 00200000 mask ff03ffff", // video exceeding: DSCP 8
		"at ipv6+0: val 08800000 mask f03fffff", // video conforming, IPv6
		"at ipv6+0: val 02800000 mask f03fffff", // bulk-v6: DSCP 10
		"csum (iph)", "priority :1", "action pipe/jump 4", "rate 50Mbit burst 64Kb", "rate 30Mbit", "action drop/pipe", "cookie 7170"} {
		if !strings.Contains(text, frag) {
			t.Errorf("tc filter show lacks %q:\n%s", frag, text)
		}
	}

	// Idempotent: Current+Diff gives no ops, with no writes.
	assertConverged(t, d, want)

	// Counters: every rule, every class with its TC's configured rate,
	// read without writes.
	w := d.Writes()
	c, err := d.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != len(want.Rules) || len(c.Classes) != len(want.Classes) || d.Writes() != w {
		t.Fatalf("counters: %d rules, %d classes, %d writes", len(c.Rules), len(c.Classes), d.Writes()-w)
	}
	if cc := c.Classes["video"]; cc.ConfiguredRate != 2_000_000_000 || cc.Where != offload.Software {
		t.Fatalf("video class counters %+v", cc)
	}
	if rc := c.Rules["voice-in/ingress/"+dev]; rc.Where != offload.Hardware {
		t.Fatalf("hardware rule counters %+v", rc)
	}
	// The lab NIC has no ethtool -S (the veth test in e2e/kernel reads it).
	if _, err := d.DeviceStats(); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("ethtool stats: %v", err)
	}

	// Restart: a new driver adopts the state with no writes.
	d2 := labDriver(t, dev, owner, stateDir)
	assertConverged(t, d2, want)
	if d2.Writes() != 0 {
		t.Fatalf("restart made %d writes", d2.Writes())
	}

	// Someone else's filter is not touched.
	tcRun(t, "filter", "add", "dev", dev, "egress", "pref", "30000", "protocol", "ip", "flower", "skip_hw", "ip_proto", "icmp", "action", "pass")

	// Drift: delete one of our filters; the next converge repairs it.
	rs := d2.st.Rules["bulk-v6/egress/"+dev]
	ref := rs.Filters[0]
	tcRun(t, "filter", "del", "dev", dev, "egress", "pref", fmt.Sprint(ref.Pref), "handle", fmt.Sprintf("%#x", ref.Handle), "flower")
	ops = converge(t, d2, want)
	if len(ops) != 1 || ops[0].Kind != offload.Add || ops[0].ID != "bulk-v6/egress/"+dev {
		t.Fatalf("drift repair ops %+v", ops)
	}
	assertConverged(t, d2, want)

	// Remove restores the previous root and leaves the foreign filter.
	if err := d2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := rootQdiscKind(t, dev); k != prevKind {
		t.Fatalf("root after remove %q, want %q", k, prevKind)
	}
	eg = tcFilters(t, dev, "egress")
	if len(eg) != 1 || fmt.Sprint(eg[0]["pref"]) != "30000" {
		t.Fatalf("egress after remove: %v", eg)
	}
	if s, _ := qtnstate.Read(dev); s.Mqprio != nil || len(s.Flower) != 0 {
		t.Fatalf("module after remove: mqprio %+v flower %+v", s.Mqprio, s.Flower)
	}
	if _, err := os.Stat(statePath(stateDir, owner, dev)); !os.IsNotExist(err) {
		t.Fatalf("state file left: %v", err)
	}
	tcRun(t, "filter", "del", "dev", dev, "egress", "pref", "30000")
	tcRun(t, "qdisc", "del", "dev", dev, "clsact")
}

func TestLabRollbackFailNth(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	ctx := context.Background()
	owner := "qosplane-rollback"
	d := labDriver(t, dev, owner, t.TempDir())
	removeAll(t, d)
	prevKind, _ := rootQdiscKind(t, dev)

	// Three hardware ingress rules and the mqprio: the 3rd offload fails.
	want := handPlan(dev, owner)
	for i := range 2 {
		r := want.Rules[0]
		r.ID = fmt.Sprintf("steer-%d/ingress/%s", i, dev)
		r.Match.Dst = mustPrefix(fmt.Sprintf("10.0.1.%d/32", i+1))
		want.Rules = append(want.Rules, r)
	}
	if err := qtnstate.SetFailNth(3); err != nil {
		t.Fatal(err)
	}
	cur, err := d.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Apply(ctx, want, offload.Diff(cur, want))
	if err == nil {
		t.Fatal("apply succeeded with fail_nth=3")
	}
	t.Logf("apply error (expected): %v", err)
	if !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("error does not say rolled back: %v", err)
	}
	s, _ := qtnstate.Read(dev)
	if s.Mqprio != nil || len(s.Flower) != 0 {
		t.Fatalf("after rollback the module holds mqprio %+v flower %+v", s.Mqprio, s.Flower)
	}
	if k, _ := rootQdiscKind(t, dev); k != prevKind {
		t.Fatalf("root after rollback %q, want %q", k, prevKind)
	}
	if n := len(tcFilters(t, dev, "ingress")) + len(tcFilters(t, dev, "egress")); n != 0 {
		t.Fatalf("%d filters left after rollback", n)
	}
	if cur, _ := d.Current(ctx); cur.Queues != nil || len(cur.Rules) != 0 {
		t.Fatalf("Current after rollback: %+v", cur)
	}

	// Now apply A, then change to B with a failure in the middle: the
	// device must hold A again.
	_ = qtnstate.SetFailNth(0)
	converge(t, d, want)
	b := handPlan(dev, owner)
	b.Queues.TCs[0].MaxRate = 3_000_000_000
	b.Rules[0].Match.Dst = mustPrefix("10.9.9.9/32") // changed hw rule
	b.Rules[0].Actions[0].TC = 3
	cur, _ = d.Current(ctx)
	ops := offload.Diff(cur, b)
	if err := qtnstate.SetFailNth(2); err != nil { // mqprio passes, the changed rule fails
		t.Fatal(err)
	}
	if err := d.Apply(ctx, b, ops); err == nil {
		t.Fatal("apply B succeeded with fail_nth=2")
	}
	_ = qtnstate.SetFailNth(0)
	assertConverged(t, d, want)
	s, _ = qtnstate.Read(dev)
	if s.Mqprio == nil || s.Mqprio.MaxRate[0] != 125_000_000 || len(s.Flower) != 3 {
		t.Fatalf("after failed B the module holds mqprio %+v, %d rules", s.Mqprio, len(s.Flower))
	}
}

func TestLabRefusedOffload(t *testing.T) {
	const dev = "qtn0" // mlx5 NIC mode: no hw_tc
	needIface(t, dev)
	ctx := context.Background()
	owner := "qosplane-refuse"
	d := labDriver(t, dev, owner, t.TempDir())
	removeAll(t, d)
	want := &offload.TargetPlan{Kind: model.NIC, Owner: owner, Device: offload.Device{Interface: dev},
		Rules: []offload.Rule{{ID: "s/ingress/" + dev, Direction: offload.OnIngress, Device: dev, Precedence: 5,
			Match:   model.Match{Dst: mustPrefix("10.0.0.1/32")},
			Actions: []offload.Action{{Kind: offload.SteerTC, TC: 1}}, Where: offload.Where{Placement: offload.Hardware}}}}
	err := d.Apply(ctx, want, offload.Diff(nil, want))
	if !errors.Is(err, ErrOffloadRefused) {
		t.Fatalf("want ErrOffloadRefused, got %v", err)
	}
	if !strings.Contains(err.Error(), "hw_tc (classid) is not supported") {
		t.Fatalf("error lacks the device's extack message: %v", err)
	}
	if n := len(tcFilters(t, dev, "ingress")); n != 0 {
		t.Fatalf("%d filters left", n)
	}
	// Bad input changes nothing either: a rule on a missing device.
	bad := *want
	bad.Rules = []offload.Rule{want.Rules[0]}
	bad.Rules[0].Device = "nosuchdev0"
	before := d.Writes()
	if err := d.Apply(ctx, &bad, offload.Diff(nil, &bad)); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("bad input: %v", err)
	}
	if d.Writes() != before {
		t.Fatalf("bad input made %d writes", d.Writes()-before)
	}
}

// TestLabRepresentorHardware installs rules on a switchdev representor in
// hardware: a class meter shared by two rules that borrows (exceed: demote
// and remark DSCP/PCP; conform: jump over that), skbedit priority, pedit
// DSCP + csum and vlan modify PCP, and checks what the device received.
func TestLabRepresentorHardware(t *testing.T) {
	const up, rep = "qtn2", "qtn2r0"
	needIface(t, up)
	needIface(t, rep)
	owner := "qosplane-rep"
	d := labDriver(t, up, owner, t.TempDir(), rep)
	removeAll(t, d)
	caps, err := d.Probe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if caps.Profile != "mlx5-switchdev" {
		t.Fatalf("profile %q", caps.Profile)
	}
	hw := offload.Where{Placement: offload.Hardware}
	meter := offload.Action{Kind: offload.Police, Rate: 100_000_000, Burst: 64 << 10, Shared: "class/video",
		Exceed: &offload.Exceed{DSCP: 8, PCP: 1, DemotePriority: 0}}
	acts := []offload.Action{meter, {Kind: offload.SetPriority, Priority: 3}, {Kind: offload.SetDSCP, DSCP: 46}, {Kind: offload.SetPCP, PCP: 5}}
	want := &offload.TargetPlan{Kind: model.NIC, Owner: owner, Device: offload.Device{Interface: up, Representors: []string{rep}},
		Rules: []offload.Rule{
			{ID: "a/representor/" + rep, Class: "video", Direction: offload.OnRepresentor, Device: rep, Precedence: 7,
				Match: model.Match{VLAN: 100, Dst: mustPrefix("10.1.0.0/16"), Protocol: model.UDP}, Actions: acts, Where: hw},
			{ID: "b/representor/" + rep, Class: "video", Direction: offload.OnRepresentor, Device: rep, Precedence: 7,
				Match: model.Match{VLAN: 100, Dst: mustPrefix("10.2.0.0/16"), Protocol: model.UDP}, Actions: acts, Where: hw},
		}}
	converge(t, d, want)
	assertConverged(t, d, want)
	s, err := qtnstate.Read(rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Flower) != 2 {
		t.Fatalf("module holds %d rules", len(s.Flower))
	}
	var idx []float64
	for _, r := range s.Flower {
		var ids []string
		for _, a := range r.Actions {
			ids = append(ids, a.ID())
		}
		wantIDs := "police priority pedit csum vlan_mangle priority pedit csum vlan_mangle"
		if strings.Join(ids, " ") != wantIDs {
			t.Fatalf("actions %v, want %s", ids, wantIDs)
		}
		p := r.Actions[0]
		rate, _ := p.Num("rate_bytes_ps")
		i, _ := p.Num("index")
		idx = append(idx, i)
		if p["exceed"] != "pipe" || p["notexceed"] != "jump" || rate != 12_500_000 {
			t.Fatalf("police %v", p)
		}
		if pr, _ := r.Actions[1].Num("priority"); pr != 0 {
			t.Fatalf("exceed priority %v", r.Actions[1])
		}
		if v, _ := r.Actions[2].Num("val"); uint32(v) != native.Uint32([]byte{0, 8 << 2, 0, 0}) {
			t.Fatalf("exceed pedit %v", r.Actions[2])
		}
		if v, _ := r.Actions[6].Num("val"); uint32(v) != native.Uint32([]byte{0, 46 << 2, 0, 0}) {
			t.Fatalf("conform pedit %v", r.Actions[6])
		}
		if m, _ := r.Actions[6].Num("mask"); uint32(m) != native.Uint32([]byte{0xff, 0x03, 0xff, 0xff}) {
			t.Fatalf("conform pedit mask %v", r.Actions[6])
		}
		vid, _ := r.Actions[8].Num("vid")
		pcp, _ := r.Actions[8].Num("prio")
		epcp, _ := r.Actions[4].Num("prio")
		if vid != 100 || pcp != 5 || epcp != 1 {
			t.Fatalf("vlan mangle conform %v exceed %v", r.Actions[8], r.Actions[4])
		}
	}
	if idx[0] != idx[1] {
		t.Fatalf("the class meter is not shared: hw indexes %v", idx)
	}
	if err := d.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s, _ := qtnstate.Read(rep); len(s.Flower) != 0 {
		t.Fatalf("after remove: %d rules", len(s.Flower))
	}
}

// TestLabDCB sets IEEE DCB over dcbnl on the mlx5-like NIC, changes it
// with an injected failure (rolled back to the first), and removes it
// (back to the device's own settings).
func TestLabDCB(t *testing.T) {
	const dev = "qtn0"
	needIface(t, dev)
	ctx := t.Context()
	owner := "qosplane-dcb"
	d := labDriver(t, dev, owner, t.TempDir())
	removeAll(t, d)
	before, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	a := &offload.TargetPlan{Kind: model.NIC, Owner: owner, Device: offload.Device{Interface: dev},
		DCB: &offload.DCB{PrioTC: [8]uint8{0, 0, 0, 1, 2, 0, 0, 0}, Strict: []int{2}, Bandwidth: [8]uint8{70, 30},
			MaxRate: [8]uint64{1: 10_000_000_000}, PFC: []uint8{3},
			App: []offload.DSCPPrio{{DSCP: 26, Priority: 3}, {DSCP: 46, Priority: 4}}}}
	converge(t, d, a)
	assertConverged(t, d, a)
	check := func(want *offload.DCB) { t.Helper(); checkModuleDCB(t, dev, want) }
	check(a.DCB)
	// Change with the 1st offload failing: all of A again.
	b := *a
	b.DCB = &offload.DCB{PrioTC: [8]uint8{1, 1}, Bandwidth: [8]uint8{50, 50}, PFC: []uint8{4}, App: []offload.DSCPPrio{{DSCP: 10, Priority: 1}}}
	cur, _ := d.Current(ctx)
	ops := offload.Diff(cur, &b)
	if err := qtnstate.SetFailNth(2); err != nil { // the app delete passes, the set fails
		t.Fatal(err)
	}
	if err := d.Apply(ctx, &b, ops); err == nil {
		t.Fatal("DCB change succeeded with fail_nth")
	} else {
		t.Logf("expected: %v", err)
	}
	_ = qtnstate.SetFailNth(0)
	check(a.DCB)
	converge(t, d, &b)
	check(b.DCB)
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	// The device's settings from before are back (an unset ETS/PFC reads
	// as zeros).
	after, _ := qtnstate.Read(dev)
	if dcbString(after.DCB) != dcbString(before.DCB) {
		t.Fatalf("DCB after remove %s, before %s", dcbString(after.DCB), dcbString(before.DCB))
	}
}

// dcbString renders the module's DCB values, nil parts as zeros.
func dcbString(d *qtnstate.DCB) string {
	if d == nil {
		return "none"
	}
	ets, pfc := "ets 0", "pfc 0"
	if e := d.ETS; e != nil && (slices.ContainsFunc(e.TcTxBW, func(v int) bool { return v != 0 }) ||
		slices.ContainsFunc(e.PrioTC, func(v int) bool { return v != 0 }) || slices.ContainsFunc(e.TcTSA, func(v int) bool { return v != 0 })) {
		ets = fmt.Sprint("ets ", e.PrioTC, e.TcTSA, e.TcTxBW)
	}
	if p := d.PFC; p != nil && p.PFCEn != 0 {
		pfc = fmt.Sprint("pfc ", p.PFCEn)
	}
	var mr uint64
	for _, v := range d.MaxRateKbps {
		mr += v
	}
	return fmt.Sprint(ets, " ", pfc, " maxrate-sum ", mr, " apps ", len(d.App))
}

// TestLabTwoOwners: two policies on one NIC. Each sees and removes only its
// own filters; the second cannot take over the first one's mqprio.
func TestLabTwoOwners(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	ctx := t.Context()
	x := labDriver(t, dev, "qosplane-x", t.TempDir())
	removeAll(t, x)
	y := labDriver(t, dev, "qosplane-y", t.TempDir())
	removeAll(t, y)
	px := handPlan(dev, "qosplane-x")
	converge(t, x, px)

	py := handPlan(dev, "qosplane-y")
	py.Rules = py.Rules[1:2] // one egress rule, same match as x's: different pref
	py.Rules[0].Precedence = 11
	py.Rules[0].Actions = py.Rules[0].Actions[1:] // no shared meter
	w := y.Writes()
	if err := y.Apply(ctx, py, offload.Diff(nil, py)); err == nil || !strings.Contains(err.Error(), "not recorded for owner") {
		t.Fatalf("y took over x's mqprio: %v", err)
	}
	if y.Writes() != w {
		t.Fatalf("refused apply wrote %d times", y.Writes()-w)
	}
	py.Queues = nil
	py.Classes = nil
	converge(t, y, py)
	assertConverged(t, x, px)
	assertConverged(t, y, py)
	if err := y.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	assertConverged(t, x, px)
	if k, h := rootQdiscKind(t, dev); k != "mqprio" || h != "5150:" {
		t.Fatalf("y's remove touched x's root: %s %s", k, h)
	}
}

// TestLabRestoresForeignRoot: the root qdisc qosplane replaces (an HTB
// someone configured) comes back on Remove with its options.
func TestLabRestoresForeignRoot(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	tcRun(t, "qdisc", "replace", "dev", dev, "root", "handle", "7:", "htb", "default", "12", "r2q", "17")
	t.Cleanup(func() { exec.Command(tcPath(), "qdisc", "del", "dev", dev, "root").Run() })
	d := labDriver(t, dev, "qosplane-root", t.TempDir())
	removeAll(t, d)
	want := handPlan(dev, "qosplane-root")
	converge(t, d, want)
	if k, h := rootQdiscKind(t, dev); k != "mqprio" || h != "5150:" {
		t.Fatalf("root %s %s", k, h)
	}
	if err := d.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	text := tcRun(t, "qdisc", "show", "dev", dev, "root")
	if !strings.Contains(text, "qdisc htb 7: root") || !strings.Contains(text, "r2q 17") || !strings.Contains(text, "default 0x12") {
		t.Fatalf("root after remove:\n%s", text)
	}
}

// TestLabTrafficLandsInTC sends packets out of the lab NIC: the software
// egress rule sets the skb priority, the offloaded mqprio maps it to the
// class's TC, and the packets leave on that TC's queues (the module counts
// per queue); the class counters (mqprio's per-TC classes) see them.
func TestLabTrafficLandsInTC(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	ip := "/usr/sbin/ip"
	if _, err := os.Stat(ip); err != nil {
		ip = "/sbin/ip"
	}
	runIP := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	runIP("link", "set", dev, "up")
	runIP("addr", "add", "10.99.0.1/24", "dev", dev)
	runIP("neigh", "replace", "10.99.0.2", "lladdr", "02:00:00:00:99:02", "dev", dev)
	t.Cleanup(func() {
		exec.Command(ip, "neigh", "del", "10.99.0.2", "dev", dev).Run()
		exec.Command(ip, "addr", "del", "10.99.0.1/24", "dev", dev).Run()
		exec.Command(ip, "link", "set", dev, "down").Run()
	})
	owner := "qosplane-traffic"
	d := labDriver(t, dev, owner, t.TempDir())
	removeAll(t, d)
	want := handPlan(dev, owner)
	converge(t, d, want)
	before, _ := qtnstate.Read(dev)
	c, err := net.ListenPacket("udp4", "10.99.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 5006} // video: priority 1 -> TC 1 -> queues 4-7
	for range 30 {
		if _, err := c.WriteTo(make([]byte, 200), dst); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := qtnstate.Read(dev)
	var inTC1, elsewhere uint64
	for q := range after.TxqPackets {
		n := after.TxqPackets[q] - before.TxqPackets[q]
		if q >= 4 && q < 8 {
			inTC1 += n
		} else {
			elsewhere += n
		}
	}
	t.Logf("TC 1 queues sent %d packets, other queues %d", inTC1, elsewhere)
	if inTC1 < 30 {
		t.Fatalf("only %d of 30 packets left on TC 1's queues (%d elsewhere)", inTC1, elsewhere)
	}
	cs, err := d.Counters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v := cs.Classes["video"]; v.Packets < 30 {
		t.Fatalf("video class counters %+v, want >= 30 packets", v)
	}
	if r := cs.Rules["video/egress/"+dev]; r.Packets < 30 {
		t.Fatalf("video rule counters %+v", r)
	}
}

// TestLabPolice64 installs a policer above 34 Gbit/s (the 32-bit bytes/s
// limit), which needs TCA_POLICE_RATE64, and reads it back with tc.
func TestLabPolice64(t *testing.T) {
	const dev = "qtn0"
	needIface(t, dev)
	owner := "qosplane-police64"
	d := labDriver(t, dev, owner, t.TempDir())
	removeAll(t, d)
	want := &offload.TargetPlan{Kind: model.NIC, Owner: owner, Device: offload.Device{Interface: dev},
		Rules: []offload.Rule{{ID: "big/egress/" + dev, Direction: offload.OnEgress, Device: dev, Precedence: 3,
			Match: model.Match{Dst: mustPrefix("10.0.0.0/8")},
			Actions: []offload.Action{{Kind: offload.Police, Rate: 50_000_000_000, Burst: 1 << 20, Exceed: &offload.Exceed{Drop: true}},
				{Kind: offload.SetPriority, Priority: 1}},
			Where: offload.Where{Placement: offload.Software}}}}
	converge(t, d, want)
	assertConverged(t, d, want)
	text := tcRun(t, "filter", "show", "dev", dev, "egress")
	if !strings.Contains(text, "rate 50Gbit burst") || !strings.Contains(text, "action drop/pipe") {
		t.Fatalf("tc does not show the 50 Gbit/s policer:\n%s", text)
	}
}
