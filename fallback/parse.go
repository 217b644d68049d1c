package fallback

import "encoding/binary"

// Ethertypes and IP protocol numbers the parser knows.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86DD
	etherVLAN  = 0x8100
	etherQinQ  = 0x88A8
	protoTCP   = 6
	protoUDP   = 17
	protoSCTP  = 132
	protoUDPLi = 136
)

// parsed is what the parser learns about a frame. Offsets are bytes from
// the frame start; -1 (or 0 for hdrEnd) means absent.
type parsed struct {
	tagOff int // offset of the outermost 802.1Q/802.1ad tag's TPID, -1 none
	l3     int // IP header offset, -1 when not IP
	hdrEnd int // end of the L4 header (TCP/UDP), 0 unknown
	l4     int // L4 header offset when hasPort
	family uint8
	proto  uint8
	tos    uint8 // IPv4 TOS / IPv6 traffic class (DSCP<<2 | ECN)
	vlan   uint16
	sport  uint16
	dport  uint16
	// ports is sport | dport<<16, stored at once: the flow key reads both
	// with one 32-bit load, which store forwarding cannot serve from two
	// 16-bit stores (a ~15-cycle stall per packet).
	ports uint32
	// Addresses as big-endian 64-bit halves of the 16-byte form; IPv4 is
	// IPv4-mapped (hi 0, lo 0xffff<<32 | address).
	srcHi, srcLo uint64
	dstHi, dstLo uint64
	etype        uint16 // innermost ethertype
	hasPort      bool
}

// parse fills pr from frame. It never panics on malformed input: what it
// cannot read is left absent.
func parse(f []byte, pr *parsed) {
	*pr = parsed{tagOff: -1, l3: -1}
	if len(f) < 14 {
		return
	}
	off := 12
	et := binary.BigEndian.Uint16(f[off:])
	for i := 0; i < 2 && (et == etherVLAN || et == etherQinQ); i++ {
		if len(f) < off+6 {
			return
		}
		if pr.tagOff < 0 {
			pr.tagOff = off
			pr.vlan = binary.BigEndian.Uint16(f[off+2:]) & 0x0FFF
		}
		off += 4
		et = binary.BigEndian.Uint16(f[off:])
	}
	pr.etype = et
	off += 2
	switch et {
	case etherIPv4:
		parse4(f, off, pr)
	case etherIPv6:
		parse6(f, off, pr)
	}
}

// v4Mapped is the ::ffff:0:0/96 part of an IPv4-mapped address's low half.
const v4Mapped = 0xffff << 32

func parse4(f []byte, off int, pr *parsed) {
	if len(f) < off+20 || f[off]>>4 != 4 {
		return
	}
	ihl := int(f[off]&0x0F) * 4
	if ihl < 20 || len(f) < off+ihl {
		return
	}
	pr.l3, pr.family = off, 4
	pr.tos = f[off+1]
	pr.proto = f[off+9]
	pr.srcLo = v4Mapped | uint64(binary.BigEndian.Uint32(f[off+12:]))
	pr.dstLo = v4Mapped | uint64(binary.BigEndian.Uint32(f[off+16:]))
	frag := binary.BigEndian.Uint16(f[off+6:])
	if frag&0x3FFF != 0 { // MF set or an offset: ports are not in every fragment
		return
	}
	parseL4(f, off+ihl, pr)
}

func parse6(f []byte, off int, pr *parsed) {
	if len(f) < off+40 || f[off]>>4 != 6 {
		return
	}
	pr.l3, pr.family = off, 6
	pr.tos = f[off]<<4 | f[off+1]>>4
	pr.srcHi, pr.srcLo = binary.BigEndian.Uint64(f[off+8:]), binary.BigEndian.Uint64(f[off+16:])
	pr.dstHi, pr.dstLo = binary.BigEndian.Uint64(f[off+24:]), binary.BigEndian.Uint64(f[off+32:])
	nh := f[off+6]
	p := off + 40
	for range 8 {
		switch nh {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(f) < p+8 {
				pr.proto = nh
				return
			}
			nh, p = f[p], p+8+int(f[p+1])*8
		case 51: // AH
			if len(f) < p+8 {
				pr.proto = nh
				return
			}
			nh, p = f[p], p+(int(f[p+1])+2)*4
		case 44: // fragment
			if len(f) < p+8 {
				pr.proto = nh
				return
			}
			fo := binary.BigEndian.Uint16(f[p+2:])
			nh, p = f[p], p+8
			if fo&0xFFF9 != 0 { // offset or more-fragments: no ports
				pr.proto = nh
				return
			}
		default:
			pr.proto = nh
			parseL4(f, p, pr)
			return
		}
	}
	pr.proto = nh
}

func parseL4(f []byte, off int, pr *parsed) {
	switch pr.proto {
	case protoTCP, protoUDP, protoSCTP, protoUDPLi:
	default:
		return
	}
	if len(f) < off+4 {
		return
	}
	pr.sport = binary.BigEndian.Uint16(f[off:])
	pr.dport = binary.BigEndian.Uint16(f[off+2:])
	pr.ports = uint32(pr.sport) | uint32(pr.dport)<<16
	pr.hasPort = true
	pr.l4 = off
	switch pr.proto {
	case protoTCP:
		if len(f) >= off+20 {
			if d := int(f[off+12]>>4) * 4; d >= 20 && len(f) >= off+d {
				pr.hdrEnd = off + d
			}
		}
	case protoUDP, protoUDPLi:
		if len(f) >= off+8 {
			pr.hdrEnd = off + 8
		}
	}
}
