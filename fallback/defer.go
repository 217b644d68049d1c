package fallback

import "time"

// DeferArrivals reports whether the caller may leave new frames unread in
// its receive queue for up to d (until its next release time) rather than
// wake for each arrival. It is true when some class holds a conforming
// backlog and every class at or above the highest backlogged priority is
// held back by its own meter (not by the port) with at least d of backlog
// at its rate: the class is in sustained overload, not in a burst. A frame
// arriving meanwhile then either has a lower priority or joins a class
// whose queue already holds more than d, and waits at most d more. While
// any class at or above the backlog is idle, briefly queued or waiting
// only for the port, the answer is false and its frames are served on
// arrival, so strict priority latency and a new flow's quick start under a
// short burst are unchanged.
//
// Waking per arrival costs a context switch per few frames; a pacer in
// sustained overload that reads arrivals at its release times needs one
// wake-up per release batch. Call it from the Dequeue goroutine, after
// Dequeue.
func (p *Pacer) DeferArrivals(d time.Duration) bool {
	top := -1 // highest level with a conforming backlog
	for _, c := range p.classes {
		if !c.conf.q.empty() && c.conf.level > top {
			top = c.conf.level
		}
	}
	if top < 0 {
		return false
	}
	for _, c := range p.classes {
		if c.conf.level < top {
			continue
		}
		if !c.conf.waiting || float64(c.conf.q.bytes) < float64(c.rate)/8*d.Seconds() {
			return false
		}
	}
	return true
}

// UrgentHold is how long after a frame of a class whose service type
// bounds delay (model.ServiceType.BoundsDelay) CoalesceArrivals stays
// false.
const UrgentHold = time.Second

// CoalesceArrivals reports whether the caller may leave new frames unread
// in its receive queue for a while (the datapath caps it at a few
// milliseconds) and read them in one batch, as a NIC moderates its
// interrupts, rather than wake for each arrival. It is true when no frame
// of a class whose service type bounds delay (controlled-load, guaranteed,
// network-control) has arrived in the last UrgentHold: the traffic is
// best-effort or qualitative, which asks for no delay bound. The first
// frame of an urgent class after such a quiet spell may wait once; from
// then on the answer is false and its frames are served on arrival.
//
// now is the clock of the caller's last Enqueue (ns, Now). Call it from
// the Dequeue goroutine.
func (p *Pacer) CoalesceArrivals(now int64) bool {
	return p.lastUrgent == 0 || now-p.lastUrgent > int64(UrgentHold)
}
