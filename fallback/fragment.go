package fallback

import "encoding/binary"

// IPv4 header fields.
const (
	ipv4DF      = 0x4000
	ipv4MF      = 0x2000
	ipv4OffMask = 0x1FFF
	ipOptCopied = 0x80 // option type bit: copy into every fragment
)

// fragResult is what fragment4 did with a datagram.
type fragResult int

const (
	fragWhole   fragResult = iota // left as it is (small, not IPv4, malformed)
	fragDF                        // larger than frame, but DF forbids cutting
	fragCut                       // cut: the fragments are in out
	fragNoSpace                   // the pool could not hold the fragments
)

// fragment4 cuts the IPv4 datagram in pkt (parsed as pr) into fragments
// whose frames are at most frame bytes (RFC 791): each fragment carries
// the L2 header, the IPv4 header (the first one with every option, the
// others with only the options whose copy flag is set, padded to 4
// bytes), and a part of the payload whose length is a multiple of 8 bytes
// except in the last; offsets count 8-byte units from the original's own
// offset, MF is set on all but the last (and on the last when the original
// had it), and each header checksum is computed anew. A checksum the
// sender left to offload (virtio NEEDS_CSUM) is completed first, as the
// fragments cannot carry it. pkt becomes the first fragment; the others
// come from get and are appended to out. GSO frames are left whole. When
// get returns nil, pkt is unchanged and the fragments taken so far are in
// out for the caller to put back.
func fragment4(pkt *Packet, pr *parsed, frame int, get func() *Packet, out []*Packet) ([]*Packet, fragResult) {
	f := pkt.Frame()
	if pr.family != 4 || len(f) <= frame || pkt.gso() > 0 {
		return out, fragWhole
	}
	l3 := pr.l3
	ihl := int(f[l3]&0x0F) * 4
	total := int(binary.BigEndian.Uint16(f[l3+2:]))
	if total < ihl || l3+total > len(f) || l3+total <= frame {
		return out, fragWhole
	}
	fl := binary.BigEndian.Uint16(f[l3+6:])
	if fl&ipv4DF != 0 {
		return out, fragDF
	}
	var opts [40]byte
	nopt := copiedOptions(f[l3+20:l3+ihl], opts[:])
	ihl2 := 20 + nopt
	per := (frame - l3 - ihl) &^ 7
	per2 := (frame - l3 - ihl2) &^ 7
	if per <= 0 || per2 <= 0 {
		return out, fragWhole
	}
	if !completeChecksum(pkt, l3+total) {
		return out, fragWhole
	}
	payload := f[l3+ihl : l3+total]
	base := int(fl & ipv4OffMask)
	moreAfter := fl&ipv4MF != 0
	start := len(out)
	for off := per; off < len(payload); off += per2 {
		q := get()
		if q == nil {
			return out, fragNoSpace // the caller puts back those in out
		}
		out = append(out, q)
		n := min(per2, len(payload)-off)
		q.HasVnet, q.Vnet, q.IfIndex = pkt.HasVnet, [10]byte{}, pkt.IfIndex
		g := q.ReadBuf()
		copy(g, f[:l3])
		copy(g[l3:], f[l3:l3+20])
		copy(g[l3+20:], opts[:nopt])
		g[l3] = 0x40 | byte(ihl2/4)
		copy(g[l3+ihl2:], payload[off:off+n])
		mf := moreAfter || off+n < len(payload)
		setFragHeader(g[l3:l3+ihl2], ihl2+n, base+off/8, mf)
		q.SetLen(l3 + ihl2 + n)
	}
	if len(out) == start {
		return out, fragWhole
	}
	setFragHeader(f[l3:l3+ihl], ihl+per, base, true)
	pkt.n = l3 + ihl + per
	pkt.wire = 0
	return out, fragCut
}

// setFragHeader writes a fragment's total length (bytes), offset (8-byte
// units) and MF flag into the IPv4 header h, keeping DF and the reserved
// bit clear, and computes its checksum.
func setFragHeader(h []byte, total, off8 int, mf bool) {
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	fl := uint16(off8) & ipv4OffMask
	if mf {
		fl |= ipv4MF
	}
	binary.BigEndian.PutUint16(h[6:], fl)
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ipv4Checksum(h))
}

// copiedOptions copies the IPv4 options of opt whose copy flag is set into
// out, padded with end-of-options to a multiple of 4 bytes, and returns
// their length. A malformed option ends the list.
func copiedOptions(opt, out []byte) int {
	n := 0
	for i := 0; i < len(opt); {
		t := opt[i]
		if t == 0 { // end of options
			break
		}
		if t == 1 { // no-operation: not copied
			i++
			continue
		}
		if i+1 >= len(opt) {
			break
		}
		l := int(opt[i+1])
		if l < 2 || i+l > len(opt) {
			break
		}
		if t&ipOptCopied != 0 {
			n += copy(out[n:], opt[i:i+l])
		}
		i += l
	}
	for n%4 != 0 {
		out[n] = 0
		n++
	}
	return n
}

// completeChecksum finishes a checksum left to offload (virtio NEEDS_CSUM:
// the field at csum_start+csum_offset holds the pseudo-header sum, the
// rest is summed from csum_start to end) and clears the flag. It reports
// false when the offsets do not fit the frame.
func completeChecksum(pkt *Packet, end int) bool {
	if !pkt.HasVnet || pkt.Vnet[0]&vnetFlagNeedsCsum == 0 {
		return true
	}
	f := pkt.Frame()
	cs := int(binary.LittleEndian.Uint16(pkt.Vnet[6:8]))
	at := cs + int(binary.LittleEndian.Uint16(pkt.Vnet[8:10]))
	if cs >= end || at+2 > end || end > len(f) {
		return false
	}
	sum := ipv4Checksum(f[cs:end])
	if sum == 0 && at == cs+6 { // UDP: 0 means "no checksum", send all ones
		sum = 0xFFFF
	}
	binary.BigEndian.PutUint16(f[at:], sum)
	pkt.Vnet[0] &^= vnetFlagNeedsCsum
	return true
}
