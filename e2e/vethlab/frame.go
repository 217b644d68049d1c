package vethlab

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Probe payload layout after the UDP header (bytes): magic (4), flow (2),
// seq (8), send time (8, CLOCK_REALTIME ns, the clock the receiver's kernel
// timestamps use).
const (
	payloadMagic = 0x51504c42 // "QPLB"
	payloadLen   = 22
	ethLen       = 14
	vlanLen      = 4
	ipLen        = 20
	ip6Len       = 40
	udpLen       = 8
	tcpLen       = 20
	// MinFrame is the smallest frame size (bytes) the generator builds
	// without a VLAN tag.
	MinFrame = ethLen + ipLen + udpLen + payloadLen
)

// IP protocol numbers the generator builds.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// l4Len is the transport header length of proto (a TCP header without
// options, else UDP).
func l4Len(proto uint8) int {
	if proto == ProtoTCP {
		return tcpLen
	}
	return udpLen
}

// ipHdrLen is the IP header length of a flow: IPv6 when its addresses
// are.
func ipHdrLen(f Flow) int {
	if f.Src.Is6() || f.Dst.Is6() {
		return ip6Len
	}
	return ipLen
}

// MinFrameOf is the smallest frame size (bytes) of a flow: MinFrame plus
// the VLAN tag, the longer TCP header and the IPv6 header where the flow
// has them.
func MinFrameOf(f Flow) int {
	n := ethLen + ipHdrLen(f) + l4Len(f.Proto) + payloadLen
	if f.VLAN != 0 {
		n += vlanLen
	}
	return n
}

// frameSpec says how to build one flow's frames.
type frameSpec struct {
	dstMAC, srcMAC net.HardwareAddr
	src, dst       netip.Addr
	proto          uint8 // ProtoUDP or ProtoTCP
	srcPort        uint16
	dstPort        uint16
	dscp           uint8
	ecn            uint8
	vlan           uint16 // 0: untagged
	pcp            uint8
	size           int // L2 bytes incl. VLAN tag
	flow           uint16
}

// l4Sum says where an IPv6 frame's transport checksum goes and the one's
// complement sum of everything it covers but the per-packet fields
// (sequence number and send time, zero when built); off 0: no checksum
// (IPv4: UDP without one, a bare ACK nothing verifies).
type l4Sum struct {
	off  int
	base uint32
}

// buildFrame writes the frame into b (len(b) >= size) and returns the offset
// of the sequence number and send time fields, which the sender fills per
// packet, and what the sender needs to fill an IPv6 frame's checksum.
func buildFrame(b []byte, s frameSpec) (seqOff int, sum l4Sum) {
	clear(b[:s.size])
	copy(b[0:6], s.dstMAC)
	copy(b[6:12], s.srcMAC)
	off := 12
	if s.vlan != 0 {
		binary.BigEndian.PutUint16(b[off:], 0x8100)
		binary.BigEndian.PutUint16(b[off+2:], uint16(s.pcp)<<13|s.vlan&0xfff)
		off += 4
	}
	proto := uint8(ProtoUDP)
	if s.proto == ProtoTCP {
		proto = ProtoTCP
	}
	v6 := s.src.Is6()
	hlen := ipLen
	if v6 {
		binary.BigEndian.PutUint16(b[off:], 0x86DD)
		hlen = ip6Len
	} else {
		binary.BigEndian.PutUint16(b[off:], 0x0800)
	}
	off += 2
	ip := b[off : off+hlen]
	ipTotal := s.size - off
	tos := s.dscp<<2 | s.ecn&3
	if v6 {
		ip[0] = 0x60 | tos>>4
		ip[1] = tos << 4
		binary.BigEndian.PutUint16(ip[4:], uint16(ipTotal-ip6Len))
		ip[6], ip[7] = proto, 64
		a, d := s.src.As16(), s.dst.As16()
		copy(ip[8:24], a[:])
		copy(ip[24:40], d[:])
	} else {
		ip[0] = 0x45
		ip[1] = tos
		binary.BigEndian.PutUint16(ip[2:], uint16(ipTotal))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
		ip[8] = 64
		ip[9] = proto
		a4, d4 := s.src.As4(), s.dst.As4()
		copy(ip[12:16], a4[:])
		copy(ip[16:20], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	}
	l4 := b[off+hlen : off+ipTotal]
	binary.BigEndian.PutUint16(l4[0:], s.srcPort)
	binary.BigEndian.PutUint16(l4[2:], s.dstPort)
	if proto == ProtoTCP {
		// A bare ACK segment (no connection: the receiver reads it from a
		// packet socket); over IPv4 its checksum is left 0, nothing
		// verifies it.
		l4[12] = tcpLen / 4 << 4
		l4[13] = 0x10
		binary.BigEndian.PutUint16(l4[14:], 65535)
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(ipTotal-hlen))
		// UDP checksum 0 over IPv4: none (allowed for IPv4).
	}
	hl := l4Len(proto)
	p := l4[hl:]
	binary.BigEndian.PutUint32(p[0:], payloadMagic)
	binary.BigEndian.PutUint16(p[4:], s.flow)
	seqOff = off + hlen + hl + 6
	if v6 {
		// IPv6 has no header checksum and needs the transport's: the
		// pseudo-header (addresses, length, next header) and the segment.
		sum.off = off + hlen + 6 // UDP
		if proto == ProtoTCP {
			sum.off = off + hlen + 16
		}
		sum.base = onesSum(ip[8:40], 0)
		sum.base += uint32(len(l4)) + uint32(proto)
		sum.base = onesSum(l4, sum.base)
	}
	return seqOff, sum
}

// onesSum adds b's 16-bit big-endian words (an odd last byte padded) to
// sum, unfolded.
func onesSum(b []byte, sum uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

// onesFold folds an unfolded one's complement sum to 16 bits and
// complements it: the Internet checksum of what was summed.
func onesFold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// fill writes frame's transport checksum: base plus the per-packet
// fields at seqOff (16 bytes).
func (c l4Sum) fill(frame []byte, seqOff int) {
	if c.off == 0 {
		return
	}
	v := onesFold(onesSum(frame[seqOff:seqOff+16], c.base))
	if v == 0 {
		v = 0xffff // UDP: 0 means none, which IPv6 does not allow
	}
	binary.BigEndian.PutUint16(frame[c.off:], v)
}

// ipChecksum is the IPv4 header checksum of h, its checksum field (bytes
// 10-11) left out.
func ipChecksum(h []byte) uint16 {
	return onesFold(onesSum(h[12:], onesSum(h[:10], 0)))
}

// parsed is what the receiver reads from one frame.
type parsed struct {
	flow      uint16
	seq       uint64
	sent      int64
	dscp, ecn uint8
	ipOK      bool // IPv4 header checksum valid
}

// parseFrame reads a lab frame whose VLAN tag (if any) the kernel stripped
// or that still carries it inline. ok is false for frames not made by the
// generator.
func parseFrame(b []byte) (p parsed, inlineTag uint16, tagged, ok bool) {
	if len(b) < ethLen {
		return p, 0, false, false
	}
	off := 12
	et := binary.BigEndian.Uint16(b[off:])
	if et == 0x8100 || et == 0x88a8 {
		if len(b) < off+8 {
			return p, 0, false, false
		}
		inlineTag, tagged = binary.BigEndian.Uint16(b[off+2:]), true
		off += 4
		et = binary.BigEndian.Uint16(b[off:])
	}
	off += 2
	var pl []byte
	switch {
	case et == 0x86DD && len(b) >= off+ip6Len+udpLen+payloadLen:
		ip := b[off : off+ip6Len]
		if ip[0]>>4 != 6 || ip[6] != ProtoUDP && ip[6] != ProtoTCP || len(b) < off+ip6Len+l4Len(ip[6])+payloadLen {
			return p, 0, false, false
		}
		tos := ip[0]<<4 | ip[1]>>4
		p.dscp, p.ecn, p.ipOK = tos>>2, tos&3, true // no header checksum
		pl = b[off+ip6Len+l4Len(ip[6]):]
	case et == 0x0800 && len(b) >= off+ipLen+udpLen+payloadLen:
		ip := b[off : off+ipLen]
		if ip[0] != 0x45 || ip[9] != ProtoUDP && ip[9] != ProtoTCP || len(b) < off+ipLen+l4Len(ip[9])+payloadLen {
			return p, 0, false, false
		}
		p.dscp, p.ecn = ip[1]>>2, ip[1]&3
		p.ipOK = ipChecksum(ip) == binary.BigEndian.Uint16(ip[10:])
		pl = b[off+ipLen+l4Len(ip[9]):]
	default:
		return p, 0, false, false
	}
	if binary.BigEndian.Uint32(pl) != payloadMagic {
		return p, 0, false, false
	}
	p.flow = binary.BigEndian.Uint16(pl[4:])
	p.seq = binary.BigEndian.Uint64(pl[6:])
	p.sent = int64(binary.BigEndian.Uint64(pl[14:]))
	return p, inlineTag, tagged, true
}
