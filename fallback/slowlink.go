package fallback

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/qosplane/qosplane/offload"
)

// slowLink is the pacer's treatment of best-effort frames on a slow port
// (offload.SlowLink): their TCP connections' MSS is clamped in SYNs and
// SYN-ACKs, their TCP GSO frames are split into segments, and their IPv4
// datagrams without DF are cut into fragments of at most frame bytes. Frames of classes that bound delay are untouched.
type slowLink struct {
	frame      int    // largest best-effort frame, bytes; 0: off
	mss4, mss6 uint16 // MSS written into SYNs offering more, bytes

	st  SlowLinkStats // the shaping goroutine's counts
	pub pubSlowLink   // published copy
	// frags is scratch for the fragments of one datagram.
	frags []*Packet
	// revClamped counts ClampReverse's clamps (any goroutine).
	revClamped atomic.Uint64
}

// SlowLinkStats count what the pacer did on a slow link.
type SlowLinkStats struct {
	// MSSClamped counts best-effort SYNs and SYN-ACKs whose MSS option
	// was lowered, both ways (Enqueue and ClampReverse).
	MSSClamped uint64
	// Fragmented counts best-effort IPv4 datagrams cut, Fragments the
	// fragments they became.
	Fragmented, Fragments uint64
	// DFWhole counts best-effort IPv4 non-TCP frames larger than the
	// slow-link frame left whole because their DF flag forbids cutting.
	DFWhole uint64
	// GSOSplit counts best-effort TCP GSO frames split into their
	// Segments.
	GSOSplit, Segments uint64
	// FragDropped counts frames dropped because the packet pool could not
	// hold their fragments or segments.
	FragDropped uint64
}

type pubSlowLink struct {
	clamped, fragmented, fragments, dfWhole, gsoSplit, segments, fragDropped atomic.Uint64
}

func (s *slowLink) publish() {
	s.pub.clamped.Store(s.st.MSSClamped)
	s.pub.fragmented.Store(s.st.Fragmented)
	s.pub.fragments.Store(s.st.Fragments)
	s.pub.dfWhole.Store(s.st.DFWhole)
	s.pub.gsoSplit.Store(s.st.GSOSplit)
	s.pub.segments.Store(s.st.Segments)
	s.pub.fragDropped.Store(s.st.FragDropped)
}

func (s *slowLink) stats() SlowLinkStats {
	return SlowLinkStats{
		MSSClamped: s.pub.clamped.Load() + s.revClamped.Load(), Fragmented: s.pub.fragmented.Load(), Fragments: s.pub.fragments.Load(),
		DFWhole: s.pub.dfWhole.Load(), GSOSplit: s.pub.gsoSplit.Load(), Segments: s.pub.segments.Load(),
		FragDropped: s.pub.fragDropped.Load(),
	}
}

// TCP header fields and options.
const (
	tcpFlagSYN = 0x02
	tcpOptEnd  = 0
	tcpOptNOP  = 1
	tcpOptMSS  = 2
)

// clampMSS lowers the MSS option of a TCP SYN (or SYN-ACK) in f to mss
// when it offers more, and reports whether it did. The TCP checksum is
// fixed incrementally (RFC 1624) unless partial: then the field holds
// only the pseudo-header sum and whoever completes the checksum sums the
// new option bytes.
func clampMSS(f []byte, pr *parsed, mss uint16, partial bool) bool {
	if pr.proto != protoTCP || pr.hdrEnd <= 0 || !pr.hasPort {
		return false
	}
	t := pr.l4
	if f[t+13]&tcpFlagSYN == 0 {
		return false
	}
	for o := t + 20; o < pr.hdrEnd; {
		kind := f[o]
		switch kind {
		case tcpOptEnd:
			return false
		case tcpOptNOP:
			o++
			continue
		}
		if o+1 >= pr.hdrEnd {
			return false
		}
		l := int(f[o+1])
		if l < 2 || o+l > pr.hdrEnd {
			return false
		}
		if kind == tcpOptMSS && l == 4 {
			if binary.BigEndian.Uint16(f[o+2:]) <= mss {
				return false
			}
			var v [2]byte
			binary.BigEndian.PutUint16(v[:], mss)
			rewrite(f, t, t+16, o+2, v[:], partial)
			return true
		}
		o += l
	}
	return false
}

// rewrite writes b into f at off and updates the Internet checksum at
// csum, which covers f from start (16-bit words aligned to start), word by
// word (RFC 1624), unless partial. off may be odd relative to start.
func rewrite(f []byte, start, csum, off int, b []byte, partial bool) {
	if partial {
		copy(f[off:], b)
		return
	}
	first := off - (off-start)&1
	end := off + len(b)
	end += (end - start) & 1
	var old [8]uint16
	n := 0
	for w := first; w < end; w += 2 {
		old[n] = binary.BigEndian.Uint16(f[w:])
		n++
	}
	copy(f[off:], b)
	hc := binary.BigEndian.Uint16(f[csum:])
	for i, w := 0, first; w < end; i, w = i+1, w+2 {
		hc = csumUpdate(hc, old[i], binary.BigEndian.Uint16(f[w:]))
	}
	binary.BigEndian.PutUint16(f[csum:], hc)
}

func newSlowLink(sl *offload.SlowLink) *slowLink {
	return &slowLink{
		frame: int(sl.Frame), mss4: uint16(min(sl.MSS4, 0xFFFF)), mss6: uint16(min(sl.MSS6, 0xFFFF)),
		frags: make([]*Packet, 0, 64),
	}
}

// enqueueSlow admits a best-effort frame on a slow link: a SYN's MSS is
// clamped; a TCP GSO frame is split into its segments (the pacer would
// otherwise serve the whole burst as one unit); an IPv4 datagram (not TCP)
// larger than the slow-link frame is cut into fragments. The pieces are
// admitted one by one in the class the whole frame was classified into
// (later fragments carry no ports).
func (p *Pacer) enqueueSlow(pkt *Packet, pr *parsed, c *class, r *rule, now int64) {
	s := p.slow
	var res fragResult
	switch {
	case pr.proto == protoTCP && pkt.gso() > 0:
		s.frags, res = splitGSO(pkt, pr, p.pool.get, s.frags[:0])
		if res == fragCut {
			s.st.GSOSplit++
			s.st.Segments += uint64(1 + len(s.frags))
		}
	case pr.proto == protoTCP:
		mss := s.mss4
		if pr.family == 6 {
			mss = s.mss6
		}
		if clampMSS(pkt.Frame(), pr, mss, pkt.HasVnet && pkt.Vnet[0]&vnetFlagNeedsCsum != 0) {
			s.st.MSSClamped++
		}
	case pr.family == 4 && int(pkt.wire) > s.frame:
		s.frags, res = fragment4(pkt, pr, s.frame, p.pool.get, s.frags[:0])
		switch res {
		case fragDF:
			s.st.DFWhole++
		case fragCut:
			s.st.Fragmented++
			s.st.Fragments += uint64(1 + len(s.frags))
		}
	}
	switch res {
	case fragNoSpace:
		for _, q := range s.frags {
			p.pool.put(q)
		}
		s.st.FragDropped++
		p.dropPkt(c, pkt, int(pkt.wire))
	case fragCut:
		// The pieces are taken or refused together, against the queue
		// bound as the whole frame: a datagram missing a fragment is
		// lost anyway, and a GSO burst cut down to the bound would cost
		// TCP more than the burst did.
		whole := int(pkt.wire)
		pkt.wire = int32(pkt.n)
		parse(pkt.Frame(), pr)
		if !p.admit(pkt, pr, c, r, now, whole) {
			for _, q := range s.frags {
				p.dropPkt(c, q, q.n)
			}
			return
		}
		for _, q := range s.frags {
			var qr parsed
			parse(q.Frame(), &qr)
			q.hash = pkt.hash
			q.wire = int32(q.n)
			p.admit(q, &qr, c, r, now, 0)
		}
	default:
		p.admit(pkt, pr, c, r, now, int(pkt.wire))
	}
}

// ClampsReverse reports whether the pacer wants the reverse direction's
// frames through ClampReverse: it cuts best-effort segments on a slow link.
func (p *Pacer) ClampsReverse() bool { return p.slow.frame > 0 }

// ClampReverse clamps the MSS of a TCP SYN or SYN-ACK f travelling the
// reverse way (from the peer towards the shaped interface) when its
// connection, classified as the shaped direction sees it (addresses and
// ports swapped; the DSCP and interface are the reverse frame's), is not
// of a class that bounds delay. The MSS a peer announces is the one the
// shaped side's TCP sends with, so this is what makes the shaped side's
// best-effort segments small. vnet is the frame's virtio_net_hdr (nil:
// none). Safe from any goroutine: it reads only the pacer's rules.
func (p *Pacer) ClampReverse(f []byte, vnet *[10]byte) {
	if p.slow.frame == 0 {
		return
	}
	var pr parsed
	parse(f, &pr)
	if pr.proto != protoTCP || pr.hdrEnd == 0 || f[pr.l4+13]&tcpFlagSYN == 0 {
		return
	}
	fwd := pr
	fwd.srcHi, fwd.srcLo, fwd.dstHi, fwd.dstLo = pr.dstHi, pr.dstLo, pr.srcHi, pr.srcLo
	fwd.sport, fwd.dport = pr.dport, pr.sport
	fwd.ports = uint32(fwd.sport) | uint32(fwd.dport)<<16
	c := p.dflt
	if ri := p.classify(&fwd, 0); ri >= 0 {
		c = p.rules[ri].cls
	}
	if c.urgent {
		return
	}
	mss := p.slow.mss4
	if pr.family == 6 {
		mss = p.slow.mss6
	}
	if clampMSS(f, &pr, mss, vnet != nil && vnet[0]&vnetFlagNeedsCsum != 0) {
		p.slow.revClamped.Add(1)
	}
}
