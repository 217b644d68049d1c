package veth

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/offload"
)

// The TestBench* functions measure speed and print RESULT lines; they assert
// nothing about speed (bench.sh compares the numbers with the goals). They
// run only with QOSPLANE_BENCH=1.
func benchOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("QOSPLANE_BENCH") != "1" {
		t.Skip("speed measurement: set QOSPLANE_BENCH=1 (bench.sh does)")
	}
}

// passPlan is a plan with one class without a rate and no capacity (so no
// port rate): every frame goes through the pacer's classifier and
// scheduler, none is held back, and with the fast path each flow moves to
// it after its first frames.
func passPlan(t *testing.T) *offload.TargetPlan {
	return compile(t, policy("", `- {name: all, service: best-effort}`, `- {name: all-ip, class: all, match: {protocol: tcp}}
- {name: all-udp, class: all, match: {protocol: udp}}`))
}

// TestBenchForward: unshaped forwarding. iperf3 TCP (1 and 4 streams, and 4
// with a zero-copy sender) and 1500-byte UDP frames as fast as the
// generator sends, through (a) the bump without a pacer, (b) the bump with
// a pass-through pacer and no fast path (every frame copied through the
// pacer), (c) the same with the fast path (the pacer classifies each
// flow's first frames, then the kernel forwards it), and (d) the kernel
// routing between the same veths (the peer).
func TestBenchForward(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	br.Realtime, rt.Realtime = false, false // saturation: see vethlab.Lab.Realtime
	ctx := context.Background()
	udp := []vethlab.Flow{{Name: "udp", DstPort: 5701, Rate: 4e9, Size: 1500}}
	type impl struct {
		name  string
		lab   *vethlab.Lab
		tp    *offload.TargetPlan
		bump  bool
		batch int  // frames per recvmmsg/sendmmsg; 0 the datapath's default
		fast  bool // the in-kernel fast path
	}
	impls := []impl{{"datapath-only", br, nil, true, 0, false}, {"pacer-pass", br, passPlan(t), true, 0, false},
		{"pacer-fastpath", br, passPlan(t), true, 0, true}, {"kernel-route", rt, nil, false, 0, false}}
	for _, b := range batchSweep() {
		impls = append(impls, impl{"pacer-pass-batch" + strconv.Itoa(b), br, passPlan(t), true, b, false})
	}
	for _, im := range impls {
		var p *vethlab.PacerProc
		if im.bump {
			var err error
			if p, err = im.lab.StartPacer(ctx, im.tp, vethlab.PacerConfig{Batch: im.batch, NoFastPath: !im.fast}); err != nil {
				t.Fatal(err)
			}
		}
		// -Z: the iperf3 sender uses sendfile, so its copy does not compete
		// with the forwarder for the two cores (same for every impl).
		for _, run := range []struct {
			streams int
			zc      bool
		}{{1, false}, {4, false}, {4, true}} {
			args := []string{"-O", "1"}
			if run.zc {
				args = append(args, "-Z")
			}
			r, err := im.lab.Iperf(ctx, 5702, run.streams, 4*time.Second, args...)
			if err != nil {
				t.Fatal(err)
			}
			report(t, "impl=%s tcp_streams=%d sender_zerocopy=%v goodput=%.2fGbit/s retransmits=%d", im.name, run.streams, run.zc, r.Total/1e9, r.Retransmits)
		}
		r := measure(t, im.lab, udp, 3*time.Second, nil)
		f := r.flow(0)
		pps := vethlab.Mean(f.WindowRates(1, 3)) / 8 / 1500
		report(t, "impl=%s udp1500_sent=%.0fkpps received=%.0fkpps loss=%s", im.name,
			float64(r.sent[0].Packets)/3/1e3, pps/1e3, pct(r.loss(0)))
		if p != nil {
			rep, err := p.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if rep.FastPath != im.fast {
				t.Fatalf("%s: fast path attached %v, want %v", im.name, rep.FastPath, im.fast)
			}
			t.Logf("%s datapath: %+v; reverse %+v", im.name, rep.Shaped, rep.Reverse)
			if im.fast {
				report(t, "impl=%s frames_by_fast_path=%d frames_by_pacer=%d reverse_by_fast_path=%d", im.name,
					rep.Shaped.FastPackets, rep.Shaped.TxPackets, rep.Reverse.FastPackets)
			}
		}
	}
}

// TestBenchCPU: the pacer process's CPU time (its process CPU clock, and
// the tick-sampled /proc figure) at 100 Mbit/s of shaping, with the offer
// at the rate (100 Mbit/s) and above it (150 Mbit/s), with and without the
// realtime thread, and with the lab's receiver blocking per frame or
// polling every millisecond (vethlab.Lab.RecvPoll: a blocking receiver is
// woken by every frame the pacer sends and preempts it inside sendmmsg, a
// cost of the lab, not of the pacer). Peer: none (the kernel's shaping runs
// in softirq and is not accounted per process); the floor is the bump
// forwarding the same offer without a pacer. On this VM a timed wake-up
// alone costs ~25 us of CPU, so wake-ups per second are printed too.
func TestBenchCPU(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	tp := compile(t, policy("10Gbit", `- {name: c, service: best-effort, rate: 100Mbit, non-conforming: shape}`,
		`- {name: c-udp, class: c, match: {protocol: udp, dst-port: 5801}}`))
	const d = 5 * time.Second
	// The floor: the same offer through the bump without a pacer (read,
	// send, and the peer's receive path that the send runs inline on veth).
	for _, offer := range []uint64{100e6, 150e6} {
		r := pacerRunWith(t, br, nil, vethlab.PacerConfig{}, []vethlab.Flow{{Name: "c", DstPort: 5801, Rate: offer, Size: 1500}}, d, nil)
		report(t, "impl=datapath-only receiver=blocking realtime=false offered=%s forwarded cpu=%.1f%%_of_a_core wakeups/s=%.0f",
			mbit(float64(offer)), float64(r.cpu)/float64(d)*100, float64(r.rep.Shaped.Waits)/d.Seconds())
	}
	for _, poll := range []time.Duration{0, time.Millisecond} {
		br.RecvPoll = poll
		for _, rt := range []bool{false, true} {
			for _, offer := range []uint64{100e6, 150e6} {
				for _, noCoalesce := range []bool{false, true} {
					impl := "pacer"
					if noCoalesce {
						impl = "pacer-wake-per-arrival"
					}
					r := pacerRunWith(t, br, tp, vethlab.PacerConfig{Realtime: rt, NoCoalesce: noCoalesce}, []vethlab.Flow{{Name: "c", DstPort: 5801, Rate: offer, Size: 1500}}, d, nil)
					rep := r.rep
					recv := "blocking"
					if poll > 0 {
						recv = "polled_" + poll.String()
					}
					report(t, "impl=%s receiver=%s realtime=%v offered=%s delivered=%s cpu=%.1f%%_of_a_core cpu_ticks=%.1f%% wakeups/s=%.0f deferred/s=%.0f coalesced/s=%.0f rx_batches/s=%.0f tx_batches/s=%.0f",
						impl, recv, rt, mbit(float64(offer)), mbit(vethlab.Mean(r.flow(0).WindowRates(1, 4))),
						float64(r.cpu)/float64(d)*100, float64(r.cpuTicks)/float64(d)*100, float64(rep.Shaped.Waits)/d.Seconds(), float64(rep.Shaped.Deferred)/d.Seconds(),
						float64(rep.Shaped.Coalesced)/d.Seconds(), float64(rep.Shaped.RxBatches)/d.Seconds(), float64(rep.Shaped.TxBatches)/d.Seconds())
				}
			}
		}
	}
	br.RecvPoll = 0
}

// TestBenchHighRate: rate accuracy at 2 and 10 Gbit/s with TCP (4 iperf3
// streams; TestRateLimitTCP asserts 1 and 5): the receiver's goodput per
// steady 1 s window against rate·1448/1514, and the class's L2 bytes from
// the pacer's counters; kernel HTB at the same rate in the same run.
func TestBenchHighRate(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	ctx := context.Background()
	const d = 6 * time.Second
	for _, rate := range []uint64{2e9, 10e9} {
		p := startPacer(t, br, shapedTCPPlan(t, rate, 5901), vethlab.PacerConfig{Realtime: true})
		c0, _ := pacerCPU(t, p)
		res, err := br.Iperf(ctx, 5901, 4, d)
		c1, _ := pacerCPU(t, p)
		rep, serr := p.Stop()
		if err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		_, worst, errs := tcpWindows(res, rate)
		l2 := float64(rep.Counters.Classes["c"].Bytes) * 8 / (d.Seconds() + 0.1)
		report(t, "impl=pacer configured=%s goodput=%s goodput_err=%s worst_window_err=%s window_errs=%v l2_approx=%s pacer_cpu=%.0f%%_of_a_core",
			mbit(float64(rate)), mbit(res.Total), pct(res.Total/(float64(rate)*goodputShare)-1), pct(worst), errs, mbit(l2),
			float64(c1-c0)/float64(d)*100)
		if err := rt.KernelHTB(ctx, 100e9, []vethlab.KernelClass{{Ports: []uint16{5901}, Rate: rate, Burst: rate / 8 / 100}}); err != nil {
			t.Fatal(err)
		}
		kres, err := rt.Iperf(ctx, 5901, 4, d)
		if err != nil {
			t.Fatal(err)
		}
		_ = rt.KernelClear(ctx)
		_, worst, errs = tcpWindows(kres, rate)
		report(t, "impl=kernel-htb configured=%s goodput=%s goodput_err=%s worst_window_err=%s window_errs=%v", mbit(float64(rate)), mbit(kres.Total),
			pct(kres.Total/(float64(rate)*goodputShare)-1), pct(worst), errs)
	}
}

// batchSweep is the list of extra batch sizes TestBenchForward tries for
// the pass-through pacer, from $QOSPLANE_BENCH_BATCHES (comma separated;
// empty: none).
func batchSweep() []int {
	var out []int
	for _, f := range strings.Split(os.Getenv("QOSPLANE_BENCH_BATCHES"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func mbitStr(r uint64) string { return strconv.FormatUint(r/1e6, 10) + "Mbit" }

// TestBenchWindows: rate accuracy per 1 s window at 1 Gbit/s with the UDP
// generator (1500 B frames offered at 1.2x the rate, 100 kpps). It shows
// why no scenario asserts 1 s windows at 1 Gbit/s with UDP: on two cores
// the lab's receiver socket drops frames (and in route mode the generator
// cannot even offer the rate), so the receiver's windows measure the lab,
// not the shaper. TestBenchHighRate measures windows with TCP instead. The pacer, kernel TBF and
// kernel HTB at the same rate run in the same lab run; each line gives the
// worst window's error against the configured rate (goal ±3%), L2 bytes.
func TestBenchWindows(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	const d = 4500 * time.Millisecond
	for _, rate := range []uint64{1e9} {
		flows := []vethlab.Flow{{Name: "w", DstPort: 5951, Rate: rate * 6 / 5, Size: 1500}}
		pol := policy("100Gbit", `- {name: w, service: best-effort, rate: `+mbitStr(rate)+`, non-conforming: shape}`,
			`- {name: w-udp, class: w, match: {protocol: udp, dst-port: 5951}}`)
		bucket := rate / 8 / 100 // 10 ms
		runs := []struct {
			name string
			run  func() *result
		}{
			{"pacer", func() *result { return pacerRun(t, br, compile(t, pol), flows, d, nil) }},
			{"kernel-tbf", func() *result {
				return kernelRun(t, rt, func(ctx context.Context) error { return rt.KernelTBF(ctx, rate, bucket, 0, 0, rate/8/50) }, flows, d, nil)
			}},
			{"kernel-htb", func() *result {
				return kernelRun(t, rt, func(ctx context.Context) error {
					return rt.KernelHTB(ctx, 100e9, []vethlab.KernelClass{{Ports: []uint16{5951}, Rate: rate, Burst: bucket}})
				}, flows, d, nil)
			}},
		}
		for _, im := range runs {
			r := im.run()
			ws := r.flow(0).WindowRates(1, 4)
			errs := make([]string, len(ws))
			for i, w := range ws {
				errs[i] = pct(w/float64(rate) - 1)
			}
			cpu := ""
			if r.rep != nil {
				cpu = fmt.Sprintf(" pacer_cpu=%.0f%%_of_a_core", float64(r.cpu)/float64(d)*100)
			}
			report(t, "impl=%s configured=%s offered=%s avg_err=%s worst_window_err=%s window_errs=%v rx_socket_drops=%d%s",
				im.name, mbit(float64(rate)), mbit(float64(r.sent[0].Bytes)*8/d.Seconds()), pct(vethlab.Mean(ws)/float64(rate)-1),
				pct(vethlab.MaxDev(ws, float64(rate))), errs, r.rxDrops, cpu)
		}
	}
}
