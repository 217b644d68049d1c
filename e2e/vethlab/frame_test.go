package vethlab

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// TestFrames builds the generator's frames (IPv4 and IPv6, UDP and TCP,
// tagged or not), fills the per-packet fields as the sender does and reads
// them back as the receiver does; an IPv6 frame's transport checksum
// verifies over the pseudo-header.
func TestFrames(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, c := range []struct {
		name     string
		src, dst string
		proto    uint8
		vlan     uint16
	}{
		{"udp4", "10.0.0.1", "10.0.0.2", ProtoUDP, 0},
		{"tcp4 tagged", "10.0.0.1", "10.0.0.2", ProtoTCP, 100},
		{"udp6", "2001:db8::1", "2001:db8:50::2", ProtoUDP, 0},
		{"tcp6 tagged", "2001:db8::1", "2001:db8:50::2", ProtoTCP, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := Flow{Proto: c.proto, Src: netip.MustParseAddr(c.src), Dst: netip.MustParseAddr(c.dst), VLAN: c.vlan}
			size := MinFrameOf(f) + 101 // odd: the checksum pads
			b := make([]byte, size)
			seqOff, sum := buildFrame(b, frameSpec{dstMAC: mac, srcMAC: mac, src: f.Src, dst: f.Dst, proto: c.proto,
				srcPort: 4000, dstPort: 443, dscp: 46, ecn: 1, vlan: c.vlan, pcp: 5, size: size, flow: 7})
			binary.BigEndian.PutUint64(b[seqOff:], 12345)
			binary.BigEndian.PutUint64(b[seqOff+8:], 0x0123456789abcdef)
			sum.fill(b, seqOff)
			p, inline, tagged, ok := parseFrame(b)
			if !ok || p.flow != 7 || p.seq != 12345 || p.sent != 0x0123456789abcdef || p.dscp != 46 || p.ecn != 1 || !p.ipOK {
				t.Fatalf("parsed %+v ok %v", p, ok)
			}
			if tagged != (c.vlan != 0) || tagged && inline != 5<<13|c.vlan {
				t.Fatalf("tag %#x tagged %v", inline, tagged)
			}
			if !f.Src.Is6() {
				if sum.off != 0 {
					t.Fatalf("IPv4 frame with a transport checksum at %d", sum.off)
				}
				return
			}
			off := ethLen
			if c.vlan != 0 {
				off += vlanLen
			}
			ip := b[off : off+ip6Len]
			l4 := b[off+ip6Len:]
			// RFC 8200 8.1: the pseudo-header, then the segment, summed
			// here without the generator's helper.
			pseudo := append(append([]byte(nil), ip[8:40]...), 0, 0, byte(len(l4)>>8), byte(len(l4)), 0, 0, 0, c.proto)
			all := append(pseudo, l4...)
			if len(all)%2 == 1 {
				all = append(all, 0)
			}
			var s uint64
			for i := 0; i < len(all); i += 2 {
				s += uint64(all[i])<<8 | uint64(all[i+1])
			}
			for s > 0xffff {
				s = s&0xffff + s>>16
			}
			if s != 0xffff {
				t.Fatalf("IPv6 %s checksum does not verify: sum %#x", c.name, s)
			}
		})
	}
}

// TestIPChecksum: the textbook IPv4 header (RFC 1071 style example) has
// checksum 0xb861, whatever its checksum field holds.
func TestIPChecksum(t *testing.T) {
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xff, 0xff, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := ipChecksum(h); got != 0xb861 {
		t.Fatalf("checksum %#x, want 0xb861", got)
	}
}
