package verify

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func setup(t *testing.T, p *model.Policy) (*Setup, *Traffic) {
	t.Helper()
	s, err := NewSetup(p, &p.Targets[0])
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Derive(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, tr
}

// TestDeriveHost derives host.yaml's traffic: rates scaled to the lab's
// port, each flow's packet within its match and outside the more specific
// flows', the IPv6 flow's packet IPv6.
func TestDeriveHost(t *testing.T) {
	s, tr := setup(t, loadExample(t, "host.yaml"))
	if s.Scale != 0.002 || s.Plan.Pacer.PortRate != 200e6 {
		t.Errorf("scale %v port %v, want 0.002 and 200Mbit", s.Scale, s.Plan.Pacer.PortRate)
	}
	byName := map[string]FlowTraffic{}
	for _, f := range tr.Flows {
		byName[f.Flow] = f
	}
	p := s.Policy
	for _, f := range p.Flows {
		ft := byName[f.Name]
		if f.Name == "backup-v6" && (!ft.Gen.Src.Is6() || !ft.Gen.Dst.Is6()) {
			t.Errorf("backup-v6 (IPv6) sent from %v to %v", ft.Gen.Src, ft.Gen.Dst)
		}
		if ft.NotVerified != "" {
			t.Errorf("%s: not verified: %s", f.Name, ft.NotVerified)
			continue
		}
		g := ft.Gen
		pk := packet{src: g.Src, dst: g.Dst, proto: model.UDP, sport: g.SrcPort, dport: g.DstPort, vlan: g.VLAN, dscp: g.DSCP}
		if g.Proto == 6 {
			pk.proto = model.TCP
		}
		if !matches(&f.Match, pk) {
			t.Errorf("%s: packet %+v outside its match", f.Name, pk)
		}
		for _, o := range p.Flows {
			if o.Name != f.Name && matches(&o.Match, pk) && o.Match.Specificity().Compare(f.Match.Specificity()) > 0 {
				t.Errorf("%s: packet %+v also matches the more specific %s", f.Name, pk, o.Name)
			}
		}
		if g.Rate == 0 || g.Size < 64 || g.Size > 1000 {
			t.Errorf("%s: rate %d size %d", f.Name, g.Rate, g.Size)
		}
	}
	voice := classPlan(tr, "voice")
	if voice.Plan.Rate != 100e3 || voice.Plan.Peak != 200e3 {
		t.Errorf("voice scaled to %v/%v, want 100kbit/200kbit", voice.Plan.Rate, voice.Plan.Peak)
	}
	if voice.Offered < 1.5*100e3 {
		t.Errorf("voice offered %v, want above its rate", voice.Offered)
	}
}

// TestDeriveShadowed reports a flow whose every packet an earlier, more
// specific flow takes as not verified.
func TestDeriveShadowed(t *testing.T) {
	src := `name: s
classes:
  - {name: a, service: guaranteed, rate: 10Mbit}
  - {name: b, service: best-effort, rate: 10Mbit}
flows:
  - {name: wide, class: b, match: {protocol: udp, dst-port: 5000-5001}}
  - {name: lo, class: a, match: {protocol: udp, dst-port: 5000}}
  - {name: hi, class: a, match: {protocol: udp, dst-port: 5001}}
  - {name: other, class: b, match: {protocol: udp, dst-port: 6000}}
targets:
  - {name: t, kind: nic, interface: pa, profile: none, capacity: 100Mbit, fallback: {mode: bridge, peer: pb}}
`
	p, err := model.Parse("s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, tr := setup(t, p)
	for _, f := range tr.Flows {
		shadowed := f.Flow == "wide"
		if (f.NotVerified != "") != shadowed {
			t.Errorf("%s: not verified %q, want shadowed=%v", f.Flow, f.NotVerified, shadowed)
		}
	}
	exps := Derived(&Setup{}, tr)
	found := false
	for _, e := range exps {
		if e.Kind == FlowExercised && e.Flow == "wide" && e.Reason != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("no not-verified expectation for the shadowed flow")
	}
}

// TestExpectedRate: what each mode delivers of what is offered above the
// rate and the peak. Borrowing demotes the excess and holds nothing back
// (qos-semantics: "in borrow part of the data is demoted to best effort"),
// so a borrowing class offered more than its peak delivers all of it.
func TestExpectedRate(t *testing.T) {
	const offered = 60e6
	for _, tc := range []struct {
		name       string
		rate, peak model.Rate
		mode       model.Mode
		want       float64
		lossless   bool
	}{
		{"borrow with a peak below the offer", 40e6, 50e6, model.Borrow, offered, true},
		{"borrow without a peak", 40e6, 0, model.Borrow, offered, true},
		{"shape", 40e6, 0, model.Shape, 40e6, false},
		{"discard with a peak", 40e6, 50e6, model.Discard, 40e6, false},
		{"peak only, shaped", 0, 50e6, model.Shape, 50e6, false},
		{"peak only, borrowing", 0, 50e6, model.Borrow, offered, true},
		{"no rate", 0, 0, model.Borrow, offered, true},
	} {
		c := ClassTraffic{Plan: offload.ClassPlan{Name: "c", Rate: tc.rate, Peak: tc.peak, NonConforming: tc.mode}, Offered: offered, Admitted: offered}
		got, lossless := ExpectedRate(&c)
		if got != tc.want || lossless != tc.lossless {
			t.Errorf("%s: ExpectedRate = %.0f, lossless %v; want %.0f, %v", tc.name, got, lossless, tc.want, tc.lossless)
		}
	}
}

// TestKeepsAdmitted: a class with a peak that discards or borrows keeps
// its rate under overload when its queue lost at most the tolerance of
// what its meter admitted as conforming, whatever its rate did (a borrowing
// class's demoted excess may be dropped); a pacer without counters leaves
// it not verified.
func TestKeepsAdmitted(t *testing.T) {
	e := &Expectation{Kind: KeepsRate, Class: "video", Overload: "silver", Tol: DefaultRateTol}
	for _, tc := range []struct {
		name  string
		cc    *offload.ClassCounters
		want  Status
		where string
	}{
		{"nothing lost", &offload.ClassCounters{Packets: 1000, ConformingPackets: 1000, Drops: 3000}, Pass, "lost 0 of 1000"},
		{"5% lost", &offload.ClassCounters{Packets: 950, ConformingPackets: 950, Drops: 3050, QueueDrops: 50}, Pass, "lost 50 of 1000 conforming frames (5.00%)"},
		{"starved", &offload.ClassCounters{Packets: 900, ConformingPackets: 900, Drops: 3100, QueueDrops: 100}, Fail, "lost 100 of 1000"},
		{"demoted excess dropped", &offload.ClassCounters{Packets: 1500, ConformingPackets: 1000, NonConformingPackets: 500, Drops: 700}, Pass, "lost 0 of 1000"},
		{"nothing admitted", &offload.ClassCounters{Drops: 10}, Fail, "admitted nothing"},
		{"no counters", nil, NotVerified, "no counters"},
	} {
		op := &Phase{Overload: "silver"}
		if tc.cc != nil {
			op.Counters = &offload.Counters{Classes: map[string]offload.ClassCounters{"video": *tc.cc}}
		}
		st, m := keepsAdmitted(op, e, "7Mbit under overload, 7.5Mbit without")
		if st != tc.want || !strings.Contains(m, tc.where) {
			t.Errorf("%s: %s %q, want %s and %q", tc.name, st, m, tc.want, tc.where)
		}
	}
}

// TestAddr6Candidates: addresses in an IPv6 prefix, first hosts, last
// hosts and the middle, each inside it.
func TestAddr6Candidates(t *testing.T) {
	p := netip.MustParsePrefix("2001:db8:40::/48")
	got := addr6Candidates(p)
	want := []string{"2001:db8:40::1", "2001:db8:40::2", "2001:db8:40:ffff:ffff:ffff:ffff:fffe", "2001:db8:40:ffff:ffff:ffff:ffff:ffff", "2001:db8:40:8000::", "2001:db8:40::"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] || !p.Contains(got[i]) {
			t.Errorf("candidate %d: %v, want %s", i, got[i], want[i])
		}
	}
	if h := addr6Candidates(netip.MustParsePrefix("2001:db8::5/128")); len(h) != 1 || h[0].String() != "2001:db8::5" {
		t.Errorf("/128: %v", h)
	}
}
