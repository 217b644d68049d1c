package fallback

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Pacer is the software pacer for one target. Get, Put, Enqueue and
// Dequeue are called from one goroutine; Counters and Stats from any.
type Pacer struct {
	cfg      Config
	log      *slog.Logger
	classes  []*class
	byName   map[string]int
	dflt     *class // class of frames no rule matches
	rules    []rule
	tss      tupleSpace // classifies new flows by rules
	ruleSt   []ruleStats
	rulePub  []pubRule
	policers []policer
	cache    flowCache
	seed     uint64
	pool     pool
	s        sched

	fastPending []FastFlow // offers not yet taken by FastFlows
	fastRefused uint64     // offers refused: fastPending was full
	lastUrgent  int64      // ns: the last arrival of a class that bounds delay (0: none)
	slow        *slowLink  // best-effort segment cutting on a slow port

	// scan makes classify scan the rules instead of searching the tuple
	// space: New sets it for at most scanMaxRules rules; tests and
	// benchmarks set it to compare the two.
	scan bool

	// dirtyRules are the indexes of the rules whose ruleStats changed
	// since the last publish (each once: ruleStats.dirty); its capacity
	// is len(rules), so appending never allocates.
	dirtyRules   []int32
	sincePublish int
	lastPublish  int64 // ns
	poolMiss     uint64
	pub          pubStats
}

type pubStats struct {
	poolMiss, cacheHits, cacheMisses, cacheEvictions, cacheBypass, fastRefused atomic.Uint64
}

// Stats are pacer-wide counters (a local addition to the contract).
type Stats struct {
	PoolExhausted  uint64 // Get calls that returned nil
	FlowCacheHits  uint64
	FlowCacheMiss  uint64
	FlowCacheEvict uint64 // live entries evicted by a full set
	// FlowCacheBypass counts new flows left out of the cache because their
	// set held only live entries they may not evict: established flows
	// of classes that bound delay, or for a best-effort flow any flow of
	// such a class. Their packets are classified one by one.
	FlowCacheBypass uint64
	// FastRefused counts flows that qualified for the fast path but were
	// not offered: too many offers were waiting for FastFlows.
	FastRefused uint64
	// SlowLink counts the slow-link treatment of best-effort frames.
	SlowLink SlowLinkStats
}

// Stats returns pacer-wide counters; safe from any goroutine.
func (p *Pacer) Stats() Stats {
	return Stats{
		PoolExhausted: p.pub.poolMiss.Load(), FlowCacheHits: p.pub.cacheHits.Load(),
		FlowCacheMiss: p.pub.cacheMisses.Load(), FlowCacheEvict: p.pub.cacheEvictions.Load(),
		FlowCacheBypass: p.pub.cacheBypass.Load(),
		FastRefused:     p.pub.fastRefused.Load(),
		SlowLink:        p.slow.stats(),
	}
}

// unmatchedClass names the PassUnmatched pseudo-class in Counters.
const unmatchedClass = "(unmatched)"

// New builds a pacer from the plan: classes from tp.Classes, rules from
// tp.Rules placed on the pacer (offload.Pacer), evaluated in ascending
// Precedence. Frames no rule matches go to the lowest-priority class (the
// first of them in plan order), or, with cfg.PassUnmatched, unshaped and
// unmarked at priority 0.
func New(tp *offload.TargetPlan, cfg Config) (*Pacer, error) {
	if tp == nil {
		return nil, errors.New("pacer: nil plan")
	}
	cfg.setDefaults()
	if cfg.PortRate == 0 && tp.Pacer != nil {
		cfg.PortRate = tp.Pacer.PortRate
	}
	if cfg.SlowLink == nil && tp.Pacer != nil {
		cfg.SlowLink = tp.Pacer.SlowLink
	}
	if len(tp.Classes) == 0 {
		return nil, fmt.Errorf("pacer %s: plan has no classes", tp.Target)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	p := &Pacer{cfg: cfg, log: logger.With("pacer", tp.Target), byName: make(map[string]int), seed: rand.Uint64()}
	port := uint64(cfg.PortRate)
	for _, cp := range tp.Classes {
		if _, dup := p.byName[cp.Name]; dup {
			return nil, fmt.Errorf("pacer %s: class %q appears twice", tp.Target, cp.Name)
		}
		c, err := newClass(cp, port, cfg.MaxDelay)
		if err != nil {
			return nil, fmt.Errorf("pacer %s: %w", tp.Target, err)
		}
		c.idx = len(p.classes)
		p.byName[cp.Name] = len(p.classes)
		p.classes = append(p.classes, c)
		if p.dflt == nil || cp.Priority < p.dflt.plan.Priority {
			p.dflt = c
		}
	}
	if cfg.PassUnmatched {
		c, err := newClass(offload.ClassPlan{Name: unmatchedClass, Weight: 1, MaxSDU: 1518}, port, cfg.MaxDelay)
		if err != nil {
			return nil, err
		}
		c.pass = true
		c.idx = len(p.classes)
		p.classes = append(p.classes, c)
		p.dflt = c
	}
	resolve := cfg.IfIndex
	if resolve == nil {
		resolve = defaultResolve
	}
	if err := p.compileRules(tp, p.byName, resolve); err != nil {
		return nil, fmt.Errorf("pacer %s: %w", tp.Target, err)
	}
	p.tss = newTupleSpace(p.rules, p.seed)
	p.scan = len(p.rules) <= scanMaxRules
	p.ruleSt = make([]ruleStats, len(p.rules))
	p.dirtyRules = make([]int32, 0, len(p.rules))
	p.rulePub = make([]pubRule, len(p.rules))
	p.cache = newFlowCache(cfg.FlowEntries, int64(cfg.FlowIdle), p.seed)
	if port != 0 {
		b, err := newBucket(port, PortDepth(port), 0)
		if err != nil {
			return nil, fmt.Errorf("pacer %s: port rate: %w", tp.Target, err)
		}
		p.s.port, p.s.portLim = b, true
	}
	for _, c := range p.classes {
		c.fast = p.fastOK(c)
	}
	if p.FastPath() {
		p.fastPending = make([]FastFlow, 0, maxFastPending)
	}
	p.slow = &slowLink{}
	if sl := cfg.SlowLink; sl != nil && !cfg.NoSlowLink {
		p.slow = newSlowLink(sl)
	}
	p.s.timers = make(timerHeap, 0, len(p.classes))
	packets := cfg.Packets
	if packets <= 0 {
		var sum int64
		for _, c := range p.classes {
			sum += c.conf.limit + c.nc.limit
		}
		packets = int(min(max(sum/1500+256, 256), 4096))
	}
	p.pool = pool{limit: packets, headroom: cfg.Headroom, maxFrame: cfg.MaxFrame, free: make([]*Packet, 0, packets)}
	p.cfg.Packets = packets
	return p, nil
}

// Get returns a packet from the pool, nil when it is exhausted.
func (p *Pacer) Get() *Packet {
	pkt := p.pool.get()
	if pkt == nil {
		p.poolMiss++
		p.sincePublish = publishEvery // publish soon
	}
	return pkt
}

// Put returns a packet to the pool.
func (p *Pacer) Put(pkt *Packet) { p.pool.put(pkt) }

// Enqueue takes ownership of pkt: classify (flow cache), meter, mark, and
// queue or drop it (a dropped packet goes back to the pool and is
// counted). now is monotonic ns, read once per batch by the caller.
func (p *Pacer) Enqueue(pkt *Packet, now int64) {
	var pr parsed
	f := pkt.Frame()
	parse(f, &pr)
	wire := pkt.wireLen(&pr)
	pkt.wire = int32(wire)
	c, r := p.classOf(pkt, &pr, now)
	if c.urgent {
		p.lastUrgent = now
	} else if p.slow.frame > 0 {
		p.enqueueSlow(pkt, &pr, c, r, now)
		return
	}
	p.admit(pkt, &pr, c, r, now, wire)
}

// admit meters, marks and queues (or drops) pkt, parsed as pr, of class c
// and rule r (nil: none); pkt.wire is its wire length. The queue bound is
// checked as if bound bytes arrived (the whole frame pkt was cut from, so
// that its pieces are taken or refused together), and not at all when
// bound is 0 (a later piece of a frame whose first piece was taken). It
// reports whether pkt was queued.
func (p *Pacer) admit(pkt *Packet, pr *parsed, c *class, r *rule, now int64, bound int) bool {
	f := pkt.Frame()
	wire := int(pkt.wire)
	segs, seg := pkt.segments(pr)
	var v verdict
	p.meter(&v, c, r, wire, segs, seg, now)
	if v.drop {
		p.dropPkt(c, pkt, wire)
		return false
	}
	pkt.cost = int32(v.cost)
	e := &c.conf
	if v.nc {
		e = &c.nc
	}

	// Bound the queue: tail drop, ECT packets CE-marked instead above half
	// the bound and dropped only above twice it. Credit taken for a packet
	// dropped here goes back to its meters.
	ect := ecnCapable(pr)
	qb := e.q.bytes + int64(bound)
	if bound > 0 && !e.q.empty() && (qb > e.limit && !ect || qb > 2*e.limit) {
		v.refund()
		if !v.nc {
			c.st.queueDrops++
		}
		p.dropPkt(c, pkt, wire)
		return false
	}
	if ect && qb > e.limit/2 {
		setCE(f, pr)
	}

	if !c.pass {
		setDSCP(f, pr, v.mark.DSCP&63)
		if grow := pkt.setPCP(pr, v.mark.PCP); grow != 0 {
			pkt.wire += int32(grow * segs)
			pkt.cost += int32(grow * segs)
		}
	}

	if v.nc {
		c.st.ncPkts++
		c.st.ncBytes += uint64(pkt.wire)
	} else if c.metered && !e.shaped {
		c.st.confPkts++
		c.st.confBytes += uint64(pkt.wire)
	}
	c.dirty = true
	e.q.push(pkt)
	p.s.activate(e)
	if p.sincePublish++; p.sincePublish >= publishEvery {
		p.publishAll()
	}
	return true
}

// classOf finds the frame's class and rule (nil when none matched) through
// the flow cache, classifying on a miss, sets pkt.hash and counts the
// frame (pkt.wire bytes) for its rule. A flow is offered to the fast path
// when it enters the cache (not when the cache bypasses it, which would
// offer it again with every packet).
func (p *Pacer) classOf(pkt *Packet, pr *parsed, now int64) (*class, *rule) {
	var key flowKey
	key.set(pr, pkt.IfIndex)
	h := key.hash(p.cache.seed)
	ent := p.cache.lookup(&key, h, now)
	if ent == nil {
		ri := p.classify(pr, pkt.IfIndex)
		c := p.dflt
		if ri >= 0 {
			c = p.rules[ri].cls
		}
		var cached bool
		ent, cached = p.cache.insert(&key, h, now, c.urgent)
		ent.rule = int32(ri)
		ent.fhash = key.flowHash(p.seed)
		if cached && p.fastPending != nil {
			p.offerFast(pr, ent.rule)
		}
	}
	pkt.hash = ent.fhash
	if ent.rule < 0 {
		return p.dflt, nil
	}
	r := &p.rules[ent.rule]
	st := &p.ruleSt[ent.rule]
	st.pkts++
	st.bytes += uint64(pkt.wire)
	if !st.dirty {
		st.dirty = true
		p.dirtyRules = append(p.dirtyRules, ent.rule)
	}
	return r.cls, r
}

// segments returns the number of segments of a GSO frame (1 otherwise) and
// the largest one's size in bytes, which MaxSDU is checked against.
func (p *Packet) segments(pr *parsed) (segs, seg int) {
	if g := p.gso(); g > 0 && pr.hdrEnd > 0 && p.n-pr.hdrEnd > g {
		return (p.n - pr.hdrEnd + g - 1) / g, pr.hdrEnd + g
	}
	return 1, p.n
}

// verdict is the meters' decision on one packet.
type verdict struct {
	drop bool
	nc   bool         // non-conforming: borrow tier, non-conforming mark
	mark offload.Mark // to write (unless the class passes unmarked)
	cost int          // bytes the class meter charges (shape: at departure)
	// credit taken, to refund if the queue then refuses the packet
	took     *meter
	tookCost int64
	pol      *meter
	polCost  int64
}

func (v *verdict) refund() {
	if v.took != nil {
		v.took.refund(v.tookCost)
	}
	if v.pol != nil {
		v.pol.refund(v.polCost)
	}
}

// meter applies the rule's policer, then the class meter per the class's
// mode (borrow and discard decide at arrival; shape at departure), into v
// (zero on entry; filled through the pointer, as a returned struct costs a
// copy and a store-forwarding stall per packet).
func (p *Pacer) meter(v *verdict, c *class, r *rule, wire, segs, seg int, now int64) {
	v.mark, v.cost = c.plan.Mark, wire
	if r != nil {
		v.mark = r.mark
		if r.police >= 0 {
			pol := &p.policers[r.police]
			cost := pol.m.cost(wire, segs)
			pol.m.fill(now)
			switch {
			case int64(seg) <= pol.m.maxSDU && pol.m.conforms(cost):
				pol.m.take(cost)
				v.pol, v.polCost = &pol.m, cost
			case pol.drop:
				v.drop = true
				return
			default:
				v.nc, v.mark = true, offload.Mark{DSCP: pol.dscp, PCP: pol.pcp}
				return
			}
		}
	}
	if !c.metered {
		return
	}
	cost := c.m.cost(wire, segs)
	v.cost = int(cost)
	switch {
	case int64(seg) > c.maxSDU: // never conforms
		if c.mode != model.Borrow {
			v.refund()
			v.drop = true
			return
		}
	case c.mode == model.Shape:
		return
	default:
		c.m.fill(now)
		if c.m.conforms(cost) {
			c.m.take(cost)
			v.took, v.tookCost = &c.m, cost
			return
		}
		if c.mode == model.Discard {
			v.refund()
			v.drop = true
			return
		}
	}
	v.nc, v.mark = true, c.plan.MarkNonConforming
}

func (p *Pacer) dropPkt(c *class, pkt *Packet, wire int) {
	c.drop(wire)
	p.pool.put(pkt)
	if p.sincePublish++; p.sincePublish >= publishEvery {
		p.publishAll()
	}
}

func (p *Pacer) publishAll() {
	p.publish()
	p.pub.poolMiss.Store(p.poolMiss)
	p.pub.cacheHits.Store(p.cache.hits)
	p.pub.cacheMisses.Store(p.cache.misses)
	p.pub.cacheEvictions.Store(p.cache.evictions)
	p.pub.cacheBypass.Store(p.cache.bypassed)
	p.pub.fastRefused.Store(p.fastRefused)
	p.slow.publish()
}

// Dequeue moves up to len(out) packets that may leave at now into out, in
// scheduler order, and returns how many and the earliest time (ns) at
// which more could leave (0 when nothing is queued). The caller sends them
// and Puts them back. Packets leave at most at the port rate, with a burst
// of 2 ms of it so that a caller that oversleeps catches up.
func (p *Pacer) Dequeue(now int64, out []*Packet) (n int, next int64) {
	s := &p.s
	s.release(now)
	if s.portLim {
		s.port.fill(now)
	}
	for n < len(out) {
		if s.portLim && s.port.tokens < 0 {
			break
		}
		pkt := s.next(now)
		if pkt == nil {
			break
		}
		if s.portLim {
			s.port.take(int64(pkt.wire))
		}
		out[n] = pkt
		n++
	}
	// Publish counters when the caller drained what may leave, and at
	// least every publishInterval under load (atomic stores cost ~20
	// cycles each: per batch they would be a fifth of the decision cost).
	if (n < len(out) || len(out) == 0 || now-p.lastPublish >= publishInterval) && (n > 0 || p.sincePublish > 0) {
		p.publishAll()
		p.lastPublish = now
	}
	return n, s.wake(now)
}

// PortDepth is the port bucket's depth in bytes for a port of rate bit/s:
// 2 ms at the rate, at least two 1514-byte frames. A caller that wakes late
// catches up by at most this much; a frame of a higher class arriving just
// after such a burst waits behind it.
func PortDepth(rate uint64) uint64 { return max(rate/8*2/1000, 2*1514) }

// FlowIdle is how long a flow cache entry lives without traffic
// (Config.FlowIdle).
func (p *Pacer) FlowIdle() time.Duration { return p.cfg.FlowIdle }

// FlowEntries is the flow cache's size in entries (Config.FlowEntries).
func (p *Pacer) FlowEntries() int { return p.cfg.FlowEntries }

// PortRate returns the scheduler's rate in bit/s (0: unlimited).
func (p *Pacer) PortRate() model.Rate { return p.cfg.PortRate }
