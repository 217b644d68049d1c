package fallback

import (
	"net/netip"
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func pfx(s string) model.Prefix { return model.Prefix{Prefix: netip.MustParsePrefix(s)} }

func TestClassify(t *testing.T) {
	classes := []offload.ClassPlan{
		classPlan("be", 0, 0, model.Shape), classPlan("bulk", 0, 0, model.Shape),
		classPlan("video", 4, 0, model.Shape), classPlan("voice", 5, 0, model.Shape),
		classPlan("ctl", 7, 0, model.Shape), classPlan("v6", 3, 0, model.Shape), classPlan("lan", 2, 0, model.Shape),
		classPlan("ifc", 1, 0, model.Shape),
	}
	rules := []offload.Rule{
		// Deliberately out of precedence order: New sorts them.
		pacerRule("any-to-net", "video", 300, model.Match{Dst: pfx("192.0.2.0/24")}),
		pacerRule("sip", "voice", 100, model.Match{Dst: pfx("192.0.2.0/24"), Protocol: model.UDP, DstPort: model.PortRange{Lo: 5060, Hi: 5070}}),
		pacerRule("dscp-ctl", "ctl", 150, model.Match{DSCP: u8(48)}),
		pacerRule("v6-src", "v6", 200, model.Match{Src: pfx("2001:db8::/32")}),
		pacerRule("vlan-7", "lan", 250, model.Match{VLAN: 7}),
		pacerRule("eth1", "ifc", 260, model.Match{Interface: "eth1"}),
		pacerRule("bulk-range", "bulk", 270, model.Match{Protocol: model.TCP, SrcPort: model.PortRange{Lo: 20, Hi: 21}}),
		{ID: "nic-rule", Class: "ctl", Precedence: 1, Match: model.Match{}, Where: offload.Where{Placement: offload.Hardware}},
	}
	p := newPacer(t, plan(0, classes, rules...), Config{})
	cases := []struct {
		name    string
		s       frameSpec
		ifindex int
		want    string
	}{
		{"sip beats the /24 by precedence", frameSpec{src: "10.1.1.1", dst: "192.0.2.9", proto: protoUDP, sport: 9, dport: 5065, vlan: -1, size: 80}, 0, "voice"},
		{"port outside range", frameSpec{src: "10.1.1.1", dst: "192.0.2.9", proto: protoUDP, sport: 9, dport: 5071, vlan: -1, size: 80}, 0, "video"},
		{"tcp to sip port", frameSpec{src: "10.1.1.1", dst: "192.0.2.9", proto: protoTCP, sport: 9, dport: 5060, vlan: -1, size: 80}, 0, "video"},
		{"dscp 48", frameSpec{src: "10.1.1.1", dst: "198.51.100.1", proto: protoUDP, tos: 48 << 2, vlan: -1, size: 80}, 0, "ctl"},
		{"dscp 48 beats /24", frameSpec{src: "10.1.1.1", dst: "192.0.2.1", proto: protoTCP, tos: 48<<2 | 1, vlan: -1, size: 80}, 0, "ctl"},
		{"ipv6 source prefix", frameSpec{src: "2001:db8::5", dst: "2001:db9::1", proto: protoTCP, vlan: -1, size: 100}, 0, "v6"},
		{"ipv6 outside prefix", frameSpec{src: "2001:db9::5", dst: "2001:db8::1", proto: protoTCP, vlan: -1, size: 100}, 0, "be"},
		{"ipv6 tagged vlan 7", frameSpec{src: "2001:db9::5", dst: "2001:db8::1", proto: protoTCP, vlan: 7, size: 100}, 0, "lan"},
		{"ipv4 tagged vlan 7 to /24: vlan rule first", frameSpec{src: "10.0.0.1", dst: "192.0.2.1", proto: protoTCP, vlan: 7, size: 100}, 0, "lan"},
		{"ipv4 tagged vlan 8", frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, vlan: 8, size: 100}, 0, "be"},
		{"ingress interface eth1", frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, vlan: -1, size: 100}, 3, "ifc"},
		{"ingress interface eth0", frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, vlan: -1, size: 100}, 2, "be"},
		{"tcp source port range", frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, sport: 21, vlan: -1, size: 100}, 0, "bulk"},
		{"udp source port range", frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoUDP, sport: 21, vlan: -1, size: 100}, 0, "be"},
	}
	for _, c := range cases {
		buf := make([]byte, 200)
		var pr parsed
		parse(buf[:c.s.build(buf)], &pr)
		ri := p.classify(&pr, c.ifindex)
		if tri := p.tss.classify(&pr, c.ifindex); tri != ri {
			t.Errorf("%s: tuple space rule %d, scan %d", c.name, tri, ri)
		}
		got := p.dflt.name
		if ri >= 0 {
			got = p.rules[ri].cls.name
		}
		if got != c.want {
			t.Errorf("%s: class %q, want %q", c.name, got, c.want)
		}
	}
	if len(p.rules) != 7 {
		t.Fatalf("%d pacer rules compiled, want 7 (the hardware rule is not the pacer's)", len(p.rules))
	}
}

// TestUnmatched: no match goes to the lowest-priority class (first in plan
// order among equals), or with PassUnmatched unshaped and unmarked.
func TestUnmatched(t *testing.T) {
	a := classPlan("a", 3, 0, model.Shape)
	b := classPlan("b", 1, 8_000_000, model.Discard)
	b.Bucket = 1000
	b.Mark = offload.Mark{DSCP: 10}
	c := classPlan("c", 1, 0, model.Shape)
	p := newPacer(t, plan(0, []offload.ClassPlan{a, b, c}), Config{})
	if p.dflt.name != "b" {
		t.Fatalf("default class %q, want b", p.dflt.name)
	}
	for range 3 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), 0)
	}
	if n, _ := drain(p, 0, func(k *Packet) {
		if dscpOf(k.Frame()) != 10 {
			t.Fatal("unmatched not marked as class b")
		}
	}); n != 1 {
		t.Fatalf("default class b: sent %d, want 1 (discard above 1000 B)", n)
	}

	p = newPacer(t, plan(0, []offload.ClassPlan{a, b, c}), Config{PassUnmatched: true})
	s := udp4(1, 2, 1000)
	s.tos = 0x20
	for range 3 {
		p.Enqueue(pkt(t, p, s), 0)
	}
	if n, _ := drain(p, 0, func(k *Packet) {
		if k.Frame()[15] != 0x20 {
			t.Fatal("unmatched packet remarked")
		}
	}); n != 3 {
		t.Fatalf("pass: sent %d, want 3", n)
	}
	if cc := p.Counters().Classes[unmatchedClass]; cc.Packets != 3 {
		t.Fatalf("unmatched counters %+v", cc)
	}
}

func TestFlowCache(t *testing.T) {
	p := newPacer(t, plan(0, []offload.ClassPlan{classPlan("c", 0, 0, model.Shape)},
		pacerRule("r", "c", 1, model.Match{Protocol: model.UDP})), Config{FlowIdle: time.Second, FlowEntries: 64})
	now := int64(time.Hour)
	send := func(sport uint16, at int64) {
		p.Enqueue(pkt(t, p, udp4(sport, 2, 100)), at)
		drain(p, at, nil)
	}
	send(1, now)
	send(1, now+1)
	send(1, now+int64(time.Second)-1) // still live: refreshed at now+1
	if p.cache.hits != 2 || p.cache.misses != 1 {
		t.Fatalf("hits %d misses %d, want 2 1", p.cache.hits, p.cache.misses)
	}
	send(1, now+3*int64(time.Second)) // idle for 2s: expired
	if p.cache.misses != 2 {
		t.Fatalf("expired entry hit (misses %d)", p.cache.misses)
	}
	// More flows than entries: the cache stays bounded and evicts.
	for i := range 1000 {
		send(uint16(100+i), now+4*int64(time.Second))
	}
	if n := p.cache.len(now + 4*int64(time.Second)); n > 64 || n < 32 {
		t.Fatalf("%d live entries in a 64-entry cache", n)
	}
	if p.cache.evictions == 0 {
		t.Fatal("no evictions counted")
	}
	if n := p.cache.len(now + 10*int64(time.Second)); n != 0 {
		t.Fatalf("%d entries live after FlowIdle", n)
	}
	st := p.Stats()
	if st.FlowCacheMiss != p.cache.misses || st.FlowCacheHits != 2 {
		t.Fatalf("stats %+v", st)
	}
	if rc := p.Counters().Rules["r"]; rc.Packets != 1004 {
		t.Fatalf("rule counters %+v", rc)
	}
}

// TestNoAllocs: once the pool is warm, Get/Enqueue/Dequeue/Put allocate
// nothing.
func TestNoAllocs(t *testing.T) {
	cp := classPlan("c", 4, 1_000_000_000, model.Borrow)
	p := newPacer(t, plan(10_000_000_000, []offload.ClassPlan{cp, classPlan("d", 0, 0, model.Shape)},
		pacerRule("r", "c", 1, model.Match{Protocol: model.UDP})), Config{})
	buf := make([]byte, 1514)
	n := udp4(1, 2, 1514).build(buf)
	var out [32]*Packet
	now := int64(0)
	step := func() {
		for i := range 32 {
			k := p.Get()
			copy(k.ReadBuf(), buf[:n])
			k.ReadBuf()[37] = byte(i) // 32 flows
			k.SetLen(n)
			p.Enqueue(k, now)
		}
		for {
			m, _ := p.Dequeue(now, out[:])
			for _, k := range out[:m] {
				p.Put(k)
			}
			if m == 0 {
				break
			}
		}
		now += 50_000
	}
	step()
	if a := testing.AllocsPerRun(200, step); a != 0 {
		t.Fatalf("%v allocations per batch of 32", a)
	}
}
