package fallback

import (
	"fmt"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Queue and DRR sizing.
const (
	flowSubqueues   = 1024 // per-flow sub-queues of a class's conforming queue
	borrowSubqueues = 64   // of its borrow queue
	baseQuantum     = 1514 // bytes per DRR round per unit of Weight
	noRateLimit     = 4 << 20
)

// class is one ClassPlan as the pacer runs it.
type class struct {
	plan    offload.ClassPlan
	name    string
	mode    model.Mode
	metered bool  // has a Rate (or Peak)
	m       meter // class meter, when metered
	rate    uint64
	maxSDU  int64
	conf    entry // conforming queue, level 1+Priority
	nc      entry // borrow queue, level 0
	pass    bool  // the PassUnmatched pseudo-class: no metering, no marking
	idx     int   // index in Pacer.classes
	fast    bool  // its flows may take the fast path (Pacer.fastOK)
	urgent  bool  // its service type bounds delay (CoalesceArrivals)
	st      classStats
	pub     *pubClass
	dirty   bool
}

// newClass builds a class from its plan. portRate is bit/s, 0 unlimited.
func newClass(cp offload.ClassPlan, portRate uint64, maxDelay time.Duration) (*class, error) {
	c := &class{plan: cp, name: cp.Name, mode: cp.NonConforming, maxSDU: int64(cp.MaxSDU), urgent: cp.Service.BoundsDelay(), pub: new(pubClass)}
	if c.maxSDU <= 0 {
		c.maxSDU = 1518
	}
	if c.mode == "" {
		c.mode = model.Shape
	}
	rate := uint64(cp.EffectiveRate)
	if rate == 0 {
		rate = uint64(cp.Rate)
	}
	c.rate = rate
	if rate != 0 {
		depth := uint64(cp.Bucket)
		if depth == 0 {
			depth = max(2*uint64(c.maxSDU), rate/8/100)
		}
		b, err := newBucket(rate, depth, 0)
		if err != nil {
			return nil, fmt.Errorf("class %q: rate: %w", cp.Name, err)
		}
		c.m = meter{commit: b, minPoliced: int64(cp.MinPoliced), maxSDU: c.maxSDU}
		c.metered = true
		if cp.Peak != 0 {
			pb, err := newBucket(uint64(cp.Peak), uint64(c.maxSDU), 0)
			if err != nil {
				return nil, fmt.Errorf("class %q: peak: %w", cp.Name, err)
			}
			c.m.peak, c.m.hasPeak = pb, true
		}
	}
	weight := int64(cp.Weight)
	if weight <= 0 {
		weight = 1
	}
	q := max(baseQuantum, c.maxSDU)
	c.conf = entry{
		q: newFqueue(flowSubqueues, q), cls: c, level: 1 + int(min(cp.Priority, 7)),
		shaped: c.metered && c.mode == model.Shape, quantum: weight * baseQuantum,
		limit: queueLimit(rate, portRate, maxDelay, c.maxSDU),
	}
	// Every class has a borrow queue: borrow-mode classes put their
	// non-conforming packets there, and a rule's policer its demoted ones.
	c.nc = entry{
		q: newFqueue(borrowSubqueues, q), cls: c, level: 0, quantum: weight * baseQuantum,
		limit: queueLimit(0, portRate, maxDelay, c.maxSDU),
	}
	return c, nil
}

// queueLimit is maxDelay worth of bytes at rate (else the port rate), at
// least two MaxSDU; noRateLimit bytes when neither rate is known.
func queueLimit(rate, portRate uint64, maxDelay time.Duration, maxSDU int64) int64 {
	if rate == 0 {
		rate = portRate
	}
	if rate == 0 {
		return noRateLimit
	}
	// rate <= 1e13 and maxDelay in ns: split to avoid overflow.
	d := uint64(maxDelay)
	l := rate/8*(d/1e9) + rate/8*(d%1e9)/1e9
	return max(int64(l), 2*maxSDU)
}

// sent accounts a packet leaving from e.
func (c *class) sent(pkt *Packet, e *entry) {
	c.st.pkts++
	c.st.bytes += uint64(pkt.wire)
	if e.delayed {
		e.delayed = false
		c.st.ncPkts++
		c.st.ncBytes += uint64(pkt.wire)
	} else if e.shaped {
		c.st.confPkts++
		c.st.confBytes += uint64(pkt.wire)
	}
	c.dirty = true
}

func (c *class) drop(wire int) {
	c.st.drops++
	c.st.dropBytes += uint64(wire)
	c.dirty = true
}
