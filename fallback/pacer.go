package fallback

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"

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
	ruleSt   []ruleStats
	rulePub  []pubRule
	policers []policer
	cache    flowCache
	seed     uint64
	pool     pool
	s        sched

	rulesDirty   bool
	sincePublish int
	lastPublish  int64 // ns
	poolMiss     uint64
	pub          pubStats
}

type pubStats struct {
	poolMiss, cacheHits, cacheMisses, cacheEvictions atomic.Uint64
}

// Stats are pacer-wide counters (a local addition to the contract).
type Stats struct {
	PoolExhausted  uint64 // Get calls that returned nil
	FlowCacheHits  uint64
	FlowCacheMiss  uint64
	FlowCacheEvict uint64 // live entries evicted by a full set
}

// Stats returns pacer-wide counters; safe from any goroutine.
func (p *Pacer) Stats() Stats {
	return Stats{
		PoolExhausted: p.pub.poolMiss.Load(), FlowCacheHits: p.pub.cacheHits.Load(),
		FlowCacheMiss: p.pub.cacheMisses.Load(), FlowCacheEvict: p.pub.cacheEvictions.Load(),
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
	if len(tp.Classes) == 0 {
		return nil, fmt.Errorf("pacer %s: plan has no classes", tp.Target)
	}
	p := &Pacer{cfg: cfg, log: slog.Default().With("pacer", tp.Target), byName: make(map[string]int), seed: rand.Uint64()}
	port := uint64(cfg.PortRate)
	for _, cp := range tp.Classes {
		if _, dup := p.byName[cp.Name]; dup {
			return nil, fmt.Errorf("pacer %s: class %q appears twice", tp.Target, cp.Name)
		}
		c, err := newClass(cp, port, cfg.MaxDelay)
		if err != nil {
			return nil, fmt.Errorf("pacer %s: %w", tp.Target, err)
		}
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
	p.ruleSt = make([]ruleStats, len(p.rules))
	p.rulePub = make([]pubRule, len(p.rules))
	p.cache = newFlowCache(cfg.FlowEntries, int64(cfg.FlowIdle), p.seed)
	if port != 0 {
		depth := max(port/8*2/1000, 2*1514) // 2 ms at the port rate
		b, err := newBucket(port, depth, 0)
		if err != nil {
			return nil, fmt.Errorf("pacer %s: port rate: %w", tp.Target, err)
		}
		p.s.port, p.s.portLim = b, true
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
	key := makeKey(&pr, pkt.IfIndex)
	ent, hit := p.cache.lookup(&key, now)
	if !hit {
		ent.rule = int32(p.classify(&pr, pkt.IfIndex))
		ent.fhash = key.flowHash(p.seed)
	}
	pkt.hash = ent.fhash
	c := p.dflt
	var r *rule
	if ent.rule >= 0 {
		r = &p.rules[ent.rule]
		c = p.classes[r.class]
	}
	wire := pkt.wireLen(&pr)
	segs, seg := 1, pkt.n
	if g := pkt.gso(); g > 0 && pr.hdrEnd > 0 && pkt.n-pr.hdrEnd > g {
		segs = (pkt.n - pr.hdrEnd + g - 1) / g
		seg = pr.hdrEnd + g
	}
	pkt.wire = int32(wire)
	if r != nil {
		st := &p.ruleSt[ent.rule]
		st.pkts++
		st.bytes += uint64(wire)
		p.rulesDirty = true
	}

	nc, byPolicer := false, false
	var ncDSCP, ncPCP uint8
	if r != nil && r.police >= 0 {
		pol := &p.policers[r.police]
		cost := pol.m.cost(wire, segs)
		pol.m.fill(now)
		switch {
		case int64(seg) <= pol.m.maxSDU && pol.m.conforms(cost):
			pol.m.take(cost)
		case pol.drop:
			p.dropPkt(c, pkt, wire)
			return
		default:
			nc, byPolicer, ncDSCP, ncPCP = true, true, pol.dscp, pol.pcp
		}
	}
	cost := wire
	if c.metered {
		cost = int(c.m.cost(wire, segs))
		if int64(seg) > c.maxSDU { // never conforms
			if c.mode != model.Borrow {
				p.dropPkt(c, pkt, wire)
				return
			}
			nc = true
		} else if c.mode != model.Shape && !nc {
			c.m.fill(now)
			if c.m.conforms(int64(cost)) {
				c.m.take(int64(cost))
			} else if c.mode == model.Discard {
				p.dropPkt(c, pkt, wire)
				return
			} else {
				nc = true
			}
		}
	}
	pkt.cost = int32(cost)

	e := &c.conf
	if nc {
		e = &c.nc
		if !byPolicer {
			ncDSCP, ncPCP = c.plan.MarkNonConforming.DSCP, c.plan.MarkNonConforming.PCP
		}
	}

	// Bound the queue: tail drop, ECT packets CE-marked instead above half
	// the bound and dropped only above twice it.
	ect := ecnCapable(&pr)
	qb := e.q.bytes + int64(wire)
	if !e.q.empty() && (qb > e.limit && !ect || qb > 2*e.limit) {
		p.dropPkt(c, pkt, wire)
		return
	}
	if ect && qb > e.limit/2 {
		setCE(f, &pr)
	}

	if !c.pass {
		dscp, pcp := c.plan.Mark.DSCP, c.plan.Mark.PCP
		if nc {
			dscp, pcp = ncDSCP, ncPCP
		} else if r != nil {
			if r.setDSCP >= 0 {
				dscp = uint8(r.setDSCP)
			}
			if r.setPCP >= 0 {
				pcp = uint8(r.setPCP)
			}
		}
		setDSCP(f, &pr, dscp&63)
		if grow := pkt.setPCP(&pr, pcp); grow != 0 {
			pkt.wire += int32(grow * segs)
			pkt.cost += int32(grow * segs)
		}
	}

	if nc {
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

// PortRate returns the scheduler's rate in bit/s (0: unlimited).
func (p *Pacer) PortRate() model.Rate { return p.cfg.PortRate }
