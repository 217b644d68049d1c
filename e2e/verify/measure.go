package verify

import (
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// steady returns the judged windows [1, n) of a phase of duration d: the
// first second is the transient (buckets full, queues filling).
func steady(d time.Duration) (from, to int) {
	return 1, max(int(d/time.Second), 2)
}

// flow returns what the receiver saw of generator flow gi (never nil).
func (ph *Phase) flow(gi int) *vethlab.FlowResult {
	if r := ph.Got[uint16(gi)]; r != nil {
		return r
	}
	return &vethlab.FlowResult{}
}

// FlowRate is generator flow gi's achieved rate in bit/s over the steady
// windows.
func (ph *Phase) FlowRate(gi int) float64 {
	from, to := steady(ph.Duration)
	return vethlab.Mean(ph.flow(gi).WindowRates(from, to))
}

// ClassWindows is the class's rate per 1 s window in bit/s, all windows
// of the phase.
func (ph *Phase) ClassWindows(tr *Traffic, class string) []float64 {
	n := int(ph.Duration / time.Second)
	out := make([]float64, n)
	for gi, fi := range tr.GenFlow {
		if tr.Flows[fi].Class != class {
			continue
		}
		for k, v := range ph.flow(gi).WindowRates(0, n) {
			out[k] += v
		}
	}
	return out
}

// ClassRate is the class's achieved rate in bit/s over the steady windows.
func (ph *Phase) ClassRate(tr *Traffic, class string) float64 {
	from, to := steady(ph.Duration)
	return vethlab.Mean(ph.ClassWindows(tr, class)[from:min(to, int(ph.Duration/time.Second))])
}

// ClassConformingRate is the rate of the class's packets that arrived with
// their flow's conforming DSCP, over the steady windows: per flow its rate
// times the share of its packets so marked.
func (ph *Phase) ClassConformingRate(tr *Traffic, class string) float64 {
	var sum float64
	for gi, fi := range tr.GenFlow {
		f := &tr.Flows[fi]
		if f.Class != class {
			continue
		}
		r := ph.flow(gi)
		if r.Packets > 0 {
			sum += ph.FlowRate(gi) * float64(r.DSCP[f.DSCP]) / float64(r.Packets)
		}
	}
	return sum
}

// ClassTotals sums the class's flows: what was offered and what arrived.
type ClassTotals struct {
	SentPackets, SentBytes uint64
	// Got merges the receiver's results (Windows and Arrivals unset).
	Got vethlab.FlowResult
}

// Totals sums class's flows in the phase.
func (ph *Phase) Totals(tr *Traffic, class string) ClassTotals {
	var t ClassTotals
	for gi, fi := range tr.GenFlow {
		if tr.Flows[fi].Class != class {
			continue
		}
		t.SentPackets += ph.Sent[gi].Packets
		t.SentBytes += ph.Sent[gi].Bytes
		r := ph.flow(gi)
		t.Got.Packets += r.Packets
		t.Got.Bytes += r.Bytes
		for i, n := range r.DSCP {
			t.Got.DSCP[i] += n
		}
		for i, n := range r.PCP {
			t.Got.PCP[i] += n
		}
		t.Got.Delays = append(t.Got.Delays, r.Delays...)
	}
	return t
}

// Loss is the fraction of the sent packets that did not arrive.
func (t ClassTotals) Loss() float64 {
	if t.SentPackets == 0 {
		return 0
	}
	return max(0, 1-float64(t.Got.Packets)/float64(t.SentPackets))
}

// Offered is the class's offered rate in bit/s over a phase of duration d.
func (t ClassTotals) Offered(d time.Duration) float64 {
	return float64(t.SentBytes) * 8 / d.Seconds()
}

// P99 is the 99th percentile one-way delay.
func (t ClassTotals) P99() time.Duration {
	return time.Duration(vethlab.Percentile(t.Got.Delays, 99))
}

// boundsDelay reports whether a class's delay is worth a column: its
// service bounds delay.
func boundsDelay(c *ClassTraffic) bool { return c.Plan.Service.BoundsDelay() }
