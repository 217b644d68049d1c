package fallback

import "encoding/binary"

// virtio_net_hdr GSO types the pacer splits.
const (
	vnetGSOTCPv4 = 1
	vnetGSOTCPv6 = 4
)

// TCP flags that belong to one segment of a split GSO frame only.
const (
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// splitGSO cuts a TCP GSO frame (IPv4 or IPv6, virtio GSO type TCPV4 or
// TCPV6) into its segments, as the device would (TSO): each carries the
// frame's headers and at most gso_size bytes of payload; the IPv4 total
// length and ID (+1 a segment) or the IPv6 payload length, and the TCP
// sequence number are per segment; FIN and PSH stay on the last segment
// only and CWR on the first; every TCP checksum is computed in full and
// the virtio header cleared, so no offload is asked for. pkt becomes the
// first segment, the others come from get and are appended to out. It
// reports false, with pkt unchanged, for anything else; when get returns
// nil the segments taken so far are in out for the caller to put back.
func splitGSO(pkt *Packet, pr *parsed, get func() *Packet, out []*Packet) ([]*Packet, fragResult) {
	g := pkt.gso()
	typ := pkt.Vnet[1] &^ vnetGSOECN
	if g <= 0 || pr.proto != protoTCP || pr.hdrEnd <= 0 || !pr.hasPort ||
		!(typ == vnetGSOTCPv4 && pr.family == 4 || typ == vnetGSOTCPv6 && pr.family == 6) {
		return out, fragWhole
	}
	f := pkt.Frame()
	hdr := pr.hdrEnd
	if pr.family == 4 {
		if total := int(binary.BigEndian.Uint16(f[pr.l3+2:])); pr.l3+total != len(f) {
			return out, fragWhole // padding or a truncated frame: not a GSO frame we know
		}
	}
	payload := f[hdr:]
	if len(payload) <= g {
		return out, fragWhole
	}
	start := len(out)
	for off := g; off < len(payload); off += g {
		q := get()
		if q == nil {
			return out, fragNoSpace
		}
		out = append(out, q)
		n := min(g, len(payload)-off)
		q.HasVnet, q.Vnet, q.IfIndex = pkt.HasVnet, [10]byte{}, pkt.IfIndex
		b := q.ReadBuf()
		copy(b, f[:hdr])
		copy(b[hdr:], payload[off:off+n])
		q.SetLen(hdr + n)
		setSegment(q.Frame(), pr, off, len(out)-start, off+n == len(payload))
	}
	pkt.n = hdr + g
	setSegment(pkt.Frame(), pr, 0, 0, false)
	pkt.Vnet = [10]byte{}
	pkt.wire = 0
	return out, fragCut
}

// setSegment fixes the headers of segment k (payload from byte off of the
// GSO frame's payload) in f, whose headers are those of the GSO frame
// parsed as pr.
func setSegment(f []byte, pr *parsed, off, k int, last bool) {
	l3, t := pr.l3, pr.l4
	if pr.family == 4 {
		binary.BigEndian.PutUint16(f[l3+2:], uint16(len(f)-l3))
		binary.BigEndian.PutUint16(f[l3+4:], binary.BigEndian.Uint16(f[l3+4:])+uint16(k))
		f[l3+10], f[l3+11] = 0, 0
		ihl := int(f[l3]&0x0F) * 4
		binary.BigEndian.PutUint16(f[l3+10:], ipv4Checksum(f[l3:l3+ihl]))
	} else {
		binary.BigEndian.PutUint16(f[l3+4:], uint16(len(f)-l3-40))
	}
	binary.BigEndian.PutUint32(f[t+4:], binary.BigEndian.Uint32(f[t+4:])+uint32(off))
	if !last {
		f[t+13] &^= tcpFlagFIN | tcpFlagPSH
	}
	if k > 0 {
		f[t+13] &^= tcpFlagCWR
	}
	f[t+16], f[t+17] = 0, 0
	binary.BigEndian.PutUint16(f[t+16:], ^csumFold(csumAdd(pseudoHeader(f, pr, len(f)-t), f[t:])))
}

// pseudoHeader is the one's complement sum of the TCP/UDP pseudo-header of
// the frame f parsed as pr, for an L4 length of l4len bytes.
func pseudoHeader(f []byte, pr *parsed, l4len int) uint32 {
	l3 := pr.l3
	if pr.family == 4 {
		return csumAdd(uint32(pr.proto)+uint32(l4len), f[l3+12:l3+20])
	}
	return csumAdd(uint32(pr.proto)+uint32(l4len>>16)+uint32(l4len&0xFFFF), f[l3+8:l3+40])
}
