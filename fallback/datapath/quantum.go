package datapath

import (
	"time"

	"github.com/qosplane/qosplane/fallback"
	"github.com/qosplane/qosplane/offload"
)

// MaxWakeQuantum caps the timed sleeps that watch for arrivals. A backlog
// released late leaves in one burst, and a frame of a higher class that
// arrives just after it waits behind the burst at the port rate: this cap
// bounds that added delay.
const MaxWakeQuantum = 500 * time.Microsecond

// MaxDeferQuantum caps WakeQuantum and the timed sleeps that leave
// arrivals unread (fallback.Pacer.DeferArrivals: no class above the
// backlog is idle, so no frame can be served ahead of the burst). Frames
// of a lower priority wait at most this long in the receive socket.
const MaxDeferQuantum = 2 * time.Millisecond

// MinCoalesce is the shortest wait for which the shaping loop leaves
// arrivals unread to read them in one batch (shaper.coalesce).
const MinCoalesce = 50 * time.Microsecond

// WakeQuantum returns the shortest timed sleep of the shaping loop that
// loses no rate for plan tp: frames released late by up to the quantum
// leave together on the credit their buckets kept meanwhile, so the quantum
// must fit in every class bucket (Bucket - MaxSDU at Rate, halved for
// margin), in the one-frame peak bucket (MaxSDU at Peak) and, when the
// port can bind (a class without a rate, or the classes' rates or buckets
// adding up to more than it), in the port bucket (fallback.PortDepth - one
// frame at the port rate, halved). It is capped at MaxDeferQuantum; sleeps
// that watch for arrivals use at most MaxWakeQuantum of it, and an arrival
// wakes them at once. Fewer wake-ups is what keeps the CPU cost per shaped
// megabit low.
func WakeQuantum(tp *offload.TargetPlan) time.Duration {
	q := MaxDeferQuantum
	if tp == nil {
		return 0
	}
	fits := func(room int64, rate uint64) {
		q = min(q, time.Duration(float64(room)*8/float64(rate)*1e9/2))
	}
	// The port binds only if a class may use all of it, or the classes'
	// rates or buckets together exceed it.
	var sumRate, sumBucket uint64
	unrated := false
	for _, c := range tp.Classes {
		rate := c.EffectiveRate
		if rate == 0 {
			rate = c.Rate
		}
		if rate == 0 {
			unrated = true
		} else {
			room := int64(c.Bucket) - int64(c.MaxSDU)
			if room <= 0 {
				return 0
			}
			fits(room, uint64(rate))
			sumRate += uint64(rate)
			sumBucket += uint64(c.Bucket)
		}
		if c.Peak != 0 {
			q = min(q, time.Duration(float64(c.MaxSDU)*8/float64(c.Peak)*1e9))
		}
	}
	if tp.Pacer != nil && tp.Pacer.PortRate != 0 {
		port := uint64(tp.Pacer.PortRate)
		if depth := fallback.PortDepth(port); unrated || sumRate > port || sumBucket > depth {
			fits(int64(depth)-1514, port)
		}
	}
	return max(q, 0)
}
