package fallback

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// tssResolve is the interface resolver of the tuple-space tests: two
// interfaces, one name that resolves to index 0 without an error (the
// rule then matches any interface, as in the scan), and one that fails
// (the rule never matches).
func tssResolve(name string) (int, error) {
	switch name {
	case "eth0":
		return 2, nil
	case "eth1":
		return 3, nil
	case "zero":
		return 0, nil
	}
	return 0, errors.New("no such interface")
}

func tssPacer(t testing.TB, rules []offload.Rule) *Pacer {
	t.Helper()
	classes := []offload.ClassPlan{classPlan("a", 0, 0, model.Shape), classPlan("b", 3, 0, model.Shape)}
	p, err := New(plan(0, classes, rules...), Config{IfIndex: tssResolve, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ruleName names a classify result for messages.
func ruleName(p *Pacer, ri int) string {
	if ri < 0 {
		return "(none)"
	}
	return fmt.Sprintf("%s (#%d)", p.rules[ri].id, ri)
}

// checkSame fails t unless the tuple space and the scan agree on the frame.
func checkSame(t testing.TB, p *Pacer, frame []byte, ifindex int) int {
	t.Helper()
	var pr parsed
	parse(frame, &pr)
	got, want := p.tss.classify(&pr, ifindex), p.classifyScan(&pr, ifindex)
	if got != want {
		t.Fatalf("tuple space %s, scan %s for frame %x ifindex %d (parsed %+v)", ruleName(p, got), ruleName(p, want), frame, ifindex, pr)
	}
	return got
}

// TestTupleSpaceEdges: cases where shapes interact, each checked against
// the scan and against the rule the case expects.
func TestTupleSpaceEdges(t *testing.T) {
	dscp := func(v uint8) *uint8 { return &v }
	rules := []offload.Rule{
		// Overlapping prefixes of different lengths, the shorter first in
		// precedence for one pair: precedence, not length, decides.
		pacerRule("d8", "a", 40, model.Match{Dst: pfx("10.0.0.0/8")}),
		pacerRule("d16", "a", 30, model.Match{Dst: pfx("10.1.0.0/16")}),
		pacerRule("d24", "a", 20, model.Match{Dst: pfx("10.1.2.0/24")}),
		pacerRule("d32", "a", 10, model.Match{Dst: pfx("10.1.2.3/32")}),
		pacerRule("d0-8-first", "b", 5, model.Match{Dst: pfx("172.16.0.0/12")}),
		pacerRule("d32-shadowed", "b", 6, model.Match{Dst: pfx("172.16.0.1/32")}),
		// Port ranges in one bucket (same other fields): first by
		// precedence whose ranges hold the ports.
		pacerRule("r-wide", "a", 3, model.Match{Dst: pfx("192.0.2.0/24"), Protocol: model.UDP, DstPort: model.PortRange{Lo: 1000, Hi: 2000}}),
		pacerRule("r-narrow", "b", 2, model.Match{Dst: pfx("192.0.2.0/24"), Protocol: model.UDP, DstPort: model.PortRange{Lo: 1500, Hi: 1600}}),
		pacerRule("r-both", "b", 1, model.Match{Dst: pfx("192.0.2.0/24"), Protocol: model.UDP, SrcPort: model.PortRange{Lo: 7, Hi: 9}, DstPort: model.PortRange{Lo: 1000, Hi: 1100}}),
		pacerRule("exact-443", "a", 4, model.Match{Dst: pfx("192.0.2.0/24"), Protocol: model.TCP, DstPort: model.PortRange{Lo: 443, Hi: 443}}),
		// A range from 0 still needs ports: a portless frame never matches.
		pacerRule("r-from-0", "a", 7, model.Match{DstPort: model.PortRange{Lo: 0, Hi: 5}}),
		// An empty range matches nothing.
		pacerRule("r-empty", "a", 0, model.Match{DstPort: model.PortRange{Lo: 9, Hi: 8}}),
		// IPv6, and an IPv4-mapped IPv6 prefix (family 6: IPv4 frames never
		// match it).
		pacerRule("v6-48", "b", 50, model.Match{Src: pfx("2001:db8:1::/48")}),
		pacerRule("v6-mapped", "b", 51, model.Match{Dst: model.Prefix{Prefix: netip.MustParsePrefix("::ffff:198.18.0.0/112")}}),
		pacerRule("v6-any", "a", 52, model.Match{Src: pfx("::/0"), Protocol: model.UDP}),
		// VLAN, DSCP, interface.
		pacerRule("vlan7", "b", 60, model.Match{VLAN: 7}),
		pacerRule("vlan7-dscp46", "a", 59, model.Match{VLAN: 7, DSCP: dscp(46)}),
		pacerRule("dscp0", "a", 61, model.Match{DSCP: dscp(0), Protocol: model.TCP}),
		pacerRule("dscp0-any-proto", "b", 70, model.Match{DSCP: dscp(0)}),
		pacerRule("eth1-icmp", "b", 62, model.Match{Interface: "eth1", Protocol: model.ICMP}),
		pacerRule("unresolved", "a", 0, model.Match{Interface: "bad0"}),
		// DSCP above 63 matches nothing, not even a non-IP frame (whose
		// key holds tssNoDSCP, 64).
		pacerRule("dscp64", "a", 0, model.Match{DSCP: dscp(64)}),
		pacerRule("zero-ifindex", "b", 63, model.Match{Interface: "zero", Protocol: 47}),
	}
	p := tssPacer(t, rules)
	// Frames default to DSCP 1, which no rule names.
	tcp := func(src, dst string, sport, dport uint16) frameSpec {
		return frameSpec{src: src, dst: dst, proto: protoTCP, sport: sport, dport: dport, tos: 1 << 2, vlan: -1, size: 100}
	}
	udp := func(src, dst string, sport, dport uint16) frameSpec {
		s := tcp(src, dst, sport, dport)
		s.proto = protoUDP
		return s
	}
	with := func(s frameSpec, f func(*frameSpec)) frameSpec { f(&s); return s }
	esp := func(s *frameSpec) { s.proto = 50 }
	cases := []struct {
		name    string
		s       frameSpec
		ifindex int
		want    string
	}{
		{"/32 inside /24 inside /16 inside /8", tcp("10.0.0.1", "10.1.2.3", 1000, 2000), 0, "d32"},
		{"/24", tcp("10.0.0.1", "10.1.2.4", 1000, 2000), 0, "d24"},
		{"/16", tcp("10.0.0.1", "10.1.3.4", 1000, 2000), 0, "d16"},
		{"/8", tcp("10.0.0.1", "10.2.3.4", 1000, 2000), 0, "d8"},
		{"/12 ahead of the /32 inside it", tcp("10.0.0.1", "172.16.0.1", 1000, 2000), 0, "d0-8-first"},
		{"narrow range ahead of wide", udp("10.0.0.1", "192.0.2.9", 5, 1550), 0, "r-narrow"},
		{"wide range only", udp("10.0.0.1", "192.0.2.9", 5, 1999), 0, "r-wide"},
		{"both ranges", udp("10.0.0.1", "192.0.2.9", 8, 1050), 0, "r-both"},
		{"both ranges, source outside", udp("10.0.0.1", "192.0.2.9", 10, 1050), 0, "r-wide"},
		{"range edges", udp("10.0.0.1", "192.0.2.9", 9, 1100), 0, "r-both"},
		{"above every range", udp("10.0.0.1", "192.0.2.9", 9, 2001), 0, "(none)"},
		{"exact port", tcp("10.0.0.1", "192.0.2.9", 9, 443), 0, "exact-443"},
		{"exact port, other proto", udp("10.0.0.1", "192.0.2.9", 9, 443), 0, "(none)"},
		{"range from 0", tcp("10.0.0.1", "198.51.100.1", 9, 5), 0, "r-from-0"},
		{"range from 0, no ports (ICMP)", with(tcp("10.0.0.1", "198.51.100.1", 0, 0), func(s *frameSpec) { s.proto = 1 }), 0, "(none)"},
		{"range from 0, no ports (ICMP) on eth1", with(tcp("10.0.0.1", "198.51.100.1", 0, 0), func(s *frameSpec) { s.proto = 1 }), 3, "eth1-icmp"},
		{"ipv6 /48", tcp("2001:db8:1::5", "2001:db8::1", 1000, 2000), 0, "v6-48"},
		{"ipv6 outside /48, dscp 0", with(tcp("2001:db8:2::5", "2001:db8::1", 1000, 2000), func(s *frameSpec) { s.tos = 0 }), 0, "dscp0"},
		{"ipv6 ::/0 udp", udp("2001:db8:2::5", "2001:db8::1", 1000, 2000), 0, "v6-any"},
		{"ipv4 udp not in ::/0 (family 6)", udp("10.0.0.1", "198.51.100.1", 1000, 2000), 0, "(none)"},
		{"ipv4-mapped prefix, ipv6 frame", with(udp("2001:db8:2::5", "::ffff:198.18.1.1", 1, 9), esp), 0, "v6-mapped"},
		{"ipv4-mapped prefix, ipv4 frame", with(udp("10.0.0.1", "198.18.1.1", 1, 9), esp), 0, "(none)"},
		{"vlan 7 dscp 46 ahead of vlan 7", with(udp("10.0.0.1", "198.51.100.1", 1, 9), func(s *frameSpec) { s.vlan, s.tos, s.proto = 7, 46<<2, 50 }), 0, "vlan7-dscp46"},
		{"vlan 7", with(udp("10.0.0.1", "198.51.100.1", 1, 9), func(s *frameSpec) { s.vlan, s.proto = 7, 50 }), 0, "vlan7"},
		{"vlan 8", with(udp("10.0.0.1", "198.51.100.1", 1, 9), func(s *frameSpec) { s.vlan, s.proto = 8, 50 }), 0, "(none)"},
		{"priority tag (vlan 0)", with(udp("10.0.0.1", "198.51.100.1", 1, 9), func(s *frameSpec) { s.vlan, s.proto = 0, 50 }), 0, "(none)"},
		{"dscp 0 any protocol", with(udp("10.0.0.1", "198.51.100.1", 1, 9), func(s *frameSpec) { s.tos, s.proto = 0, 50 }), 0, "dscp0-any-proto"},
		{"interface resolving to 0 matches any", with(udp("10.0.0.1", "198.51.100.1", 1, 9), func(s *frameSpec) { s.proto = 47 }), 9, "zero-ifindex"},
		{"no match", with(udp("10.0.0.1", "198.51.100.1", 1, 9), esp), 0, "(none)"},
	}
	buf := make([]byte, 200)
	for _, c := range cases {
		ri := checkSame(t, p, buf[:c.s.build(buf)], c.ifindex)
		got := "(none)"
		if ri >= 0 {
			got = p.rules[ri].id
		}
		if got != c.want {
			t.Errorf("%s: rule %s, want %s", c.name, got, c.want)
		}
	}
	// Non-IP frames: no rule with an IP field matches, DSCP 0 included.
	arp := make([]byte, 60)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	if ri := checkSame(t, p, arp, 0); ri != -1 {
		t.Errorf("ARP frame matched %s", ruleName(p, ri))
	}
	tagged := make([]byte, 64)
	binary.BigEndian.PutUint16(tagged[12:], etherVLAN)
	binary.BigEndian.PutUint16(tagged[14:], 7)
	binary.BigEndian.PutUint16(tagged[16:], 0x0806)
	if ri := checkSame(t, p, tagged, 0); ri < 0 || p.rules[ri].id != "vlan7" {
		t.Errorf("ARP frame on VLAN 7 matched %s, want vlan7", ruleName(p, ri))
	}
	// The three rules that can never match (r-empty, unresolved, dscp64)
	// are in no table; every other is.
	n := 0
	for i := range p.tss.tables {
		tb := &p.tss.tables[i]
		for _, e := range tb.ents {
			if tb.ranged {
				n += int(e.n)
			} else {
				n++
			}
		}
	}
	if n != len(rules)-3 {
		t.Errorf("%d rules in tables, want %d", n, len(rules)-3)
	}
}

// tssBytes reads a fuzz input as a stream of choices; past its end every
// choice is 0.
type tssBytes struct {
	b []byte
	i int
}

func (s *tssBytes) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return s.b[s.i-1]
}

func (s *tssBytes) pick(n int) int { return int(s.next()) % n }

func (s *tssBytes) more() bool { return s.i < len(s.b) }

// Value pools of the generated rules and frames: few enough that rules and
// frames meet often, and edges (prefix lengths 0 and full, ranges from 0,
// empty ranges, IPv4-mapped IPv6, VLAN ids out of range, DSCP above 63).
var (
	tssAddrs4  = []string{"10.0.0.0", "10.0.1.0", "10.1.0.0", "10.1.1.1", "192.0.2.128", "0.0.0.0", "255.255.255.255"}
	tssAddrs6  = []string{"2001:db8::", "2001:db8:0:1::", "2001:db8::1", "::ffff:10.1.1.1", "::", "fe80::1"}
	tssBits4   = []int{0, 1, 8, 16, 23, 24, 31, 32}
	tssBits6   = []int{0, 1, 32, 48, 64, 96, 120, 127, 128}
	tssHosts4  = []string{"10.0.0.1", "10.0.1.5", "10.1.0.9", "10.1.1.1", "192.0.2.200", "8.8.8.8", "0.0.0.0", "255.255.255.255"}
	tssHosts6  = []string{"2001:db8::1", "2001:db8:0:1::5", "2001:db8::", "::ffff:10.1.1.1", "2001:db9::1", "fe80::1", "::"}
	tssProtos  = []model.Protocol{model.TCP, model.UDP, model.ICMP, model.ICMPv6, model.SCTP, 47, 136}
	tssRanges  = []model.PortRange{{Lo: 53, Hi: 53}, {Lo: 80, Hi: 80}, {Lo: 443, Hi: 443}, {Lo: 1, Hi: 1024}, {Lo: 50, Hi: 100}, {Lo: 0, Hi: 5}, {Lo: 1000, Hi: 999}, {Lo: 0, Hi: 65535}, {Lo: 65535, Hi: 65535}, {Lo: 5060, Hi: 5070}}
	tssPorts   = []uint16{53, 80, 443, 0, 1, 5, 100, 1024, 999, 5065, 65535, 20000}
	tssVLANs   = []uint16{7, 8, 4095, 5000}
	tssDSCPs   = []uint8{0, 46, 48, 63, 64, 100}
	tssIfaces  = []string{"eth0", "eth1", "zero", "bad0"}
	tssIfIndex = []int{0, 2, 3, 7, -1}
)

func (s *tssBytes) prefix() model.Prefix {
	v6 := s.next()&1 == 1
	addrs, bitsList := tssAddrs4, tssBits4
	if v6 {
		addrs, bitsList = tssAddrs6, tssBits6
	}
	a := netip.MustParseAddr(addrs[s.pick(len(addrs))])
	return model.Prefix{Prefix: netip.PrefixFrom(a, bitsList[s.pick(len(bitsList))]).Masked()}
}

// rules decodes up to maxRules rules (plan order and precedence from the
// input: many ties, which plan order breaks).
func (s *tssBytes) rules(maxRules int) []offload.Rule {
	n := s.pick(maxRules + 1)
	rs := make([]offload.Rule, 0, n)
	for i := range n {
		var m model.Match
		f := uint16(s.next()) | uint16(s.next())<<8
		if f&1 != 0 {
			m.Src = s.prefix()
		}
		if f&2 != 0 {
			m.Dst = s.prefix()
		}
		if f&4 != 0 {
			m.Protocol = tssProtos[s.pick(len(tssProtos))]
		}
		if f&8 != 0 {
			m.SrcPort = tssRanges[s.pick(len(tssRanges))]
		}
		if f&16 != 0 {
			m.DstPort = tssRanges[s.pick(len(tssRanges))]
		}
		if f&32 != 0 {
			m.VLAN = tssVLANs[s.pick(len(tssVLANs))]
		}
		if f&64 != 0 {
			d := tssDSCPs[s.pick(len(tssDSCPs))]
			m.DSCP = &d
		}
		if f&128 != 0 {
			m.Interface = tssIfaces[s.pick(len(tssIfaces))]
		}
		class := "a"
		if f&256 != 0 {
			class = "b"
		}
		rs = append(rs, pacerRule(fmt.Sprintf("r%d", i), class, uint16(s.pick(4)), m))
	}
	return rs
}

// frame decodes one frame into buf and the ifindex it arrived on: a frame
// built from the pools (IPv4 or IPv6, maybe tagged, maybe a fragment), or
// raw input bytes.
func (s *tssBytes) frame(buf []byte) ([]byte, int) {
	ifindex := tssIfIndex[s.pick(len(tssIfIndex))]
	kind := s.next()
	if kind%16 == 0 { // raw bytes
		n := s.pick(80)
		for i := range n {
			buf[i] = s.next()
		}
		return buf[:n], ifindex
	}
	hosts := tssHosts4
	if kind&1 == 1 {
		hosts = tssHosts6
	}
	spec := frameSpec{
		src: hosts[s.pick(len(hosts))], dst: hosts[s.pick(len(hosts))],
		proto: uint8(tssProtos[s.pick(len(tssProtos))]),
		sport: tssPorts[s.pick(len(tssPorts))], dport: tssPorts[s.pick(len(tssPorts))],
		tos: tssDSCPs[s.pick(len(tssDSCPs))]<<2 | s.next()&3, vlan: -1, size: 100,
	}
	if kind&2 != 0 {
		spec.vlan = int(tssVLANs[s.pick(len(tssVLANs))]) & 0xFFF
	}
	f := buf[:spec.build(buf)]
	if kind&4 != 0 && kind&1 == 0 { // an IPv4 fragment: no ports read
		off := 14
		if spec.vlan >= 0 {
			off += 4
		}
		f[off+6] |= 0x20 // MF
	}
	return f, ifindex
}

// tssCompare builds a pacer from the rules of an input and checks the tuple
// space against the scan on every frame of it.
func tssCompare(t testing.TB, in []byte, maxRules int) {
	s := &tssBytes{b: in}
	p := tssPacer(t, s.rules(maxRules))
	buf := make([]byte, 200)
	for s.more() {
		f, ifx := s.frame(buf)
		checkSame(t, p, f, ifx)
	}
}

// TestTupleSpaceRandom compares the tuple space with the scan on random
// rule sets and frames (FuzzTupleSpace explores the same space guided).
func TestTupleSpaceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := 400
	if testing.Short() {
		sets = 50
	}
	in := make([]byte, 4096)
	for range sets {
		for i := range in {
			in[i] = byte(rng.Uint32())
		}
		tssCompare(t, in, 60)
	}
}

// TestTupleSpaceLarge builds a pacer of 100,000 rules of several shapes,
// logs how long New takes, and checks the tuple space against the scan on
// frames that match rules of every shape (and frames that match none).
func TestTupleSpaceLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-rule pacer")
	}
	const n = 100_000
	tp := mixedPlan(n)
	t0 := time.Now()
	p, err := New(tp, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New with %d rules (%d shapes): %v", n, len(p.tss.tables), time.Since(t0))
	frames := ruleFrames(tp, 2000)
	for i, f := range frames {
		ri := checkSame(t, p, f, 0)
		if i%4 != 3 && ri < 0 {
			t.Fatalf("frame %d built to match matched nothing", i)
		}
	}
}
