package fallback

import (
	"sync/atomic"
	"time"

	"github.com/qosplane/qosplane/offload"
)

// classStats are a class's counters as the shaping goroutine keeps them
// (plain integers: one writer, no atomic cost per packet).
type classStats struct {
	pkts, bytes         uint64 // sent
	drops, dropBytes    uint64
	confPkts, confBytes uint64
	ncPkts, ncBytes     uint64
	// queueDrops are the drops of conforming frames the class's queue had
	// no room for (drops counts them too).
	queueDrops uint64
}

// pubClass is the published copy other goroutines read. The shaping
// goroutine stores into it at the end of every Dequeue (and every
// publishEvery Enqueues), so readers lag by at most one batch.
type pubClass struct {
	pkts, bytes, drops, dropBytes, queueDrops, confPkts, confBytes, ncPkts, ncBytes, depth atomic.Uint64
	// fastPkts and fastBytes are what the fast path forwarded (AddFast).
	fastPkts, fastBytes atomic.Uint64
}

// ruleStats are a rule's counters as the shaping goroutine keeps them.
// dirty says the rule's index is in Pacer.dirtyRules: it counted packets
// since the last publish.
type ruleStats struct {
	pkts, bytes uint64
	dirty       bool
}

type pubRule struct{ pkts, bytes, fastPkts, fastBytes atomic.Uint64 }

// Counters are published after publishEvery Enqueues without a Dequeue,
// when a Dequeue call leaves nothing behind that may leave now, and at least
// every publishInterval ns of a busy pacer's clock.
const (
	publishEvery    = 256
	publishInterval = 1_000_000
)

func (p *Pacer) publish() {
	for _, c := range p.classes {
		if !c.dirty {
			continue
		}
		c.dirty = false
		s, u := &c.st, c.pub
		u.pkts.Store(s.pkts)
		u.bytes.Store(s.bytes)
		u.drops.Store(s.drops)
		u.dropBytes.Store(s.dropBytes)
		u.queueDrops.Store(s.queueDrops)
		u.confPkts.Store(s.confPkts)
		u.confBytes.Store(s.confBytes)
		u.ncPkts.Store(s.ncPkts)
		u.ncBytes.Store(s.ncBytes)
		u.depth.Store(uint64(c.conf.q.bytes + c.nc.q.bytes))
	}
	// Only the rules that counted packets since the last publish: with
	// 100,000 rules, storing every rule's counters (two atomic stores
	// each) would cost milliseconds per publish.
	for _, i := range p.dirtyRules {
		st := &p.ruleSt[i]
		st.dirty = false
		p.rulePub[i].pkts.Store(st.pkts)
		p.rulePub[i].bytes.Store(st.bytes)
	}
	p.dirtyRules = p.dirtyRules[:0]
	p.sincePublish = 0
}

// Counters returns the per-class and per-rule counters. It is safe from any
// goroutine; values lag the datapath by at most 1 ms of a busy pacer, and
// are current once a Dequeue call has returned fewer packets than asked. Packets
// and Bytes count frames sent; conforming/non-conforming count the meter's
// verdicts (for shape classes: non-conforming = held back by the shaper).
// Packets and Bytes include what a fast path forwarded (AddFast).
func (p *Pacer) Counters() *offload.Counters {
	out := &offload.Counters{
		Time:    time.Now(),
		Classes: make(map[string]offload.ClassCounters, len(p.classes)),
		Rules:   make(map[string]offload.RuleCounters, len(p.rules)),
	}
	for _, c := range p.classes {
		u := c.pub
		out.Classes[c.name] = offload.ClassCounters{
			Packets: u.pkts.Load() + u.fastPkts.Load(), Bytes: u.bytes.Load() + u.fastBytes.Load(),
			Drops: u.drops.Load(), DropBytes: u.dropBytes.Load(), QueueDrops: u.queueDrops.Load(),
			ConformingPackets: u.confPkts.Load(), ConformingBytes: u.confBytes.Load(),
			NonConformingPackets: u.ncPkts.Load(), NonConformingBytes: u.ncBytes.Load(),
			QueueDepth: u.depth.Load(), ConfiguredRate: c.plan.Rate, Where: offload.Pacer,
		}
	}
	if p.slow.frame > 0 {
		st := p.slow.stats()
		out.SlowLink = &offload.SlowLinkCounters{
			MSSClamped: st.MSSClamped, Fragmented: st.Fragmented, Fragments: st.Fragments,
			DFWhole: st.DFWhole, GSOSplit: st.GSOSplit, Segments: st.Segments, FragDropped: st.FragDropped,
		}
	}
	for i := range p.rules {
		out.Rules[p.rules[i].id] = offload.RuleCounters{
			Packets: p.rulePub[i].pkts.Load() + p.rulePub[i].fastPkts.Load(),
			Bytes:   p.rulePub[i].bytes.Load() + p.rulePub[i].fastBytes.Load(), Where: offload.Pacer,
		}
	}
	return out
}
