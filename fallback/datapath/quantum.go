package datapath

import (
	"time"

	"github.com/qosplane/qosplane/offload"
)

// MaxWakeQuantum caps WakeQuantum.
const MaxWakeQuantum = 500 * time.Microsecond

// WakeQuantum returns the shortest timed sleep of the shaping loop that
// loses no rate for plan tp: frames released late by up to the quantum
// leave together on the credit their buckets kept meanwhile, so the quantum
// must fit in every class bucket (Bucket - MaxSDU at Rate, halved for
// margin) and in the one-frame peak bucket (MaxSDU at Peak). Arrivals still
// wake the loop at once, so a frame that may leave on arrival is not
// delayed. Fewer wake-ups is what keeps the CPU cost per shaped megabit low.
func WakeQuantum(tp *offload.TargetPlan) time.Duration {
	q := MaxWakeQuantum
	if tp == nil {
		return 0
	}
	for _, c := range tp.Classes {
		rate := c.EffectiveRate
		if rate == 0 {
			rate = c.Rate
		}
		if rate != 0 {
			room := int64(c.Bucket) - int64(c.MaxSDU)
			if room <= 0 {
				return 0
			}
			q = min(q, time.Duration(float64(room)*8/float64(rate)*1e9/2))
		}
		if c.Peak != 0 {
			q = min(q, time.Duration(float64(c.MaxSDU)*8/float64(c.Peak)*1e9))
		}
	}
	return max(q, 0)
}
