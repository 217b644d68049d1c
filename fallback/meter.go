package fallback

import (
	"fmt"
	"math"
)

// unitsPerByte scales bytes into token units: one byte is 8e9 units, so a
// bucket filling at R bit/s gains exactly R units per nanosecond and no
// rounding ever happens. An int64 holds 1.15e9 bytes of credit (maxDepth).
const unitsPerByte = 8_000_000_000

// maxDebt is the most credit, in units, a bucket may owe: two maximal
// frames. take clamps there, so depth - tokens never overflows.
const maxDebt = 2 * 65536 * unitsPerByte

// maxDepth is the deepest bucket, in bytes, that int64 token units hold
// with room for maxDebt.
const maxDepth = (math.MaxInt64 - maxDebt) / unitsPerByte

// maxCost caps the metered size of one packet, bytes (a GSO frame with a
// tiny gso_size and a large MinPoliced could otherwise overflow units).
const maxCost = 1 << 28

// maxRate is the highest rate accepted, 10 Tbit/s; rate*dt never overflows
// because dt is capped at the bucket's fill time.
const maxRate = 10_000_000_000_000

// bucket is a token bucket in integer units (see unitsPerByte). tokens may
// go below zero by at most one frame (a GSO frame larger than the depth is
// let through when the bucket is full and leaves a debt).
//
// Invariants: tokens <= depth; rate > 0; last is the time (ns) tokens were
// last brought up to date.
type bucket struct {
	rate   int64 // bit/s = units per ns
	depth  int64 // units
	tokens int64 // units
	last   int64 // ns
}

// newBucket returns a full bucket of depth bytes filling at rate bit/s.
func newBucket(rate uint64, depth uint64, now int64) (bucket, error) {
	if rate == 0 || rate > maxRate {
		return bucket{}, fmt.Errorf("rate %d bit/s out of range 1-%d", rate, uint64(maxRate))
	}
	if depth == 0 || depth > maxDepth {
		return bucket{}, fmt.Errorf("bucket %d bytes out of range 1-%d", depth, uint64(maxDepth))
	}
	d := int64(depth) * unitsPerByte
	return bucket{rate: int64(rate), depth: d, tokens: d, last: now}, nil
}

// fill brings the bucket up to date at now. A clock that steps back is
// treated as no time passing.
func (b *bucket) fill(now int64) {
	dt := now - b.last
	if dt <= 0 {
		return
	}
	b.last = now
	missing := b.depth - b.tokens // > 0 unless full; no overflow: both bounded
	if missing <= 0 {
		return
	}
	if dt >= missing/b.rate+1 {
		b.tokens = b.depth
		return
	}
	b.tokens += dt * b.rate // dt*rate <= missing+rate: no overflow
}

// need is the credit a packet of cost bytes must find: its cost, or the
// whole depth for a (GSO) frame larger than the bucket.
func (b *bucket) need(cost int64) int64 {
	return min(min(cost, maxCost)*unitsPerByte, b.depth)
}

// conforms reports whether a packet of cost bytes conforms now (after fill).
func (b *bucket) conforms(cost int64) bool { return b.tokens >= b.need(cost) }

// take spends the credit of cost bytes (at most maxCost), owing at most
// maxDebt.
func (b *bucket) take(cost int64) {
	b.tokens = max(b.tokens-min(cost, maxCost)*unitsPerByte, -maxDebt)
}

// refund returns the credit of cost bytes, up to the depth.
func (b *bucket) refund(cost int64) {
	b.tokens = min(b.tokens+min(cost, maxCost)*unitsPerByte, b.depth)
}

// wait returns the nanoseconds (after the last fill) until a packet of cost
// bytes conforms; 0 if it does now.
func (b *bucket) wait(cost int64) int64 {
	short := b.need(cost) - b.tokens
	if short <= 0 {
		return 0
	}
	return (short + b.rate - 1) / b.rate
}

// meter is a committed bucket and an optional peak bucket (depth one
// MaxSDU) with the flowspec's size rules.
type meter struct {
	commit     bucket
	peak       bucket
	hasPeak    bool
	minPoliced int64 // bytes; smaller packets count as this size
	maxSDU     int64 // bytes; larger packets (segments) never conform
}

// cost is the size a packet of wire bytes and segs segments is metered at.
func (m *meter) cost(wire int, segs int) int64 {
	c := int64(wire)
	if mp := m.minPoliced * int64(segs); c < mp {
		c = mp
	}
	return min(c, maxCost)
}

func (m *meter) fill(now int64) {
	m.commit.fill(now)
	if m.hasPeak {
		m.peak.fill(now)
	}
}

// conforms reports whether cost bytes conform to both buckets (after fill).
func (m *meter) conforms(cost int64) bool {
	return m.commit.conforms(cost) && (!m.hasPeak || m.peak.conforms(cost))
}

func (m *meter) take(cost int64) {
	m.commit.take(cost)
	if m.hasPeak {
		m.peak.take(cost)
	}
}

// refund gives back credit taken for a packet that was then not sent.
func (m *meter) refund(cost int64) {
	m.commit.refund(cost)
	if m.hasPeak {
		m.peak.refund(cost)
	}
}

// wait is the ns until cost bytes conform to both buckets.
func (m *meter) wait(cost int64) int64 {
	w := m.commit.wait(cost)
	if m.hasPeak {
		w = max(w, m.peak.wait(cost))
	}
	return w
}
