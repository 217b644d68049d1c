package fallback

// flowQ is one per-flow sub-queue: a singly linked FIFO of packets with a
// deficit round robin balance in bytes.
type flowQ struct {
	head, tail *Packet
	deficit    int64 // bytes; may go negative by one packet
	next       int32 // next active sub-queue, -1 at the end
	active     bool
}

// fqueue is a class queue split into per-flow sub-queues by flow hash,
// served by deficit round robin (quantum bytes per round) so that one
// connection cannot starve another. Invariant: a sub-queue is on the
// active list exactly when it holds packets.
type fqueue struct {
	flows        []flowQ
	mask         uint32
	ahead, atail int32 // active list, -1 when empty
	quantum      int64 // bytes per DRR round
	bytes        int64 // wire bytes queued
	pkts         int
}

// maxCharge caps what one packet costs a DRR balance, bytes: a sane GSO
// frame's wire length is below 70 kB; a frame claiming more (a tiny
// gso_size) must not make the scheduler loop for millions of rounds.
const maxCharge = 1 << 18

func drrCharge(pkt *Packet) int64 { return min(int64(pkt.wire), maxCharge) }

func newFqueue(subqueues int, quantum int64) fqueue {
	n := 1
	for n < subqueues {
		n <<= 1
	}
	return fqueue{flows: make([]flowQ, n), mask: uint32(n - 1), ahead: -1, atail: -1, quantum: quantum}
}

func (q *fqueue) empty() bool { return q.pkts == 0 }

// push appends pkt to its flow's sub-queue.
func (q *fqueue) push(pkt *Packet) {
	i := int32(pkt.hash & q.mask)
	f := &q.flows[i]
	pkt.next = nil
	if f.tail == nil {
		f.head = pkt
	} else {
		f.tail.next = pkt
	}
	f.tail = pkt
	q.bytes += int64(pkt.wire)
	q.pkts++
	if !f.active {
		f.active = true
		f.deficit = q.quantum // a new flow starts with one quantum
		f.next = -1
		if q.atail < 0 {
			q.ahead = i
		} else {
			q.flows[q.atail].next = i
		}
		q.atail = i
	}
}

// peek returns the packet DRR serves next, advancing the round as needed
// (a sub-queue without credit gets a quantum and goes to the back); pop
// then removes exactly that packet. nil when empty.
func (q *fqueue) peek() *Packet {
	if q.ahead < 0 {
		return nil
	}
	for {
		i := q.ahead
		f := &q.flows[i]
		if f.deficit > 0 {
			return f.head
		}
		f.deficit += q.quantum
		if q.ahead != q.atail { // rotate to the back
			q.ahead = f.next
			f.next = -1
			q.flows[q.atail].next = i
			q.atail = i
		}
	}
}

// pop removes the packet peek returned.
func (q *fqueue) pop() *Packet {
	if q.ahead < 0 {
		return nil
	}
	f := &q.flows[q.ahead]
	pkt := f.head
	f.head = pkt.next
	pkt.next = nil
	f.deficit -= drrCharge(pkt)
	q.bytes -= int64(pkt.wire)
	q.pkts--
	if f.head == nil {
		f.tail = nil
		f.active = false
		f.deficit = 0
		q.ahead = f.next
		if q.ahead < 0 {
			q.atail = -1
		}
	}
	return pkt
}
