package veth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestRateLimit: one shaped class at 10, 100 and 500 Mbit/s, offered 1.5x
// its rate. Every 1 s window after the first must be within ±1% of the rate
// up to 100 Mbit/s and ±3% above, and their average within ±1% (L2 bytes).
// Kernel TBF and HTB at the same rate are measured in the same run and
// logged side by side.
func TestRateLimit(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	for _, rate := range []uint64{10e6, 100e6, 500e6} {
		t.Run(fmt.Sprintf("%dM", rate/1e6), func(t *testing.T) {
			win, avgTol := 0.01, 0.01
			if rate > 100e6 {
				win = 0.03
			}
			pol := policy("10Gbit", fmt.Sprintf(`- name: limited
  service: best-effort
  rate: %dbit
  non-conforming: shape`, rate), `- {name: limited-udp, class: limited, match: {protocol: udp, dst-port: 5001}}`)
			flows := []vethlab.Flow{{Name: "limited", DstPort: 5001, Rate: rate * 3 / 2, Size: 1500}}
			const d = 4500 * time.Millisecond
			bucket := max(2*1518, rate/8/100)
			type impl struct {
				name string
				run  func() *result
			}
			impls := []impl{
				{"pacer", func() *result { return pacerRun(t, br, compile(t, pol), flows, d, nil) }},
				{"kernel-tbf", func() *result {
					return kernelRun(t, rt, func(ctx context.Context) error {
						return rt.KernelTBF(ctx, rate, bucket, 0, 0, rate/8/50) // 20 ms queue
					}, flows, d, nil)
				}},
				{"kernel-htb", func() *result {
					return kernelRun(t, rt, func(ctx context.Context) error {
						return rt.KernelHTB(ctx, 10e9, []vethlab.KernelClass{{Ports: []uint16{5001}, Rate: rate, Burst: bucket}})
					}, flows, d, nil)
				}},
			}
			check := func(c *checker, r *result) {
				ws := r.flow(0).WindowRates(1, 4)
				avg := vethlab.Mean(ws)
				if e := avg/float64(rate) - 1; e > avgTol || e < -avgTol {
					c.Errorf("pacer: average %s, want %s ±%s", mbit(avg), mbit(float64(rate)), pct(avgTol))
				}
				if dev := vethlab.MaxDev(ws, float64(rate)); dev > win {
					c.Errorf("pacer: a 1 s window is %s off the rate, want within ±%s: %v", pct(dev), pct(win), ws)
				}
			}
			for _, im := range impls {
				run := func(c *checker) {
					r := im.run()
					ws := r.flow(0).WindowRates(1, 4)
					avg := vethlab.Mean(ws)
					report(t, "impl=%s configured=%s avg=%s avg_err=%s worst_window_err=%s windows=%v offered=%s",
						im.name, mbit(float64(rate)), mbit(avg), pct(avg/float64(rate)-1), pct(vethlab.MaxDev(ws, float64(rate))), ws,
						mbit(float64(r.sent[0].Bytes)*8/d.Seconds()))
					if im.name != "pacer" {
						return
					}
					if r.rep != nil && r.rep.Counters != nil {
						cc := r.rep.Counters.Classes["limited"]
						t.Logf("pacer counters: sent %d pkts, dropped %d, pacer CPU %v over %v, datapath %+v", cc.Packets, cc.Drops, r.cpu, d, r.rep.Shaped)
					}
					if r.rep != nil && r.rep.Shaped.Deferred == 0 {
						// Offered 1.5x its rate, the class is in sustained
						// overload: the loop reads arrivals at release times.
						c.Errorf("pacer: no sleep deferred arrivals (datapath %+v)", r.rep.Shaped)
					}
					check(c, r)
				}
				if im.name == "pacer" {
					retry(t, run)
				} else {
					run(&checker{})
				}
			}
		})
	}
}
