package fallback

import "encoding/binary"

// ECN codepoints (the low two bits of the TOS / traffic class octet).
const (
	ecnMask = 0x03
	ecnCE   = 0x03
)

// ecnCapable reports whether the packet is ECT(0) or ECT(1).
func ecnCapable(pr *parsed) bool {
	e := pr.tos & ecnMask
	return pr.l3 >= 0 && (e == 1 || e == 2)
}

// setTOS rewrites the IP TOS / traffic class octet of the parsed frame to
// tos, fixing the IPv4 header checksum incrementally (RFC 1624, eqn. 3).
func setTOS(f []byte, pr *parsed, tos uint8) {
	if pr.l3 < 0 || pr.tos == tos {
		return
	}
	o := pr.l3
	switch pr.family {
	case 4:
		old := binary.BigEndian.Uint16(f[o:])
		f[o+1] = tos
		nw := binary.BigEndian.Uint16(f[o:])
		hc := binary.BigEndian.Uint16(f[o+10:])
		binary.BigEndian.PutUint16(f[o+10:], csumUpdate(hc, old, nw))
	case 6:
		f[o] = f[o]&0xF0 | tos>>4
		f[o+1] = f[o+1]&0x0F | tos<<4
	}
	pr.tos = tos
}

// setDSCP writes dscp (0-63) and keeps the ECN bits.
func setDSCP(f []byte, pr *parsed, dscp uint8) {
	setTOS(f, pr, dscp<<2|pr.tos&ecnMask)
}

// setCE marks Congestion Experienced on an ECN-capable packet.
func setCE(f []byte, pr *parsed) {
	setTOS(f, pr, pr.tos|ecnCE)
}

// csumUpdate returns the Internet checksum hc updated for one 16-bit word
// changing from m to m1: HC' = ~(~HC + ~m + m1) in one's complement.
func csumUpdate(hc, m, m1 uint16) uint16 {
	s := uint32(^hc) + uint32(^m) + uint32(m1)
	s = s&0xFFFF + s>>16
	s = s&0xFFFF + s>>16
	return ^uint16(s)
}

// ipv4Checksum computes the Internet checksum of h from scratch, e.g. an
// IPv4 header's (the checksum field is summed as is, so a correct header
// sums to 0). An odd last byte is summed as if padded with a zero.
func ipv4Checksum(h []byte) uint16 { return ^csumFold(csumAdd(0, h)) }

// csumAdd adds the 16-bit big-endian words of b to the one's complement
// sum s (not yet folded); an odd last byte counts as padded with a zero.
func csumAdd(s uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
		if s >= 1<<31 {
			s = s&0xFFFF + s>>16
		}
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

// csumFold folds a one's complement sum to 16 bits.
func csumFold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xFFFF + s>>16
	}
	return uint16(s)
}

// setPCP writes the 802.1p priority pcp (0-7): it rewrites the outermost
// tag of a tagged frame, or, when pcp is not 0, inserts a priority tag
// (VLAN 0) into the headroom of an untagged one. A zero pcp on an untagged
// frame adds nothing: it would mean the same as no tag. It returns the
// bytes added to the frame (0 or 4).
func (p *Packet) setPCP(pr *parsed, pcp uint8) int {
	f := p.Frame()
	if pr.tagOff >= 0 {
		tci := binary.BigEndian.Uint16(f[pr.tagOff+2:])
		binary.BigEndian.PutUint16(f[pr.tagOff+2:], tci&0x1FFF|uint16(pcp&7)<<13)
		return 0
	}
	if pcp == 0 || p.off < 4 || len(f) < 12 {
		return 0
	}
	p.off -= 4
	p.n += 4
	g := p.buf[p.off : p.off+p.n]
	copy(g[0:12], g[4:16])
	binary.BigEndian.PutUint16(g[12:], etherVLAN)
	binary.BigEndian.PutUint16(g[14:], uint16(pcp&7)<<13)
	pr.tagOff = 12
	if pr.l3 >= 0 {
		pr.l3 += 4
	}
	if pr.hdrEnd > 0 {
		pr.hdrEnd += 4
	}
	if p.HasVnet {
		// Offsets in the virtio_net_hdr count from the frame start.
		if cs := binary.LittleEndian.Uint16(p.Vnet[6:8]); p.Vnet[0]&vnetFlagNeedsCsum != 0 {
			binary.LittleEndian.PutUint16(p.Vnet[6:8], cs+4)
		}
		if hl := binary.LittleEndian.Uint16(p.Vnet[2:4]); hl != 0 {
			binary.LittleEndian.PutUint16(p.Vnet[2:4], hl+4)
		}
	}
	return 4
}
