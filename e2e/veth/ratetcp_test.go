package veth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/offload"
)

// goodputShare is the TCP goodput a shaped L2 rate carries: MSS 1448 bytes
// (timestamps on) in a 1514-byte frame.
const goodputShare = 1448.0 / 1514

// tcpWindows returns the steady 1 s windows of an iperf3 run (the first,
// slow start, and the last, the partial close, dropped) and their errors
// against the goodput rate bit/s of L2 allows.
func tcpWindows(res *vethlab.IperfResult, rate uint64) (ws []float64, worst float64, errs []string) {
	ws = res.Windows
	if len(ws) > 2 {
		ws = ws[1 : len(ws)-1]
	}
	want := float64(rate) * goodputShare
	for _, w := range ws {
		errs = append(errs, pct(w/want-1))
	}
	return ws, vethlab.MaxDev(ws, want), errs
}

// shapedTCPPlan is one shaped class at rate bit/s holding TCP to port.
func shapedTCPPlan(t *testing.T, rate uint64, port int) *offload.TargetPlan {
	return compile(t, policy("100Gbit", `- {name: c, service: best-effort, rate: `+mbitStr(rate)+`, non-conforming: shape}`,
		fmt.Sprintf(`- {name: c-tcp, class: c, match: {protocol: tcp, dst-port: %d}}`, port)))
}

// TestRateLimitTCP: one shaped class at 1 and 5 Gbit/s carrying 4 iperf3
// TCP streams for 6 s. Every steady 1 s window of the receiver's goodput
// (iperf3 server intervals, first and last dropped) must be within ±3% of
// rate·1448/1514. (The UDP generator cannot drive these rates: see
// TestBenchWindows.) Kernel HTB at the same rate is logged alongside.
func TestRateLimitTCP(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	ctx := context.Background()
	const d = 6 * time.Second
	const port = 5911
	for _, rate := range []uint64{1e9, 5e9} {
		t.Run(mbitStr(rate), func(t *testing.T) {
			retry(t, func(c *checker) {
				p := startPacer(t, br, shapedTCPPlan(t, rate, port), vethlab.PacerConfig{Realtime: realtime()})
				res, err := br.Iperf(ctx, port, 4, d)
				if _, serr := p.Stop(); err != nil || serr != nil {
					t.Fatal(err, serr)
				}
				ws, worst, errs := tcpWindows(res, rate)
				report(t, "impl=pacer configured=%s goodput=%s worst_window_err=%s window_errs=%v", mbit(float64(rate)), mbit(res.Total), pct(worst), errs)
				if len(ws) < 3 {
					c.Errorf("only %d steady windows in the iperf3 report", len(ws))
				} else if worst > 0.03 {
					c.Errorf("a 1 s window is %s off rate·1448/1514, want within ±3%%: %v", pct(worst), errs)
				}
			})
			if err := rt.KernelHTB(ctx, 100e9, []vethlab.KernelClass{{Ports: []uint16{port}, Rate: rate, Burst: rate / 8 / 100}}); err != nil {
				t.Fatal(err)
			}
			res, err := rt.Iperf(ctx, port, 4, d)
			if cerr := rt.KernelClear(ctx); err != nil || cerr != nil {
				t.Fatal(err, cerr)
			}
			_, worst, errs := tcpWindows(res, rate)
			report(t, "impl=kernel-htb configured=%s goodput=%s worst_window_err=%s window_errs=%v", mbit(float64(rate)), mbit(res.Total), pct(worst), errs)
		})
	}
}
