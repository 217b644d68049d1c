package fallback

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// frameSpec describes a test frame.
type frameSpec struct {
	src, dst     string // IP addresses; IPv6 when they contain ':'
	proto        uint8
	sport, dport uint16
	tos          uint8
	vlan         int // -1 untagged; else the VLAN id (PCP 0)
	size         int // total frame length in bytes (>= headers)
}

func udp4(sport, dport uint16, size int) frameSpec {
	return frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoUDP, sport: sport, dport: dport, vlan: -1, size: size}
}

// build writes the frame described by s into b and returns its length.
func (s frameSpec) build(b []byte) int {
	for i := range b[:s.size] {
		b[i] = 0
	}
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	off := 12
	if s.vlan >= 0 {
		binary.BigEndian.PutUint16(b[off:], etherVLAN)
		binary.BigEndian.PutUint16(b[off+2:], uint16(s.vlan))
		off += 4
	}
	src, dst := netip.MustParseAddr(s.src), netip.MustParseAddr(s.dst)
	var l4 int
	if src.Is4() {
		binary.BigEndian.PutUint16(b[off:], etherIPv4)
		h := b[off+2:]
		h[0] = 0x45
		h[1] = s.tos
		binary.BigEndian.PutUint16(h[2:], uint16(s.size-off-2))
		binary.BigEndian.PutUint16(h[4:], 0x1234)
		h[8] = 64
		h[9] = s.proto
		a, d := src.As4(), dst.As4()
		copy(h[12:16], a[:])
		copy(h[16:20], d[:])
		binary.BigEndian.PutUint16(h[10:], ipv4Checksum(h[:20]))
		l4 = off + 2 + 20
	} else {
		binary.BigEndian.PutUint16(b[off:], etherIPv6)
		h := b[off+2:]
		h[0] = 0x60 | s.tos>>4
		h[1] = s.tos << 4
		binary.BigEndian.PutUint16(h[4:], uint16(s.size-off-2-40))
		h[6] = s.proto
		h[7] = 64
		a, d := src.As16(), dst.As16()
		copy(h[8:24], a[:])
		copy(h[24:40], d[:])
		l4 = off + 2 + 40
	}
	binary.BigEndian.PutUint16(b[l4:], s.sport)
	binary.BigEndian.PutUint16(b[l4+2:], s.dport)
	if s.proto == protoTCP {
		b[l4+12] = 5 << 4
	}
	return s.size
}

// pkt gets a packet from p holding the frame s.
func pkt(t testing.TB, p *Pacer, s frameSpec) *Packet {
	t.Helper()
	k := p.Get()
	if k == nil {
		t.Fatal("pool exhausted")
	}
	k.SetLen(s.build(k.ReadBuf()))
	return k
}

func u8(v uint8) *uint8 { return &v }

// classPlan is a class with defaults a compile would fill.
func classPlan(name string, prio uint8, rate model.Rate, mode model.Mode) offload.ClassPlan {
	cp := offload.ClassPlan{
		Name: name, Priority: prio, Weight: 1, Rate: rate, MaxSDU: 1518, NonConforming: mode,
		TC: -1, Where: offload.Where{Placement: offload.Pacer},
	}
	if rate != 0 {
		cp.Bucket = model.Size(max(2*1518, uint64(rate)/8/100))
	}
	return cp
}

func pacerRule(id, class string, prec uint16, m model.Match, acts ...offload.Action) offload.Rule {
	return offload.Rule{ID: id, Flow: id, Class: class, Direction: offload.OnEgress, Precedence: prec,
		Match: m, Actions: append([]offload.Action{{Kind: offload.SetClass}}, acts...),
		Where: offload.Where{Placement: offload.Pacer}}
}

func plan(port model.Rate, classes []offload.ClassPlan, rules ...offload.Rule) *offload.TargetPlan {
	return &offload.TargetPlan{
		Target: "test", Kind: model.NIC, Classes: classes, Rules: rules,
		Pacer: &offload.PacerPlan{Mode: "attach", Interface: "lo", PortRate: port},
	}
}

func newPacer(t testing.TB, tp *offload.TargetPlan, cfg Config) *Pacer {
	t.Helper()
	if cfg.IfIndex == nil {
		cfg.IfIndex = func(name string) (int, error) { return map[string]int{"eth0": 2, "eth1": 3}[name], nil }
	}
	p, err := New(tp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// drain dequeues everything that may leave at now, returning the packets to
// the pool, and calls f for each before that.
func drain(p *Pacer, now int64, f func(*Packet)) (n int, next int64) {
	var out [64]*Packet
	for {
		k, nx := p.Dequeue(now, out[:])
		for _, q := range out[:k] {
			if f != nil {
				f(q)
			}
			p.Put(q)
		}
		n += k
		if k < len(out) {
			return n, nx
		}
	}
}

// drainAll dequeues until the pacer is empty, jumping the clock to each
// next time from now on; it returns the count and the final clock.
func drainAll(p *Pacer, now int64, f func(*Packet)) (int, int64) {
	total := 0
	for {
		n, next := drain(p, now, f)
		total += n
		if next == 0 {
			return total, now
		}
		now = max(next, now)
	}
}
