package offload

import (
	"bytes"
	"strings"
	"testing"
)

const ntuplePolicy = `
name: t
classes:
  - {name: g1, service: guaranteed, rate: 1Gbit}
  - {name: be, service: best-effort}
flows:
  - {name: a, class: g1, direction: ingress, match: {protocol: udp, dst-port: 5000}}
  - {name: b, class: be, direction: both, match: {protocol: tcp, dst-port: 80}}
  - {name: c, class: g1, direction: ingress, match: {dst: 10.0.0.0/8}}
  - {name: d, class: g1, direction: ingress, match: {protocol: tcp, dst-port: 1000-2000}}
  - {name: e, class: g1, direction: ingress, match: {protocol: tcp, dst: 2001:db8::/32, dst-port: 443}}
targets:
  - {name: nic, kind: nic, interface: eth0, capacity: 10Gbit}
`

func TestNtuplePlacement(t *testing.T) {
	tp := compileWith(t, parse(t, ntuplePolicy), profile(t, "ixgbe")).Targets[0]
	if !hasNote(tp, "ixgbe has no flower hw_tc on ingress: received flows are steered with ethtool ntuple") {
		t.Errorf("no note saying why ntuple is used: %q", tp.Notes)
	}
	g1 := tp.Classes[classIdx(tp, "g1")]
	for _, id := range []string{"a/ingress/eth0", "b/ingress/eth0"} {
		r := ruleByID(t, tp, id)
		if r.Where.Placement != Hardware || len(r.Actions) != 1 || r.Actions[0].Kind != SteerQueue {
			t.Fatalf("%s: %+v", id, r)
		}
	}
	if a := ruleByID(t, tp, "a/ingress/eth0").Actions[0]; a.TC != g1.TC || a.Queue != tp.Queues.TCs[g1.TC].Offset {
		t.Errorf("rule a steers to TC %d queue %d; class g1 is TC %d at queue %d", a.TC, a.Queue, g1.TC, tp.Queues.TCs[g1.TC].Offset)
	}
	for id, why := range map[string]string{
		"c/ingress/eth0": "one mask per port",
		"d/ingress/eth0": "port-range",
		"e/ingress/eth0": "IPv4",
	} {
		r := ruleByID(t, tp, id)
		if r.Where.Placement != Unsupported || !strings.Contains(r.Where.Reason, why) {
			t.Errorf("%s: %+v, want unsupported (%s)", id, r.Where, why)
		}
	}
	var buf bytes.Buffer
	if err := (&Plan{Policy: "t", Targets: []*TargetPlan{tp}}).WriteText(&buf); err != nil || !strings.Contains(buf.String(), "ntuple queue 16 (tc 1)") {
		t.Errorf("plan text shows no ntuple action: %v\n%s", err, buf.String())
	}
	// The same flows on a profile with flower hw_tc stay flower rules.
	tp = compileWith(t, parse(t, ntuplePolicy), profile(t, "ice")).Targets[0]
	if a := ruleByID(t, tp, "a/ingress/eth0").Actions[0]; a.Kind != SteerTC {
		t.Errorf("ice: %+v, want steer-tc", a)
	}
}

func TestNtupleFingerprintHasQueue(t *testing.T) {
	r := Rule{ID: "x", Actions: []Action{{Kind: SteerQueue, TC: 1, Queue: 4}}}
	o := r
	o.Actions = []Action{{Kind: SteerQueue, TC: 1, Queue: 5}}
	if RuleFingerprint(&r) == RuleFingerprint(&o) {
		t.Fatal("queue not in the fingerprint")
	}
}

func classIdx(tp *TargetPlan, name string) int {
	for i, c := range tp.Classes {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// TestIxgbeQueueLayout: the ixgbe profile's plan lays the queues out as
// ixgbe_set_dcb_queues does (16 per TC up to 4 TCs, 8 above), so the
// device reads back what the plan says and ntuple rules name the queues
// the driver gave the TC.
func TestIxgbeQueueLayout(t *testing.T) {
	tp := compileWith(t, parse(t, ntuplePolicy), profile(t, "ixgbe")).Targets[0]
	if q := tp.Queues.TCs; len(q) != 2 || q[0].Count != 16 || q[1].Count != 16 || q[1].Offset != 16 {
		t.Fatalf("2 TCs: layout %+v, want 16 queues each, TC 1 from 16", q)
	}
	many := `
name: t
classes:
  - {name: c1, service: network-control}
  - {name: c2, service: guaranteed, rate: 1Gbit}
  - {name: c3, service: controlled-load, rate: 1Gbit}
  - {name: c4, service: qualitative, priority: 3}
  - {name: c5, service: qualitative, priority: 2}
  - {name: be, service: best-effort}
flows:
  - {name: a, class: c5, direction: ingress, match: {protocol: udp, dst-port: 5000}}
targets:
  - {name: nic, kind: nic, interface: eth0, capacity: 10Gbit}
`
	tp = compileWith(t, parse(t, many), profile(t, "ixgbe")).Targets[0]
	q := tp.Queues.TCs
	if len(q) <= 4 {
		t.Fatalf("%d TCs, want more than 4", len(q))
	}
	for i, tc := range q {
		if tc.Count != 8 || int(tc.Offset) != 8*i {
			t.Fatalf("%d TCs: TC %d has %d queues from %d, want 8 from %d", len(q), i, tc.Count, tc.Offset, 8*i)
		}
	}
	c5 := tp.Classes[classIdx(tp, "c5")]
	if a := ruleByID(t, tp, "a/ingress/eth0").Actions[0]; a.Queue != uint16(8*c5.TC) {
		t.Errorf("rule a steers to queue %d, want %d (TC %d)", a.Queue, 8*c5.TC, c5.TC)
	}
}
