package fallback

import (
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// TestCompiledPlan runs a plan compiled by offload.Compile from
// testdata/policy.yaml: service-type markings, rule remarks, shaping of the
// guaranteed class, the flow's own policer, and the port rate.
func TestCompiledPlan(t *testing.T) {
	pol, err := model.LoadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	caps, err := offload.LoadProfile("none")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := offload.Compile(pol, func(*model.Target) (*offload.Capabilities, error) { return caps, nil })
	if err != nil {
		t.Fatal(err)
	}
	tp := pl.Targets[0]
	if tp.Pacer == nil {
		t.Fatalf("plan has no pacer: %+v", tp)
	}
	p := newPacer(t, tp, Config{})
	if p.PortRate() != 100_000_000 {
		t.Fatalf("port rate %v", p.PortRate())
	}
	type want struct {
		dscp, pcp uint8
		tagged    bool
	}
	cases := []struct {
		name string
		s    frameSpec
		n    int // sent at t=0
		w    want
	}{
		{"bgp: network-control 48/7", frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, sport: 40000, dport: 179, vlan: -1, size: 100}, 1, want{48, 7, true}},
		{"sip: guaranteed 40/5, bucket of 2", frameSpec{src: "10.0.0.1", dst: "192.0.2.7", proto: protoUDP, sport: 1, dport: 5061, vlan: -1, size: 1400}, 2, want{40, 5, true}},
		{"tv: remarked 34, controlled-load PCP 4", frameSpec{src: "10.0.0.1", dst: "10.0.0.9", proto: protoUDP, sport: 1, dport: 5004, vlan: -1, size: 500}, 1, want{34, 4, true}},
		{"capped: best effort, policed", frameSpec{src: "10.0.0.1", dst: "10.0.0.9", proto: protoTCP, sport: 1, dport: 8080, vlan: -1, size: 1000}, 2, want{0, 0, false}},
		{"unmatched: lowest priority class", frameSpec{src: "10.0.0.1", dst: "10.0.0.9", proto: protoUDP, sport: 1, dport: 9, tos: 46 << 2, vlan: -1, size: 100}, 1, want{0, 0, false}},
	}
	now := int64(1e9)
	for _, c := range cases {
		count := map[int]int{1: 1, 2: 4}[c.n]
		for range count {
			p.Enqueue(pkt(t, p, c.s), now)
		}
		var got []want
		drain(p, now, func(k *Packet) {
			var pr parsed
			parse(k.Frame(), &pr)
			w := want{dscp: pr.tos >> 2, tagged: pr.tagOff >= 0}
			if w.tagged {
				w.pcp = k.Frame()[14] >> 5
			}
			got = append(got, w)
		})
		if len(got) != c.n {
			t.Errorf("%s: %d left at once, want %d", c.name, len(got), c.n)
			continue
		}
		for _, g := range got {
			if g != c.w {
				t.Errorf("%s: marked %+v, want %+v", c.name, g, c.w)
			}
		}
		drainAll(p, now, nil)
		now += 1e9
	}
	cc := p.Counters()
	if d := cc.Classes["bulk"].Drops; d != 2 {
		t.Errorf("policer drops %d, want 2", d)
	}
	if r := cc.Rules["capped/egress/eth0"]; r.Packets != 4 {
		t.Errorf("rule counters %+v (rules %v)", r, cc.Rules)
	}
}
