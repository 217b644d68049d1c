package offload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
)

func parse(t testing.TB, src string) *model.Policy {
	t.Helper()
	p, err := model.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

func profile(t testing.TB, name string) *Capabilities {
	t.Helper()
	c, err := LoadProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func compileWith(t testing.TB, p *model.Policy, c *Capabilities) *Plan {
	t.Helper()
	plan, err := Compile(p, func(*model.Target) (*Capabilities, error) { return c, nil })
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return plan
}

func ruleByID(t *testing.T, tp *TargetPlan, id string) *Rule {
	t.Helper()
	for i := range tp.Rules {
		if tp.Rules[i].ID == id {
			return &tp.Rules[i]
		}
	}
	t.Fatalf("no rule %q; have %v", id, ruleIDs(tp))
	return nil
}

func ruleIDs(tp *TargetPlan) []string {
	var ids []string
	for _, r := range tp.Rules {
		ids = append(ids, r.ID)
	}
	return ids
}

func hasNote(tp *TargetPlan, sub string) bool {
	return slices.ContainsFunc(tp.Notes, func(n string) bool { return strings.Contains(n, sub) })
}

const nicPolicy = `
name: t
classes:
  - {name: nc, service: network-control, rate: 1Gbit}
  - {name: g1, service: guaranteed, rate: 33333kbit}
  - {name: g2, service: guaranteed, rate: 2Gbit, non-conforming: discard, peak: 3Gbit}
  - {name: cl, service: controlled-load, rate: 5Gbit, peak: 8Gbit}
  - {name: q, service: qualitative}
  - {name: be, service: best-effort}
flows:
  - {name: ctl, class: nc, match: {protocol: tcp, dst-port: 179}}
  - {name: g1-in, class: g1, direction: both, match: {protocol: udp, dst-port: 5000}}
  - {name: be-in, class: be, direction: ingress, match: {protocol: udp, dst-port: 6000}}
  - {name: g2-vlan, class: g2, match: {vlan: 100, dst: 10.0.0.0/8}}
targets:
  - {name: nic, kind: nic, interface: eth0, capacity: 25Gbit, representors: [vf0rep, vf1rep]}
`

func TestNICOneTCPerClass(t *testing.T) {
	tp := compileWith(t, parse(t, nicPolicy), profile(t, "mlx5-nic")).Targets[0]
	q := tp.Queues
	if q == nil || q.NumTC != 6 {
		t.Fatalf("want 6 TCs, got %+v", q)
	}
	// Lowest priority first: be(0), q(1), cl(4), g1 and g2 (5, by name), nc(7).
	want := []string{"be", "q", "cl", "g1", "g2", "nc"}
	var sum uint16
	for i, tc := range q.TCs {
		if len(tc.Classes) != 1 || tc.Classes[0] != want[i] {
			t.Errorf("tc %d holds %v, want %s", i, tc.Classes, want[i])
		}
		if tc.Offset != sum || tc.Count == 0 {
			t.Errorf("tc %d: queues %d@%d not contiguous (expected offset %d)", i, tc.Count, tc.Offset, sum)
		}
		sum += tc.Count
		if tc.MinRate != 0 {
			t.Errorf("tc %d: mlx5 takes no min rate, got %v", i, tc.MinRate)
		}
	}
	if sum != 16 {
		t.Errorf("queues sum to %d, want all 16 channels", sum)
	}
	if q.TCs[3].MaxRate != 33*1e6 || !hasNote(tp, "max rate 33.333Mbit rounded to 33Mbit") {
		t.Errorf("g1 max %v; notes %q", q.TCs[3].MaxRate, tp.Notes)
	}
	if q.TCs[4].MaxRate != 3e9 || q.TCs[2].MaxRate != 8e9 || q.TCs[0].MaxRate != 0 || q.TCs[5].MaxRate != 1e9 {
		t.Errorf("max rates: %v %v %v %v", q.TCs[4].MaxRate, q.TCs[2].MaxRate, q.TCs[0].MaxRate, q.TCs[5].MaxRate)
	}
	for i := range q.PrioTC {
		if want := uint8(0); i < 6 && q.PrioTC[i] != uint8(i) || i >= 6 && q.PrioTC[i] != want {
			t.Errorf("prio %d -> tc %d", i, q.PrioTC[i])
		}
	}
	// Egress classification is software on mlx5 (ingress-only flower).
	r := ruleByID(t, tp, "g1-in/egress/eth0")
	if r.Where.Placement != Software || !strings.Contains(r.Where.Reason, "offloads no egress") {
		t.Errorf("egress rule placed %v", r.Where)
	}
	// mlx5 NIC mode cannot steer to a TC.
	if r := ruleByID(t, tp, "g1-in/ingress/eth0"); r.Where.Placement != Unsupported {
		t.Errorf("mlx5 ingress steering placed %v", r.Where)
	}
	// Not in switchdev: no representor rules, and a note says why.
	if !hasNote(tp, "not switchdev") || slices.ContainsFunc(tp.Rules, func(r Rule) bool { return r.Direction == OnRepresentor }) {
		t.Errorf("representor rules on a NIC-mode profile: %v", ruleIDs(tp))
	}
	// Discard class: shared meter that drops; PCP only for the VLAN flow.
	r = ruleByID(t, tp, "g2-vlan/egress/eth0")
	if r.Actions[0].Kind != Police || r.Actions[0].Shared != "class/g2" || !r.Actions[0].Exceed.Drop || r.Actions[0].Rate != 2e9 || r.Actions[0].Peak != 3e9 {
		t.Errorf("g2 meter: %+v", r.Actions[0])
	}
	if !slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Kind == SetPCP && a.PCP == 5 }) {
		t.Errorf("g2-vlan lacks pcp 5: %+v", r.Actions)
	}
	if r := ruleByID(t, tp, "ctl/egress/eth0"); slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Kind == SetPCP }) || !hasNote(tp, "2 flows match no VLAN") {
		t.Errorf("untagged flow gets a PCP rewrite tc cannot do: %+v; notes %q", r.Actions, tp.Notes)
	}
	// The borrow class's meter runs in software on mlx5; a shaped class
	// is enforced by its TC's hardware shaper.
	for _, c := range tp.Classes {
		if c.Name == "cl" && c.Where.Placement != Software {
			t.Errorf("borrow class on mlx5 placed %v, want software meter", c.Where)
		}
		if c.Name == "g1" && c.Where.Placement != Hardware {
			t.Errorf("shaped class placed %v, want hardware TC shaper", c.Where)
		}
	}
}

func TestNICMergesClassesWhenTCsRunOut(t *testing.T) {
	c := profile(t, "mlx5-nic")
	c.TrafficClasses = 3
	tp := compileWith(t, parse(t, nicPolicy), c).Targets[0]
	var got []string
	for _, tc := range tp.Queues.TCs {
		got = append(got, strings.Join(tc.Classes, "+"))
	}
	// Levels 0,1,4,5,7 into 3 TCs: lowest levels merge first.
	if want := "be+q+cl g1+g2 nc"; strings.Join(got, " ") != want {
		t.Errorf("TCs %q, want %q", strings.Join(got, " "), want)
	}
	if !hasNote(tp, "classes be, q, cl share TC 0") || !hasNote(tp, "classes g1, g2 share TC 1") {
		t.Errorf("merge not noted: %q", tp.Notes)
	}
	if tp.Queues.TCs[1].MaxRate != 33e6+3e9 {
		t.Errorf("merged TC max %v, want sum of ceilings", tp.Queues.TCs[1].MaxRate)
	}
}

func TestICE(t *testing.T) {
	tp := compileWith(t, parse(t, nicPolicy), profile(t, "ice")).Targets[0]
	// 500 kbit/s granularity with min rates.
	g1 := tp.Queues.TCs[3]
	if g1.MaxRate != 33_500_000 || g1.MinRate != 33_500_000 {
		t.Errorf("g1 on ice: min %v max %v, want 33.5Mbit both", g1.MinRate, g1.MaxRate)
	}
	if r := ruleByID(t, tp, "g1-in/ingress/eth0"); r.Where.Placement != Hardware || r.Actions[0].TC != 3 {
		t.Errorf("ice steering: %+v", r)
	}
	// TC 0 cannot be a hw_tc target on ice.
	if r := ruleByID(t, tp, "be-in/ingress/eth0"); r.Where.Placement != Unsupported || !strings.Contains(r.Where.Reason, "hw_tc must be >= 1") {
		t.Errorf("ice hw_tc 0: %v", r.Where)
	}
}

func TestSwitchdevRepresentors(t *testing.T) {
	tp := compileWith(t, parse(t, nicPolicy), profile(t, "mlx5-switchdev")).Targets[0]
	r := ruleByID(t, tp, "g1-in/representor/vf1rep")
	if r.Where.Placement != Hardware {
		t.Errorf("representor rule with skbedit and pedit placed %v", r.Where)
	}
	// g2's meter has a peak rate, which mlx5 meters cannot offload.
	r = ruleByID(t, tp, "g2-vlan/representor/vf1rep")
	if r.Where.Placement != Software || !strings.Contains(r.Where.Reason, "cannot offload action police-peak") {
		t.Errorf("representor rule with a peak policer placed %v", r.Where)
	}
	r = ruleByID(t, tp, "ctl/representor/vf0rep")
	if slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Kind == SetPCP }) {
		t.Errorf("untagged flow gets a PCP rewrite on a representor: %+v", r.Actions)
	}
}

func TestPacerFallback(t *testing.T) {
	tp := compileWith(t, parse(t, nicPolicy), profile(t, "none")).Targets[0]
	if tp.Pacer == nil || tp.Queues != nil || tp.Pacer.PortRate != 25e9 || tp.Pacer.Interface != "eth0" {
		t.Fatalf("pacer plan: %+v", tp.Pacer)
	}
	for _, c := range tp.Classes {
		if c.Where.Placement != Pacer {
			t.Errorf("class %s placed %v", c.Name, c.Where)
		}
	}
	if r := ruleByID(t, tp, "be-in/ingress/eth0"); r.Where.Placement != Unsupported {
		t.Errorf("ingress flow on the pacer: %v", r.Where)
	}
	if r := ruleByID(t, tp, "ctl/egress/eth0"); r.Where.Placement != Pacer || r.Actions[0].Kind != SetClass {
		t.Errorf("egress flow on the pacer: %+v", r)
	}
}

func TestSwitchProfiles(t *testing.T) {
	src := `
name: sw
classes:
  - {name: v, service: guaranteed, rate: 1Gbit, peak: 2Gbit, non-conforming: discard}
  - {name: w1, service: qualitative, weight: 300}
  - {name: w2, service: qualitative, weight: 50}
flows:
  - {name: ef, class: v, match: {dscp: 46}}
  - {name: web, class: w1, match: {protocol: tcp, dst-port: 443, dst: 10.0.0.0/8}}
  - {name: tenant, class: w2, match: {vlan: 7}}
  - {name: rem, class: w2, remark: {dscp: 12, pcp: 3}, match: {protocol: udp, dst-port: 1000-2000}}
targets:
  - {name: leaf, kind: switch, address: "127.0.0.1:9339", interfaces: [Ethernet1], tls: {insecure: true}}
`
	p := parse(t, src)
	oc := compileWith(t, p, profile(t, "openconfig-switch")).Targets[0]
	if got := ruleIDs(oc); !slices.Contains(got, "ef/classifier/qosplane-sw--ipv4") || !slices.Contains(got, "ef/classifier/qosplane-sw--ipv6") ||
		!slices.Contains(got, "web/classifier/qosplane-sw--ipv4") || slices.Contains(got, "web/classifier/qosplane-sw--ipv6") {
		t.Errorf("classifier rules per family: %v", got)
	}
	if r := ruleByID(t, oc, "tenant/classifier/qosplane-sw--ipv4"); r.Where.Placement != Unsupported || !strings.Contains(r.Where.Reason, "no VLAN condition") {
		t.Errorf("VLAN match on a switch: %v", r.Where)
	}
	for _, c := range oc.Classes {
		if c.Name == "v" && (c.Scheduler != "two-rate-three-color" || c.QueueID != 2 || c.Queue != "qosplane-sw--v") {
			t.Errorf("class v: %+v", c)
		}
	}
	arista := compileWith(t, p, profile(t, "arista")).Targets[0]
	if r := ruleByID(t, arista, "web/classifier/qosplane-sw--ipv4"); r.Where.Placement != Unsupported || !strings.Contains(r.Where.Reason, "arista cannot classify on dst") {
		t.Errorf("arista 5-tuple: %v", r.Where)
	}
	if r := ruleByID(t, arista, "ef/classifier/qosplane-sw--ipv4"); r.Where.Placement != Hardware || len(r.Actions) != 1 {
		t.Errorf("arista dscp term: %+v", r)
	}
	if !hasNote(arista, "flow rem: arista cannot remark DSCP") {
		t.Errorf("arista remark not noted: %q", arista.Notes)
	}
	srl := compileWith(t, p, profile(t, "srlinux")).Targets[0]
	for _, c := range srl.Classes {
		if c.Name == "v" && c.Where.Placement != Unsupported {
			t.Errorf("srlinux policer: %v", c.Where)
		}
	}
	if r := ruleByID(t, srl, "ef/classifier/qosplane-sw--ipv4"); r.Where.Placement != Unsupported {
		t.Errorf("flow of a class whose rate cannot be enforced: %v", r.Where)
	}
	jun := compileWith(t, p, profile(t, "juniper")).Targets[0]
	for _, c := range jun.Classes {
		if c.Name == "w1" && c.Weight != 100 {
			t.Errorf("juniper weight %d, want capped to 100", c.Weight)
		}
	}
	if _, err := Compile(p, func(*model.Target) (*Capabilities, error) { return profile(t, "mlx5-nic"), nil }); err == nil {
		t.Error("a switch target compiled with a NIC profile")
	}
}

func TestTCRatesClampToProbedLink(t *testing.T) {
	c := profile(t, "ice")
	c.LinkSpeed = 1e9 // the policy says 25 Gbit/s; the link is 1 Gbit/s
	p := parse(t, strings.Replace(nicPolicy, "capacity: 25Gbit", "capacity: 25Gbit", 1))
	p.Classes[3].Rate, p.Classes[3].Peak = 500e6, 8e9 // cl: borrow up to 8 Gbit/s
	p.Classes[2].Rate, p.Classes[2].Peak = 200e6, 3e9
	p.Classes[1].Rate = 100e6
	p.Classes[0].Rate = 100e6
	tp := compileWith(t, p, c).Targets[0]
	for _, tc := range tp.Queues.TCs {
		if tc.MaxRate > 1e9 {
			t.Errorf("tc %d max %v above the 1 Gbit/s link", tc.Index, tc.MaxRate)
		}
	}
	if !hasNote(tp, "limit 1Gbit") {
		t.Errorf("clamp not noted: %q", tp.Notes)
	}
}

func TestAdmissionAgainstProbedSpeed(t *testing.T) {
	p := parse(t, `
name: a
classes: [{name: g, service: guaranteed, rate: 30Gbit}]
targets: [{name: n, kind: nic, interface: eth0}]
`)
	c := profile(t, "ice")
	c.LinkSpeed = 25e9
	_, err := Compile(p, func(*model.Target) (*Capabilities, error) { return c, nil })
	if err == nil || !strings.Contains(err.Error(), "reserved classes g (30Gbit) need 30Gbit, more than the link capacity 25Gbit") {
		t.Errorf("want refusal, got %v", err)
	}
}

func TestOverheadCorrection(t *testing.T) {
	p := parse(t, `
name: o
classes:
  - {name: u, service: guaranteed, rate: 1Mbit, min-policed: 100B}
  - {name: x, service: guaranteed, rate: 1Mbit, min-policed: 100B}
flows:
  - {class: u, match: {protocol: udp}}
  - {class: x, match: {protocol: tcp}}
`)
	tp, err := CompileTarget(p, &model.Target{Name: "n", Kind: model.NIC, Interface: "e"}, profile(t, "none"), p.Order())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tp.Classes {
		want := map[string]model.Rate{"u": 1_280_000, "x": 1_400_000}[c.Name]
		if c.EffectiveRate != want {
			t.Errorf("class %s: effective rate %v, want %v (overhead %v)", c.Name, c.EffectiveRate, want, c.Overhead)
		}
	}
}

// TestExamplesEveryProfile compiles every example for every profile that
// fits its targets, twice, and checks the result is deterministic and
// complete.
func TestExamplesEveryProfile(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range files {
		p, err := model.LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range Profiles() {
			c := profile(t, name)
			fits := func(tk model.TargetKind) bool { return (tk == model.Switch) == (c.Kind == "switch") }
			if !slices.ContainsFunc(p.Targets, func(tg model.Target) bool { return fits(tg.Kind) }) {
				continue
			}
			t.Run(filepath.Base(f)+"/"+name, func(t *testing.T) {
				q := *p
				q.Targets = slices.DeleteFunc(slices.Clone(p.Targets), func(tg model.Target) bool { return !fits(tg.Kind) })
				a, b := compileWith(t, &q, c), compileWith(t, &q, c)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					t.Fatal("two compiles differ")
				}
				for _, tp := range a.Targets {
					for _, r := range tp.Rules {
						if r.Where.Placement == "" || r.Where.Placement != Hardware && r.Where.Reason == "" {
							t.Errorf("rule %s: placement %v without reason", r.ID, r.Where)
						}
					}
					if ops := Diff(tp, tp); len(ops) != 0 {
						t.Errorf("Diff(plan, plan) = %d ops", len(ops))
					}
				}
				var buf bytes.Buffer
				if err := a.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "summary:") {
					t.Errorf("text output: %v", err)
				}
			})
		}
	}
}

func TestProfilesLoad(t *testing.T) {
	want := []string{"arista", "bnxt", "cxgb4", "i40e", "ice", "ixgbe", "juniper", "mlx5-htb", "mlx5-nic", "mlx5-switchdev", "none", "openconfig-switch", "srlinux"}
	if got := Profiles(); !slices.Equal(got, want) {
		t.Fatalf("profiles %v, want %v", got, want)
	}
	for _, n := range want {
		if c := profile(t, n); c.Profile != n {
			t.Errorf("profile %s names itself %s", n, c.Profile)
		}
	}
	_, err := ParseProfile("bad.yaml", []byte("profile: x\nkind: nic\ntraffic-classes: 4\nchannels: 2\noffload: {egress: {actions: [teleport]}}\nbogus: 1\n"))
	if err == nil {
		t.Fatal("bad profile accepted")
	}
	for _, want := range []string{"bad.yaml:6:1: bogus: unknown field", "bad.yaml:4:11: channels: 2 channels cannot serve 4 traffic classes", `offload.egress.actions[0]: unknown action "teleport"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("profile error lacks %q:\n%v", want, err)
		}
	}
	if _, err := LoadProfile("nope"); err == nil || !strings.Contains(err.Error(), "built in: arista") {
		t.Errorf("unknown profile: %v", err)
	}
}

// manyFlows builds a policy of n 5-tuple-ish flows into 8 classes.
func manyFlows(n int, shift int) string {
	var b strings.Builder
	b.WriteString("name: big\nclasses:\n")
	for i := range 8 {
		fmt.Fprintf(&b, "  - {name: c%d, service: controlled-load, rate: %dMbit, priority: %d}\n", i, 100+i, i%4)
	}
	b.WriteString("flows:\n")
	for i := range n {
		j := i + shift
		fmt.Fprintf(&b, "  - {name: f%d, class: c%d, match: {protocol: udp, dst: 10.%d.%d.0/24, dst-port: %d}}\n",
			j, j%8, (j/256)%256, j%256, 1000+j%5000)
	}
	b.WriteString("targets:\n  - {name: nic, kind: nic, interface: eth0, capacity: 100Gbit}\n")
	return b.String()
}

func BenchmarkCompile10kFlows(b *testing.B) {
	p := parse(b, manyFlows(10000, 0))
	c := profile(b, "mlx5-switchdev")
	caps := func(*model.Target) (*Capabilities, error) { return c, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(p, caps); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDiff10kFlows(b *testing.B) {
	c := profile(b, "mlx5-nic")
	a := compileWith(b, parse(b, manyFlows(10000, 0)), c).Targets[0]
	w := compileWith(b, parse(b, manyFlows(10000, 500)), c).Targets[0] // 500 out, 500 in
	b.ReportAllocs()
	var ops []Op
	for b.Loop() {
		ops = Diff(a, w)
	}
	b.ReportMetric(float64(len(ops)), "ops")
}

func BenchmarkParse10kFlows(b *testing.B) {
	src := []byte(manyFlows(10000, 0))
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := model.Parse("big.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}
