package vethlab

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// WindowRates returns the rate in bit/s of windows [from, to) of fr (a
// missing window counts as 0).
func (fr *FlowResult) WindowRates(from, to int) []float64 {
	out := make([]float64, 0, to-from)
	for k := from; k < to; k++ {
		var b uint64
		if fr != nil && k < len(fr.Windows) {
			b = fr.Windows[k].Bytes
		}
		out = append(out, float64(b)*8)
	}
	return out
}

// Mean is the arithmetic mean of xs (0 when empty).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// MaxDev is the largest |x/want - 1| over xs.
func MaxDev(xs []float64, want float64) float64 {
	var m float64
	for _, x := range xs {
		m = max(m, math.Abs(x/want-1))
	}
	return m
}

// Percentile returns the p-th percentile (0-100) of xs by nearest rank.
func Percentile(xs []int64, p float64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// MaxBurst returns, over every interval [t_i, t_j] of the arrivals (sorted
// by time), the most bytes that arrived beyond rate·(t_j - t_i):
// max over i <= j of (bytes(i..j) - rate/8·(t_j - t_i)), in bytes. A stream
// shaped by a token bucket (rate, depth b) measures at most b; rate in bit/s.
func MaxBurst(arr []Arrival, rate float64) float64 {
	bps := rate / 8 / 1e9 // bytes per ns
	best := math.Inf(-1)
	bestStart := math.Inf(-1) // max over i of (bps·t_i - A_{i-1})
	var cum float64           // A_{j-1}
	for _, a := range arr {
		bestStart = max(bestStart, bps*float64(a.T)-cum)
		cum += float64(a.Len)
		best = max(best, cum-bps*float64(a.T)+bestStart)
	}
	if math.IsInf(best, -1) {
		return 0
	}
	return best
}

// Shares prints the values counted and their share of total, e.g. "46
// (100%)" or "24 (71%), 0 (29%)" (counts per DSCP or PCP value, as in
// FlowResult); index untagged (if >= 0) is printed as "untagged".
func Shares(counts []uint64, total uint64, untagged int) string {
	if total == 0 {
		return "-"
	}
	var parts []string
	for v, n := range counts {
		if n == 0 {
			continue
		}
		label := fmt.Sprint(v)
		if v == untagged {
			label = "untagged"
		}
		parts = append(parts, fmt.Sprintf("%s (%.0f%%)", label, 100*float64(n)/float64(total)))
	}
	return strings.Join(parts, ", ")
}
