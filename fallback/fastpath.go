package fallback

import "encoding/binary"

// A fast path is a forwarder outside the pacer (the datapath's tc BPF
// program) that carries the packets of flows the pacer would pass straight
// through anyway, so that they skip the copy into and out of the pacer.
//
// A flow qualifies when nothing the pacer does to it depends on time or on
// other traffic: its class has no rate or peak (no meter), its rule has no
// policer, the port is not rate limited (Config.PortRate 0, so nothing is
// ever held back for the port), and its marking is a fixed DSCP with no
// 802.1p tag to write. Its packets then leave the pacer the moment they
// arrive, in arrival order, with the same DSCP: the fast path does the same
// without the copies. The pacer offers such a flow when it classifies the
// flow's first packet (a flow cache miss) and the caller takes the offers
// with FastFlows; the caller credits the fast path's counts back with
// AddFast so that Counters still account for every packet.

// FastFlow is one flow offered to the fast path: the key its packets
// arrive with and what to do to them.
type FastFlow struct {
	// Family is 4 or 6; Proto is 6 (TCP) or 17 (UDP).
	Family, Proto uint8
	// DSCP is the DSCP the flow's packets arrive with (part of the key: a
	// rule may match on it).
	DSCP uint8
	// Src and Dst are the addresses, IPv4 in the first four bytes and the
	// rest zero; ports are host order.
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	// Rewrite says to write Mark as the packets' DSCP (ECN bits kept);
	// false leaves the DSCP as it is (the PassUnmatched class).
	Rewrite bool
	Mark    uint8
	// Class and Rule identify the flow's class and rule for AddFast (Rule
	// -1 when no rule matched).
	Class, Rule int
}

// maxFastPending bounds the offers waiting for FastFlows: a flow offered
// past it stays on the slow path until its flow cache entry expires.
const maxFastPending = 256

// fastOK reports whether the class's flows may take the fast path.
func (p *Pacer) fastOK(c *class) bool {
	return p.cfg.FastPath && !p.s.portLim && !c.metered
}

// offerFast queues the flow of a frame just classified (flow cache miss)
// to rule ri (-1 none) for the fast path if it qualifies.
func (p *Pacer) offerFast(pr *parsed, ri int32) {
	c, police, mark := p.dflt, -1, p.dflt.plan.Mark
	if ri >= 0 {
		r := &p.rules[ri]
		c, police, mark = r.cls, r.police, r.mark
	}
	if !c.fast || police >= 0 || pr.tagOff >= 0 || !pr.hasPort ||
		(pr.proto != protoTCP && pr.proto != protoUDP) || (pr.family != 4 && pr.family != 6) {
		return
	}
	if !c.pass && mark.PCP != 0 {
		return
	}
	if len(p.fastPending) >= maxFastPending {
		p.fastRefused++
		return
	}
	f := FastFlow{
		Family: pr.family, Proto: pr.proto, DSCP: pr.tos >> 2,
		SrcPort: pr.sport, DstPort: pr.dport,
		Rewrite: !c.pass, Mark: mark.DSCP & 63, Class: c.idx, Rule: int(ri),
	}
	if pr.family == 4 {
		binary.BigEndian.PutUint32(f.Src[:], uint32(pr.srcLo))
		binary.BigEndian.PutUint32(f.Dst[:], uint32(pr.dstLo))
	} else {
		binary.BigEndian.PutUint64(f.Src[:], pr.srcHi)
		binary.BigEndian.PutUint64(f.Src[8:], pr.srcLo)
		binary.BigEndian.PutUint64(f.Dst[:], pr.dstHi)
		binary.BigEndian.PutUint64(f.Dst[8:], pr.dstLo)
	}
	p.fastPending = append(p.fastPending, f)
}

// FastFlows appends the flows offered since the last call to dst and
// returns it. Call it from the goroutine that calls Enqueue, after sending
// the batch that held the flows' first packets, so that a flow's later
// packets taking the fast path cannot overtake those.
func (p *Pacer) FastFlows(dst []FastFlow) []FastFlow {
	dst = append(dst, p.fastPending...)
	p.fastPending = p.fastPending[:0]
	return dst
}

// FastPath reports whether any class's flows may take the fast path (the
// caller need not set one up otherwise).
func (p *Pacer) FastPath() bool {
	for _, c := range p.classes {
		if c.fast {
			return true
		}
	}
	return false
}

// AddFast credits pkts frames of bytes L2 bytes (each segment of a GSO
// frame counted with its headers) that the fast path forwarded for a flow
// of class and rule (as in FastFlow). Safe from any goroutine.
func (p *Pacer) AddFast(class, rule int, pkts, bytes uint64) {
	if class < 0 || class >= len(p.classes) {
		return
	}
	u := p.classes[class].pub
	u.fastPkts.Add(pkts)
	u.fastBytes.Add(bytes)
	if rule >= 0 && rule < len(p.rulePub) {
		p.rulePub[rule].fastPkts.Add(pkts)
		p.rulePub[rule].fastBytes.Add(bytes)
	}
}
