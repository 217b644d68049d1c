package fallback

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// FuzzParseMark feeds arbitrary frames to the parser, marker and the whole
// Enqueue/Dequeue path: no panics, a valid IPv4 header checksum stays
// valid, marking changes only the TOS octet (and inserts at most one tag),
// and a marked frame parses to the same flow.
func FuzzParseMark(f *testing.F) {
	buf := make([]byte, 200)
	for _, s := range []frameSpec{
		udp4(1, 2, 100),
		{src: "10.0.0.1", dst: "192.0.2.1", proto: protoTCP, sport: 5, dport: 80, tos: 2, vlan: 7, size: 120},
		{src: "2001:db8::1", dst: "2001:db8::2", proto: protoUDP, sport: 5, dport: 5060, tos: 1, vlan: -1, size: 90},
	} {
		n := s.build(buf)
		f.Add(bytes.Clone(buf[:n]), []byte{}, uint8(46), uint8(5))
		f.Add(bytes.Clone(buf[:n]), []byte{1, 1, 40, 0, 100, 0, 34, 0, 16, 0}, uint8(46), uint8(5))
	}
	f.Add([]byte{}, []byte{1, 4, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff}, uint8(0), uint8(0))
	cp := classPlan("c", 4, 8_000_000, model.Borrow)
	cp.Mark = offload.Mark{DSCP: 24, PCP: 3}
	cp.MinPoliced = 1518
	sh := classPlan("be", 0, 1_000_000, model.Shape)
	sh.MinPoliced = 1000
	tp := plan(100_000_000, []offload.ClassPlan{cp, sh},
		pacerRule("r", "c", 1, model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: 1, Hi: 6000}}))
	p, err := New(tp, Config{MaxFrame: 2048, IfIndex: func(string) (int, error) { return 1, nil }})
	if err != nil {
		f.Fatal(err)
	}
	var now int64
	f.Fuzz(func(t *testing.T, frame, vnet []byte, dscp, pcp uint8) {
		if len(frame) > 2048 {
			return
		}
		k := p.Get()
		if k == nil {
			t.Fatal("pool exhausted: packets leak")
		}
		n := copy(k.ReadBuf(), frame)
		k.SetLen(n)
		if len(vnet) >= 10 {
			k.HasVnet = true
			copy(k.Vnet[:], vnet)
		}
		var pr parsed
		fr := k.Frame()
		parse(fr, &pr)
		v4ok := pr.family == 4 && ipv4Checksum(fr[pr.l3:pr.l3+int(fr[pr.l3]&15)*4]) == 0
		before := bytes.Clone(fr)
		setDSCP(fr, &pr, dscp&63)
		if ecnCapable(&pr) {
			setCE(fr, &pr)
		}
		if v4ok && ipv4Checksum(fr[pr.l3:pr.l3+int(fr[pr.l3]&15)*4]) != 0 {
			t.Fatal("IPv4 checksum broken by marking")
		}
		for i := range fr {
			if fr[i] != before[i] && !(pr.family == 4 && (i == pr.l3+1 || i == pr.l3+10 || i == pr.l3+11)) &&
				!(pr.family == 6 && (i == pr.l3 || i == pr.l3+1)) {
				t.Fatalf("byte %d changed outside the TOS/checksum", i)
			}
		}
		grow := k.setPCP(&pr, pcp&7)
		if len(k.Frame()) != n+grow || grow != 0 && grow != 4 {
			t.Fatalf("frame grew by %d", len(k.Frame())-n)
		}
		var pr2 parsed
		parse(k.Frame(), &pr2)
		if pr2.family != pr.family || pr2.sport != pr.sport || pr2.dport != pr.dport || pr2.srcLo != pr.srcLo || pr2.dstHi != pr.dstHi {
			t.Fatalf("marked frame parses differently: %+v vs %+v", pr2, pr)
		}
		_ = k.WireLen()
		// The same frame through the pacer.
		k.SetLen(copy(k.ReadBuf(), frame))
		if len(vnet) >= 10 {
			copy(k.Vnet[:], vnet)
		}
		now += 1000
		p.Enqueue(k, now)
		drain(p, now, func(q *Packet) {
			if q.WireLen() < len(q.Frame()) {
				t.Fatalf("WireLen %d below the frame length %d", q.WireLen(), len(q.Frame()))
			}
		})
		_, now = drainAll(p, now, nil)
		for _, c := range p.classes {
			for _, b := range []*bucket{&c.m.commit, &c.m.peak} {
				if c.metered && b.rate != 0 && (b.tokens > b.depth || b.tokens < -maxDebt) {
					t.Fatalf("class %s bucket out of range: %d of %d", c.name, b.tokens, b.depth)
				}
			}
		}
	})
}

// FuzzTupleSpace decodes a rule set (up to 40 rules over small pools of
// prefixes, protocols, port ranges, VLANs, DSCPs and interfaces, see
// tssBytes.rules) and frames (built from matching pools, or raw bytes)
// from the input, and checks that the tuple space picks the same rule as
// the linear scan for every frame.
func FuzzTupleSpace(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0x1f, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff, 0x01, 3, 3, 3, 3, 3, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{8, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 1, 1, 1, 1, 0x12, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2})
	rng := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		in := make([]byte, 300)
		for i := range in {
			in[i] = byte(rng.Uint32())
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return
		}
		tssCompare(t, in, 40)
	})
}
