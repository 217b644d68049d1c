package fallback

import (
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func dscpOf(f []byte) uint8 {
	var pr parsed
	parse(f, &pr)
	return pr.tos >> 2
}

func TestModes(t *testing.T) {
	const size = 1000
	cases := []struct {
		mode                       model.Mode
		wantSentAtT0, wantDrops    int
		wantConf, wantNC           uint64
		wantDSCPs                  []uint8 // of packets leaving at t0, in order
		wantLaterAt, wantLaterSent int64   // shape: the rest leave later
	}{
		// bucket = 3 packets: 3 conform at t0, 5 do not.
		{mode: model.Borrow, wantSentAtT0: 8, wantConf: 3, wantNC: 5, wantDSCPs: []uint8{24, 24, 24, 8, 8, 8, 8, 8}},
		{mode: model.Discard, wantSentAtT0: 3, wantDrops: 5, wantConf: 3, wantDSCPs: []uint8{24, 24, 24}},
		{mode: model.Shape, wantSentAtT0: 3, wantConf: 3, wantNC: 1, wantDSCPs: []uint8{24, 24, 24}, wantLaterAt: 1e6, wantLaterSent: 1},
	}
	for _, c := range cases {
		t.Run(string(c.mode), func(t *testing.T) {
			cp := classPlan("cl", 4, 8_000_000, c.mode) // 1e6 B/s: 1000 B per ms
			cp.Bucket = 3 * size
			cp.Mark = offload.Mark{DSCP: 24, PCP: 0}
			cp.MarkNonConforming = offload.Mark{DSCP: 8, PCP: 0}
			p := newPacer(t, plan(0, []offload.ClassPlan{cp}), Config{MaxDelay: time.Second})
			t0 := int64(5e9)
			for i := range 8 {
				p.Enqueue(pkt(t, p, udp4(uint16(100+i), 2, size)), t0)
			}
			var dscps []uint8
			n, _ := drain(p, t0, func(k *Packet) { dscps = append(dscps, dscpOf(k.Frame())) })
			if n != c.wantSentAtT0 {
				t.Fatalf("sent %d at t0, want %d", n, c.wantSentAtT0)
			}
			if string(dscps) != string(c.wantDSCPs) {
				t.Fatalf("DSCPs %v, want %v", dscps, c.wantDSCPs)
			}
			if c.wantLaterAt != 0 {
				n, _ := drain(p, t0+c.wantLaterAt, nil)
				if int64(n) != c.wantLaterSent {
					t.Fatalf("sent %d at t0+%d, want %d", n, c.wantLaterAt, c.wantLaterSent)
				}
			}
			cc := p.Counters().Classes["cl"]
			if cc.Drops != uint64(c.wantDrops) || cc.QueueDrops != 0 || cc.ConformingPackets != c.wantConf || cc.NonConformingPackets != c.wantNC {
				t.Fatalf("counters %+v", cc)
			}
			if cc.ConfiguredRate != 8_000_000 || cc.Where != offload.Pacer {
				t.Fatalf("rate/where %+v", cc)
			}
		})
	}
}

// TestBorrowAfterConforming: borrowed packets wait for all conforming
// traffic, even of a lower-priority class.
func TestBorrowAfterConforming(t *testing.T) {
	hi := classPlan("hi", 4, 8_000_000, model.Borrow)
	hi.Bucket = 2000
	lo := classPlan("lo", 0, 0, model.Shape)
	r := pacerRule("lo-flow", "lo", 10, model.Match{DstPort: model.PortRange{Lo: 9, Hi: 9}})
	rh := pacerRule("hi-flow", "hi", 10, model.Match{DstPort: model.PortRange{Lo: 2, Hi: 2}})
	p := newPacer(t, plan(0, []offload.ClassPlan{hi, lo}, r, rh), Config{})
	now := int64(1)
	for range 4 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), now) // 2 conform, 2 borrow
	}
	for range 3 {
		p.Enqueue(pkt(t, p, udp4(1, 9, 500)), now)
	}
	var order []int
	drain(p, now, func(k *Packet) { order = append(order, k.n) })
	want := []int{1000, 1000, 500, 500, 500, 1000, 1000}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

func TestMaxSDUAndMinPoliced(t *testing.T) {
	for _, mode := range []model.Mode{model.Shape, model.Borrow, model.Discard} {
		cp := classPlan("c", 0, 8_000_000, mode)
		cp.MaxSDU = 1000
		cp.Bucket = 5000
		cp.MinPoliced = 500
		p := newPacer(t, plan(0, []offload.ClassPlan{cp}), Config{})
		p.Enqueue(pkt(t, p, udp4(1, 2, 1001)), 1) // larger than MaxSDU
		n, _ := drain(p, 1, nil)
		cc := p.Counters().Classes["c"]
		if mode == model.Borrow {
			if n != 1 || cc.NonConformingPackets != 1 {
				t.Fatalf("%s: oversize: sent %d, %+v", mode, n, cc)
			}
		} else if n != 0 || cc.Drops != 1 {
			t.Fatalf("%s: oversize: sent %d, %+v", mode, n, cc)
		}
		// 64-byte packets count as 500: exactly 10 fit a 5000-byte bucket.
		for range 20 {
			p.Enqueue(pkt(t, p, udp4(1, 2, 64)), 2)
		}
		n, _ = drain(p, 2, nil)
		if mode != model.Borrow && n != 10 {
			t.Fatalf("%s: %d minimum-size packets conformed, want 10", mode, n)
		}
		cc = p.Counters().Classes["c"]
		if mode == model.Borrow && (cc.ConformingPackets != 10 || cc.NonConformingPackets != 11) {
			t.Fatalf("borrow: %+v", cc)
		}
	}
}

// TestPeakSpacing: with a peak rate, a shaped class with a deep bucket still
// spaces packets at size/peak.
func TestPeakSpacing(t *testing.T) {
	cp := classPlan("c", 0, 8_000_000, model.Shape)
	cp.Bucket = 100_000
	cp.Peak = 16_000_000 // 2e6 B/s
	p := newPacer(t, plan(0, []offload.ClassPlan{cp}), Config{MaxDelay: time.Second})
	for range 5 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1518)), 0)
	}
	n, next := drain(p, 0, nil)
	if n != 1 || next != 759_000 {
		t.Fatalf("first: n=%d next=%d, want 1 and 759000", n, next)
	}
	n, next = drain(p, next, nil)
	if n != 1 || next != 2*759_000 {
		t.Fatalf("second: n=%d next=%d", n, next)
	}
}

// TestEffectiveRate: the overhead-corrected rate is the token rate.
func TestEffectiveRate(t *testing.T) {
	cp := classPlan("c", 0, 8_000_000, model.Shape)
	cp.EffectiveRate = 16_000_000
	cp.Bucket = 1000
	p := newPacer(t, plan(0, []offload.ClassPlan{cp}), Config{MaxDelay: time.Second})
	for range 3 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), 0)
	}
	_, next := drain(p, 0, nil)
	if next != 500_000 { // 1000 B at 2e6 B/s
		t.Fatalf("next = %d, want 500000 (EffectiveRate)", next)
	}
}

// TestQueueBoundAndECN: a shaped queue holds MaxDelay at the class rate;
// ECN-capable packets are CE-marked above half of it and kept up to twice
// it, others tail-dropped.
func TestQueueBoundAndECN(t *testing.T) {
	cp := classPlan("c", 0, 8_000_000, model.Shape) // 1e6 B/s
	cp.Bucket = 1000
	p := newPacer(t, plan(0, []offload.ClassPlan{cp}), Config{MaxDelay: 10 * time.Millisecond}) // 10000 B
	if got := p.classes[0].conf.limit; got != 10000 {
		t.Fatalf("limit %d, want 10000", got)
	}
	for range 30 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), 0)
	}
	if d := p.classes[0].conf.q.bytes; d != 10000 {
		t.Fatalf("non-ECT: queue %d bytes, want 10000", d)
	}
	p.Dequeue(0, nil) // publishes counters; nothing may leave into an empty slice
	if cc := p.Counters().Classes["c"]; cc.Drops != 20 || cc.QueueDrops != 20 || cc.QueueDepth != 10000 {
		t.Fatalf("counters %+v", cc)
	}
	_, now := drainAll(p, 0, nil)

	ect := udp4(1, 2, 1000)
	ect.tos = 0x02 // ECT(0)
	var ce int
	for range 30 {
		p.Enqueue(pkt(t, p, ect), now)
	}
	if d := p.classes[0].conf.q.bytes; d != 20000 {
		t.Fatalf("ECT: queue %d bytes, want 20000", d)
	}
	drainAll(p, now, func(k *Packet) {
		var pr parsed
		parse(k.Frame(), &pr)
		if pr.tos&3 == 3 {
			ce++
		}
		if ipv4Checksum(k.Frame()[14:34]) != 0 {
			t.Fatal("bad IPv4 checksum after CE mark")
		}
	})
	if ce != 20-5 { // packets 6..20 arrived above 5000 bytes
		t.Fatalf("%d CE-marked, want 15", ce)
	}
}

// TestPolicer: a rule's own police action drops above its rate, or remarks
// and demotes when its Exceed does not drop.
func TestPolicer(t *testing.T) {
	cp := classPlan("c", 3, 0, model.Shape)
	for _, drop := range []bool{true, false} {
		act := offload.Action{Kind: offload.Police, Rate: 8_000_000, Burst: 2000, Exceed: &offload.Exceed{Drop: drop, DSCP: 10}}
		r := pacerRule("f", "c", 5, model.Match{DstPort: model.PortRange{Lo: 2, Hi: 2}}, act)
		p := newPacer(t, plan(0, []offload.ClassPlan{cp}, r), Config{})
		for range 5 {
			p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), 0)
		}
		var dscps []uint8
		n, _ := drain(p, 0, func(k *Packet) { dscps = append(dscps, dscpOf(k.Frame())) })
		cc := p.Counters()
		if drop && (n != 2 || cc.Classes["c"].Drops != 3 || cc.Classes["c"].QueueDrops != 0) {
			t.Fatalf("drop: sent %d, %+v", n, cc.Classes["c"])
		}
		if !drop && (n != 5 || string(dscps) != string([]uint8{0, 0, 10, 10, 10})) {
			t.Fatalf("remark: sent %d dscps %v", n, dscps)
		}
		if rc := cc.Rules["f"]; rc.Packets != 5 || rc.Bytes != 5000 {
			t.Fatalf("rule counters %+v", rc)
		}
	}
}

// TestQueueDropRefunds: credit taken by the meter for a packet the queue
// bound then drops goes back to the bucket.
func TestQueueDropRefunds(t *testing.T) {
	cp := classPlan("c", 0, 8_000_000, model.Borrow)
	cp.Bucket = 10000
	p := newPacer(t, plan(1_000_000, []offload.ClassPlan{cp}), Config{MaxDelay: time.Microsecond})
	if l := p.classes[0].conf.limit; l != 2*1518 {
		t.Fatalf("limit %d, want the 2*MaxSDU floor", l)
	}
	for range 10 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), 0)
	}
	p.Dequeue(0, nil)
	if cc := p.Counters().Classes["c"]; cc.Drops != 7 || cc.QueueDrops != 7 || cc.ConformingPackets != 3 {
		t.Fatalf("counters %+v", cc)
	}
	if got := p.classes[0].m.commit.tokens; got != 7000*unitsPerByte {
		t.Fatalf("bucket holds %d bytes, want 7000 (refunded)", got/unitsPerByte)
	}
}

// TestQueueDropsConformingOnly: QueueDrops counts the conforming frames a
// full queue drops (congestion), not a borrowing class's demoted excess
// that its own queue has no room for.
func TestQueueDropsConformingOnly(t *testing.T) {
	cp := classPlan("c", 0, 8_000_000, model.Borrow)
	cp.Bucket = 2000 // 2 frames conform at once
	p := newPacer(t, plan(1_000_000, []offload.ClassPlan{cp}), Config{MaxDelay: time.Microsecond})
	for range 10 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), 0)
	}
	p.Dequeue(0, nil)
	cc := p.Counters().Classes["c"]
	if cc.ConformingPackets != 2 || cc.QueueDrops != 0 || cc.Drops == 0 {
		t.Fatalf("counters %+v: want 2 conforming, demoted frames dropped but no queue drops counted", cc)
	}
}
