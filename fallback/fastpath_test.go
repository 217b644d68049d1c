package fallback

import (
	"net/netip"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// fastPlan: "free" (no rate, DSCP 10), "limited" (10 Mbit/s), "tagger" (no
// rate but PCP 3) and a policed rule into "free".
func fastPlan(port model.Rate) *offload.TargetPlan {
	free := classPlan("free", 1, 0, model.Shape)
	free.Mark = offload.Mark{DSCP: 10}
	limited := classPlan("limited", 2, 10_000_000, model.Shape)
	tagger := classPlan("tagger", 1, 0, model.Shape)
	tagger.Mark = offload.Mark{DSCP: 20, PCP: 3}
	port5 := func(p uint16) model.Match {
		return model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: p, Hi: p}}
	}
	police := offload.Action{Kind: offload.Police, Rate: 8_000_000, Burst: 2000, Exceed: &offload.Exceed{Drop: true}}
	return plan(port, []offload.ClassPlan{free, limited, tagger},
		pacerRule("to-free", "free", 10, port5(5001)),
		pacerRule("to-limited", "limited", 20, port5(5002)),
		pacerRule("to-tagger", "tagger", 30, port5(5003)),
		pacerRule("policed", "free", 40, port5(5004), police),
		pacerRule("tcp-free", "free", 50, model.Match{Protocol: model.TCP}),
	)
}

// offered enqueues each frame, drains the pacer and returns the offers.
func offered(t *testing.T, p *Pacer, frames ...frameSpec) []FastFlow {
	t.Helper()
	for _, f := range frames {
		p.Enqueue(pkt(t, p, f), 1)
	}
	drainAll(p, 1, nil)
	return p.FastFlows(nil)
}

func TestFastFlowOffers(t *testing.T) {
	p := newPacer(t, fastPlan(0), Config{FastPath: true})
	if !p.FastPath() {
		t.Fatal("FastPath() = false with unmetered classes and no port rate")
	}
	a := udp4(4000, 5001, 200)
	a.tos = 0x2a<<2 | 1 // DSCP 42, ECT(1)
	got := offered(t, p, a, a, a)
	if len(got) != 1 {
		t.Fatalf("3 frames of one flow: %d offers, want 1: %+v", len(got), got)
	}
	want := FastFlow{Family: 4, Proto: protoUDP, DSCP: 42, SrcPort: 4000, DstPort: 5001, Rewrite: true, Mark: 10, Class: 0, Rule: 0}
	src, dst := netip.MustParseAddr("10.0.0.1").As4(), netip.MustParseAddr("10.0.0.2").As4()
	copy(want.Src[:], src[:])
	copy(want.Dst[:], dst[:])
	if got[0] != want {
		t.Errorf("offer\n got %+v\nwant %+v", got[0], want)
	}
	if again := p.FastFlows(nil); len(again) != 0 {
		t.Errorf("FastFlows returned %d offers twice", len(again))
	}

	six := frameSpec{src: "2001:db8::1", dst: "2001:db8::2", proto: protoTCP, sport: 1, dport: 2, tos: 8 << 2, vlan: -1, size: 200}
	got = offered(t, p, six)
	if len(got) != 1 {
		t.Fatalf("IPv6 TCP flow: %d offers, want 1", len(got))
	}
	s6, d6 := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	if f := got[0]; f.Family != 6 || f.Proto != protoTCP || f.DSCP != 8 || f.Src != s6 || f.Dst != d6 || f.Rule != 4 || f.Mark != 10 {
		t.Errorf("IPv6 offer %+v", f)
	}

	// No rule matches: the lowest-priority class, "free", takes it.
	if got := offered(t, p, udp4(4000, 6000, 200)); len(got) != 1 || got[0].Rule != -1 || got[0].Class != 0 || !got[0].Rewrite {
		t.Errorf("unmatched flow into free: offers %+v, want one with Rule -1, Class 0", got)
	}

	tagged := udp4(4001, 5001, 200)
	tagged.vlan = 7
	for _, f := range []struct {
		name  string
		frame frameSpec
	}{
		{"metered class", udp4(4000, 5002, 200)},
		{"class writes a PCP", udp4(4000, 5003, 200)},
		{"policed rule", udp4(4000, 5004, 200)},
		{"tagged frame", tagged},
	} {
		if got := offered(t, p, f.frame); len(got) != 0 {
			t.Errorf("%s: offered %+v", f.name, got)
		}
	}
}

func TestFastFlowNotOffered(t *testing.T) {
	for _, tc := range []struct {
		name string
		tp   *offload.TargetPlan
		cfg  Config
	}{
		{"fast path off", fastPlan(0), Config{}},
		{"port rate limited", fastPlan(1_000_000_000), Config{FastPath: true}},
	} {
		p := newPacer(t, tc.tp, tc.cfg)
		if p.FastPath() {
			t.Errorf("%s: FastPath() = true", tc.name)
		}
		if got := offered(t, p, udp4(4000, 5001, 200)); len(got) != 0 {
			t.Errorf("%s: offered %+v", tc.name, got)
		}
	}
}

// TestFastFlowUnmatched: with PassUnmatched a flow no rule matches is
// offered without a DSCP rewrite.
func TestFastFlowUnmatched(t *testing.T) {
	p := newPacer(t, fastPlan(0), Config{FastPath: true, PassUnmatched: true})
	got := offered(t, p, udp4(4000, 6000, 200))
	if len(got) != 1 || got[0].Rewrite || got[0].Rule != -1 || got[0].Class != 3 {
		t.Fatalf("unmatched flow: offers %+v, want one with Rewrite false, Rule -1, Class 3", got)
	}
}

// TestFastFlowPendingBound: offers past maxFastPending are refused and
// counted, not queued without bound.
func TestFastFlowPendingBound(t *testing.T) {
	p := newPacer(t, fastPlan(0), Config{FastPath: true, Packets: 4096})
	for i := range maxFastPending + 10 {
		p.Enqueue(pkt(t, p, udp4(uint16(1000+i), 5001, 100)), 1)
		drainAll(p, 1, nil)
	}
	if got := len(p.FastFlows(nil)); got != maxFastPending {
		t.Errorf("%d offers, want %d", got, maxFastPending)
	}
	p.publishAll()
	if got := p.Stats().FastRefused; got != 10 {
		t.Errorf("FastRefused = %d, want 10", got)
	}
}

// TestAddFast: the fast path's counts show in the class's and the rule's
// Packets and Bytes.
func TestAddFast(t *testing.T) {
	p := newPacer(t, fastPlan(0), Config{FastPath: true})
	offered(t, p, udp4(4000, 5001, 200))
	p.AddFast(0, 0, 10, 15000)
	p.AddFast(0, -1, 1, 100)
	p.AddFast(99, 0, 1, 1) // out of range: ignored
	c := p.Counters()
	if got := c.Classes["free"]; got.Packets != 12 || got.Bytes != 15300 {
		t.Errorf("class free: %d packets %d bytes, want 12 and 15300", got.Packets, got.Bytes)
	}
	if got := c.Rules["to-free"]; got.Packets != 11 || got.Bytes != 15200 {
		t.Errorf("rule to-free: %d packets %d bytes, want 11 and 15200", got.Packets, got.Bytes)
	}
}
