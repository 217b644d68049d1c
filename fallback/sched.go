package fallback

import "math/bits"

// Scheduler levels: level 0 is the borrow tier (non-conforming packets of
// borrow classes, served after all conforming traffic); level 1+p holds
// the conforming queues of classes of Priority p (0-7).
const numLevels = 9

// entry is one schedulable queue: a class's conforming queue or its borrow
// queue. Entries of one level share it by deficit round robin with quantum
// Weight*baseQuantum bytes.
type entry struct {
	q       fqueue
	cls     *class
	level   int
	shaped  bool  // packets wait for the class meter (shape mode)
	limit   int64 // queue bound, bytes
	quantum int64
	deficit int64
	next    *entry // ring link
	inRing  bool
	waiting bool  // in the timer heap until at
	delayed bool  // the shaper held the head back (counts non-conforming)
	at      int64 // ns when a waiting entry becomes eligible
	hidx    int
}

// ring is a level's FIFO of backlogged, eligible entries.
type ring struct{ head, tail *entry }

// timerHeap orders waiting shaped entries by eligible time. It is the
// timing structure packets are released from in batches: Dequeue moves
// every due entry back to its ring at once.
type timerHeap []*entry

func (h *timerHeap) push(e *entry) {
	*h = append(*h, e)
	i := len(*h) - 1
	e.hidx = i
	h.up(i)
}

func (h *timerHeap) pop() *entry {
	old := *h
	e := old[0]
	last := len(old) - 1
	old[0] = old[last]
	old[0].hidx = 0
	old[last] = nil
	*h = old[:last]
	if last > 0 {
		h.down(0)
	}
	return e
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		h[p].hidx, h[i].hidx = p, i
		i = p
	}
}

func (h timerHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].at < h[l].at {
			m = r
		}
		if h[i].at <= h[m].at {
			return
		}
		h[i], h[m] = h[m], h[i]
		h[i].hidx, h[m].hidx = i, m
		i = m
	}
}

// sched is the scheduler under the port rate: strict priority between
// levels (higher first), DRR between the entries of a level, DRR between
// flows inside an entry, shaped entries parked in a timer heap until their
// meter lets the head packet go.
type sched struct {
	levels  [numLevels]ring
	mask    uint16 // bit l set when levels[l] is not empty
	timers  timerHeap
	port    bucket
	portLim bool // port rate limited
}

func (s *sched) addRing(e *entry) {
	e.next = nil
	e.inRing = true
	r := &s.levels[e.level]
	if r.tail == nil {
		r.head = e
	} else {
		r.tail.next = e
	}
	r.tail = e
	s.mask |= 1 << e.level
}

// removeHead takes the head entry off its ring.
func (s *sched) removeHead(l int) *entry {
	r := &s.levels[l]
	e := r.head
	r.head = e.next
	if r.head == nil {
		r.tail = nil
		s.mask &^= 1 << l
	}
	e.next = nil
	e.inRing = false
	return e
}

// rotate moves the head entry of level l to its back.
func (s *sched) rotate(l int) {
	r := &s.levels[l]
	if r.head == r.tail {
		return
	}
	e := r.head
	r.head = e.next
	e.next = nil
	r.tail.next = e
	r.tail = e
}

// activate puts a newly backlogged entry on its ring, unless it waits.
func (s *sched) activate(e *entry) {
	if !e.inRing && !e.waiting {
		e.deficit = e.quantum
		s.addRing(e)
	}
}

// release moves every entry due at now from the timer heap to its ring.
func (s *sched) release(now int64) {
	for len(s.timers) > 0 && s.timers[0].at <= now {
		e := s.timers.pop()
		e.waiting = false
		if !e.q.empty() {
			s.addRing(e)
		}
	}
}

// next picks the packet to send at now and removes it from its queue; nil
// when nothing may leave now. It does not check the port.
func (s *sched) next(now int64) *Packet {
	for s.mask != 0 {
		l := bits.Len16(s.mask) - 1
		e := s.levels[l].head
		pkt := e.q.peek()
		if e.shaped {
			m := &e.cls.m
			m.fill(now)
			if !m.conforms(int64(pkt.cost)) {
				s.removeHead(l)
				e.waiting, e.delayed = true, true
				e.at = now + max(m.wait(int64(pkt.cost)), 1)
				s.timers.push(e)
				continue
			}
		}
		if e.deficit <= 0 {
			e.deficit += e.quantum
			if r := &s.levels[l]; r.head != r.tail {
				s.rotate(l)
				continue
			}
			if e.deficit <= 0 { // alone on its level: no one to yield to
				e.deficit = e.quantum
			}
		}
		e.q.pop()
		e.deficit -= drrCharge(pkt)
		if e.shaped {
			e.cls.m.take(int64(pkt.cost))
		}
		if e.q.empty() {
			s.removeHead(l)
			e.deficit = 0
		}
		e.cls.sent(pkt, e)
		return pkt
	}
	return nil
}

// wake is the earliest time (ns) something queued could leave, 0 when
// nothing is queued.
func (s *sched) wake(now int64) int64 {
	var t int64
	switch {
	case s.mask != 0:
		t = now
	case len(s.timers) > 0:
		t = s.timers[0].at
	default:
		return 0
	}
	if s.portLim && s.port.tokens < 0 {
		t = max(t, now+s.port.wait(0))
	}
	return t
}
