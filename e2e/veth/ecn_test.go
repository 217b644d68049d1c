package veth

import (
	"context"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestECN: three shaped classes of 20 Mbit/s each (queue bound 20 ms at the
// class rate, 50 KB), on a 100 Mbit/s port that never congests:
//   - "ect": 30 Mbit/s of ECT(0) UDP. The pacer CE-marks ECN-capable frames
//     once the queue is above half its bound and drops them only above
//     twice it, so the receiver sees CE marks before the first loss (the
//     first CE-marked sequence number is below the first missing one), and
//     at least 90% of what arrives is CE-marked (the queue stays above half
//     the bound once it has built). UDP does not slow down on CE, so the
//     excess (a third) is eventually dropped all the same.
//   - "plain": 30 Mbit/s of non-ECT UDP: no CE mark ever, a third lost
//     (±5 points) by tail drop at the bound.
//   - "light": 10 Mbit/s of ECT(0) UDP, under its rate: no CE mark, no loss
//     (< 0.1%).
//
// The shaped classes deliver 20 Mbit/s each (1 s windows ±1%). The kernel
// peer is HTB with the same classes, logged alongside: this kernel has no
// ECN-marking qdisc (no fq_codel, codel, red or pie), so its HTB leaves
// (pfifo) drop ECT frames like the others.
func TestECN(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	const (
		ect0 = 2 // ECN field of ECT(0)
		rate = 20e6
		d    = 4500 * time.Millisecond
	)
	flows := []vethlab.Flow{
		{Name: "ect", DstPort: 5501, Rate: 30e6, Size: 1500, ECN: ect0},
		{Name: "plain", DstPort: 5502, Rate: 30e6, Size: 1500},
		{Name: "light", DstPort: 5503, Rate: 10e6, Size: 1500, ECN: ect0},
	}
	pol := policy("100Mbit", `- {name: ect, service: best-effort, rate: 20Mbit, non-conforming: shape}
- {name: plain, service: best-effort, rate: 20Mbit, non-conforming: shape}
- {name: light, service: best-effort, rate: 20Mbit, non-conforming: shape}`,
		`- {name: ect-udp, class: ect, match: {protocol: udp, dst-port: 5501}}
- {name: plain-udp, class: plain, match: {protocol: udp, dst-port: 5502}}
- {name: light-udp, class: light, match: {protocol: udp, dst-port: 5503}}`)
	line := func(impl string, r *result) {
		for i, f := range flows {
			fr := r.flow(i)
			report(t, "impl=%s flow=%s ecn=%d offered=%s delivered=%s loss=%s ce=%d ce_share=%s first_ce_seq=%d first_missing_seq=%d",
				impl, f.Name, f.ECN, mbit(float64(f.Rate)), mbit(vethlab.Mean(fr.WindowRates(1, 4))), pct(r.loss(i)),
				fr.CE, pct(float64(fr.CE)/float64(max(fr.Packets, 1))), int64(fr.FirstCE)-1, int64(fr.FirstMissing)-1)
		}
	}
	retry(t, func(c *checker) {
		r := pacerRun(t, br, compile(t, pol), flows, d, nil)
		line("pacer", r)
		ect, plain, light := r.flow(0), r.flow(1), r.flow(2)
		for i, fr := range []*vethlab.FlowResult{ect, plain} {
			if ws := fr.WindowRates(1, 4); vethlab.MaxDev(ws, rate) > 0.01 {
				c.Errorf("%s: windows %v, want %s ±1%%", flows[i].Name, ws, mbit(rate))
			}
		}
		switch {
		case ect.CE == 0:
			c.Errorf("ect: no CE mark at the receiver under 1.5x overload")
		case ect.FirstMissing != 0 && ect.FirstMissing <= ect.FirstCE:
			c.Errorf("ect: first loss at seq %d before the first CE mark at seq %d; want CE before drop", ect.FirstMissing-1, ect.FirstCE-1)
		case float64(ect.CE) < 0.9*float64(ect.Packets):
			c.Errorf("ect: %d of %d frames CE-marked, want >= 90%%", ect.CE, ect.Packets)
		}
		if plain.CE != 0 {
			c.Errorf("plain: %d CE marks on non-ECT frames", plain.CE)
		}
		if l := r.loss(1); l < 1.0/3-0.05 || l > 1.0/3+0.05 {
			c.Errorf("plain: loss %s, want 33%% ±5 points (tail drop of the excess)", pct(l))
		}
		if light.CE != 0 || r.loss(2) > 0.001 {
			c.Errorf("light: %d CE marks, loss %s; want none under the class rate", light.CE, pct(r.loss(2)))
		}
	})
	var classes []vethlab.KernelClass
	for _, f := range flows {
		classes = append(classes, vethlab.KernelClass{Ports: []uint16{f.DstPort}, Rate: rate})
	}
	r := kernelRun(t, rt, func(ctx context.Context) error { return rt.KernelHTB(ctx, 100e6, classes) }, flows, d, nil)
	line("kernel-htb", r)
}
