package veth

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestBenchSlowLink: at 1 and 2 Mbit/s port rate, one bulk iperf3 TCP
// stream (best effort) and a guaranteed probe (100-byte UDP frames at 80
// kbit/s) share the port, through (a) the pacer serving whole frames
// (pacer-whole: NoSlowLink), (b) the pacer cutting best-effort segments
// (pacer-slowlink: MSS clamp and fragments, frame from the plan) and (c)
// kernel HTB with the same classes (probe prio 0, bulk prio 1), all in the
// same run. It prints the probe's one-way delay (p50, p99, max) and the
// bulk goodput (mean of iperf3's steady 1 s windows), and the goals:
// probe p99 <= one cut frame's serialisation + 2 ms, and bulk goodput >=
// 90 % of pacer-whole's. It asserts nothing about speed.
//
// The app's TCP sends GSO frames (veth offloads on), which the pacer
// splits into segments for best-effort classes on a slow link (kernel
// HTB serves them whole, and the pacer-whole run too);
// QOSPLANE_BENCH_SLOW_NOGSO=1 turns TSO/GSO off on the app's interface.
func TestBenchSlowLink(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	// The probe's delay is the measurement: the lab's generator and
	// receiver run realtime, as in TestStrictPriority.
	br.Realtime, rt.Realtime = realtime(), realtime()
	ctx := context.Background()
	gso := os.Getenv("QOSPLANE_BENCH_SLOW_NOGSO") != "1"
	if !gso {
		for _, l := range []*vethlab.Lab{br, rt} {
			if _, err := l.App.Run(ctx, "ethtool", "-K", vethlab.AppIf, "tso", "off", "gso", "off"); err != nil {
				t.Fatal(err)
			}
		}
	}
	probe := []vethlab.Flow{{Name: "probe", DstPort: slowProbePort, Rate: 80e3, Size: 100}}
	rec := map[uint16]uint8{0: vethlab.RecordDelay}
	const bulkFor, warm, probeFor = 10 * time.Second, 2500 * time.Millisecond, 6 * time.Second
	for _, rate := range []uint64{1e6, 2e6} {
		tp := compile(t, slowPolicy(mbitStr(rate)))
		frame := uint64(tp.Pacer.SlowLink.Frame)
		ser := time.Duration(frame * 8 * 1e9 / rate)
		var whole float64
		for _, impl := range []string{"pacer-whole", "pacer-slowlink", "kernel-htb"} {
			l := br
			var p *vethlab.PacerProc
			switch impl {
			case "kernel-htb":
				l = rt
				if err := rt.KernelHTB(ctx, rate, []vethlab.KernelClass{
					{Ports: []uint16{slowProbePort}, Rate: 128e3, Ceil: rate, Prio: 0},
					{Ports: []uint16{slowBulkPort}, Rate: rate - 128e3, Ceil: rate, Prio: 1},
				}); err != nil {
					t.Fatal(err)
				}
			default:
				p = startPacer(t, br, tp, vethlab.PacerConfig{Realtime: realtime(), NoSlowLink: impl == "pacer-whole"})
			}
			type iperfOut struct {
				res *vethlab.IperfResult
				err error
			}
			done := make(chan iperfOut, 1)
			go func() {
				res, err := l.Iperf(ctx, slowBulkPort, 1, bulkFor)
				done <- iperfOut{res, err}
			}()
			time.Sleep(warm)
			r := measure(t, l, probe, probeFor, rec)
			out := <-done
			var slow string
			if p != nil {
				rep, err := p.Stop()
				if err != nil {
					t.Fatal(err)
				}
				slow = " " + slowStats(rep)
			} else if err := rt.KernelClear(ctx); err != nil {
				t.Fatal(err)
			}
			if out.err != nil {
				t.Fatalf("%s: %v", impl, out.err)
			}
			ws := out.res.Windows
			if len(ws) > 3 {
				ws = ws[2 : len(ws)-1] // slow start and the partial close
			}
			good := vethlab.Mean(ws)
			if impl == "pacer-whole" {
				whole = good
			}
			d := r.flow(0).Delays
			report(t, "impl=%s port=%s probe_p50=%v probe_p99=%v probe_max=%v probe_loss=%s bulk_goodput=%s (%s of pacer-whole) retransmits=%d goal_p99<=%v gso=%v%s",
				impl, mbitStr(rate), dur(vethlab.Percentile(d, 50)), dur(vethlab.Percentile(d, 99)), dur(vethlab.Percentile(d, 100)),
				pct(r.loss(0)), mbit(good), pct(good/whole), out.res.Retransmits, ser+2*time.Millisecond, gso, slow)
		}
	}
}

// dur rounds ns to 10 us for printing.
func dur(ns int64) time.Duration { return time.Duration(ns).Round(10 * time.Microsecond) }

// slowStats prints a pacer report's slow-link counts.
func slowStats(rep *vethlab.PacerReport) string {
	if rep.Stats == nil {
		return ""
	}
	s := rep.Stats.SlowLink
	return "mss_clamped=" + strconv.FormatUint(s.MSSClamped, 10) + " gso_split=" + strconv.FormatUint(s.GSOSplit, 10) +
		" segments=" + strconv.FormatUint(s.Segments, 10)
}
