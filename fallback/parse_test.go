package fallback

import (
	"encoding/binary"
	"testing"
)

// TestParse covers the header shapes the classifier must read: tags, IPv6
// extension headers, fragments, truncation and non-IP frames.
func TestParse(t *testing.T) {
	buf := make([]byte, 200)
	v6 := frameSpec{src: "2001:db8::1", dst: "2001:db8::2", proto: protoTCP, sport: 1111, dport: 443, vlan: -1, size: 120}
	cases := []struct {
		name   string
		build  func() []byte
		family uint8
		proto  uint8
		ports  bool
		vlan   uint16
		tagOff int
	}{
		{"ipv4 udp", func() []byte { return buf[:udp4(5, 6, 60).build(buf)] }, 4, protoUDP, true, 0, -1},
		{"ipv4 tagged", func() []byte {
			s := udp4(5, 6, 64)
			s.vlan = 100
			return buf[:s.build(buf)]
		}, 4, protoUDP, true, 100, 12},
		{"qinq: outer tag's vid", func() []byte {
			s := udp4(5, 6, 68)
			s.vlan = 200
			n := s.build(buf[4:])
			copy(buf[:12], buf[4:16])
			binary.BigEndian.PutUint16(buf[12:], etherQinQ)
			binary.BigEndian.PutUint16(buf[14:], 300)
			return buf[:n+4]
		}, 4, protoUDP, true, 300, 12},
		{"ipv4 later fragment: no ports", func() []byte {
			n := udp4(5, 6, 60).build(buf)
			binary.BigEndian.PutUint16(buf[14+6:], 100) // offset 800
			return buf[:n]
		}, 4, protoUDP, false, 0, -1},
		{"ipv4 first fragment: no ports either", func() []byte {
			n := udp4(5, 6, 60).build(buf)
			binary.BigEndian.PutUint16(buf[14+6:], 0x2000) // MF
			return buf[:n]
		}, 4, protoUDP, false, 0, -1},
		{"ipv4 with options", func() []byte {
			n := udp4(5, 6, 70).build(buf)
			copy(buf[14+24:], buf[14+20:n]) // move L4 after 4 option bytes
			buf[14] = 0x46
			copy(buf[14+20:], []byte{1, 1, 1, 0})
			return buf[:n+4]
		}, 4, protoUDP, true, 0, -1},
		{"ipv6 tcp", func() []byte { return buf[:v6.build(buf)] }, 6, protoTCP, true, 0, -1},
		{"ipv6 hop-by-hop then tcp", func() []byte {
			n := v6.build(buf)
			l4 := 14 + 40
			copy(buf[l4+8:], buf[l4:n])
			buf[14+6] = 0 // next header: hop-by-hop
			copy(buf[l4:], []byte{protoTCP, 0, 5, 2, 0, 0, 1, 0})
			return buf[:n+8]
		}, 6, protoTCP, true, 0, -1},
		{"ipv6 later fragment", func() []byte {
			n := v6.build(buf)
			l4 := 14 + 40
			copy(buf[l4+8:], buf[l4:n])
			buf[14+6] = 44
			copy(buf[l4:], []byte{protoTCP, 0, 0x01, 0x00, 0, 0, 0, 1})
			return buf[:n+8]
		}, 6, protoTCP, false, 0, -1},
		{"truncated ipv4", func() []byte { n := udp4(5, 6, 60).build(buf); _ = n; return buf[:14+19] }, 0, 0, false, 0, -1},
		{"truncated tcp ports", func() []byte { v6.build(buf); return buf[:14+40+3] }, 6, protoTCP, false, 0, -1},
		{"arp", func() []byte {
			n := udp4(5, 6, 60).build(buf)
			binary.BigEndian.PutUint16(buf[12:], 0x0806)
			return buf[:n]
		}, 0, 0, false, 0, -1},
		{"runt", func() []byte { return buf[:10] }, 0, 0, false, 0, -1},
	}
	for _, c := range cases {
		var pr parsed
		f := c.build()
		parse(f, &pr)
		if pr.family != c.family || pr.proto != c.proto || pr.hasPort != c.ports || pr.vlan != c.vlan || pr.tagOff != c.tagOff {
			t.Errorf("%s: family %d proto %d ports %v vlan %d tag %d", c.name, pr.family, pr.proto, pr.hasPort, pr.vlan, pr.tagOff)
			continue
		}
		if c.ports && (pr.sport == 0 || pr.dport == 0) {
			t.Errorf("%s: ports %d %d", c.name, pr.sport, pr.dport)
		}
		if !c.ports && pr.ports != 0 {
			t.Errorf("%s: ports read where there are none", c.name)
		}
	}
}
