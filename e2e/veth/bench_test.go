package veth

import (
	"context"
	"os"
	"strconv"
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

// passPlan is a plan with one class without a rate on a 100 Gbit/s port:
// every frame goes through the pacer's classifier and scheduler, none is
// held back.
func passPlan(t *testing.T) *offload.TargetPlan {
	return compile(t, policy("100Gbit", `- {name: all, service: best-effort}`, `- {name: all-ip, class: all, match: {protocol: tcp}}
- {name: all-udp, class: all, match: {protocol: udp}}`))
}

// TestBenchForward: unshaped forwarding. iperf3 TCP (1 and 4 streams) and
// 1500-byte UDP frames as fast as the generator sends, through (a) the bump
// without a pacer, (b) the bump with a pass-through pacer, and (c) the
// kernel routing between the same veths (the peer).
func TestBenchForward(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	br.Realtime, rt.Realtime = false, false // saturation: see vethlab.Lab.Realtime
	ctx := context.Background()
	udp := []vethlab.Flow{{Name: "udp", DstPort: 5701, Rate: 4e9, Size: 1500}}
	type impl struct {
		name string
		lab  *vethlab.Lab
		tp   *offload.TargetPlan
		bump bool
	}
	for _, im := range []impl{{"datapath-only", br, nil, true}, {"pacer-pass", br, passPlan(t), true}, {"kernel-route", rt, nil, false}} {
		var p *vethlab.PacerProc
		if im.bump {
			var err error
			if p, err = im.lab.StartPacer(ctx, im.tp, vethlab.PacerConfig{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, streams := range []int{1, 4} {
			r, err := im.lab.Iperf(ctx, 5702, streams, 4*time.Second, "-O", "1")
			if err != nil {
				t.Fatal(err)
			}
			report(t, "impl=%s tcp_streams=%d goodput=%.2fGbit/s retransmits=%d", im.name, streams, r.Total/1e9, r.Retransmits)
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
			t.Logf("%s datapath: %+v", im.name, rep.Shaped)
		}
	}
}

// TestBenchCPU: the pacer process's CPU time at 100 Mbit/s of shaping, with
// the offer at the rate (100 Mbit/s) and above it (150 Mbit/s), with and
// without the realtime thread. Peer: none (the kernel's shaping runs in
// softirq and is not accounted per process).
func TestBenchCPU(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	ctx := context.Background()
	tp := compile(t, policy("10Gbit", `- {name: c, service: best-effort, rate: 100Mbit, non-conforming: shape}`,
		`- {name: c-udp, class: c, match: {protocol: udp, dst-port: 5801}}`))
	const d = 5 * time.Second
	for _, rt := range []bool{false, true} {
		for _, offer := range []uint64{100e6, 150e6} {
			p, err := br.StartPacer(ctx, tp, vethlab.PacerConfig{Realtime: rt})
			if err != nil {
				t.Fatal(err)
			}
			c0, _ := p.CPU()
			r := measure(t, br, []vethlab.Flow{{Name: "c", DstPort: 5801, Rate: offer, Size: 1500}}, d, nil)
			c1, _ := p.CPU()
			rep, err := p.Stop()
			if err != nil {
				t.Fatal(err)
			}
			report(t, "impl=pacer realtime=%v offered=%s delivered=%s cpu=%.1f%%_of_a_core wakeups/s=%.0f",
				rt, mbit(float64(offer)), mbit(vethlab.Mean(r.flow(0).WindowRates(1, 4))),
				float64(c1-c0)/float64(d)*100, float64(rep.Shaped.Waits)/d.Seconds())
		}
	}
}

// TestBenchHighRate: rate accuracy at 1 and 5 Gbit/s with TCP (the UDP
// generator cannot offer that much): the class's L2 bytes per second from
// the pacer's counters, and iperf3 goodput, vs kernel HTB at the same rate.
func TestBenchHighRate(t *testing.T) {
	benchOnly(t)
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	ctx := context.Background()
	const d = 5 * time.Second
	for _, rate := range []uint64{1e9, 5e9} {
		tp := compile(t, policy("100Gbit", `- {name: c, service: best-effort, rate: `+mbitStr(rate)+`, non-conforming: shape}`,
			`- {name: c-tcp, class: c, match: {protocol: tcp, dst-port: 5901}}`))
		p, err := br.StartPacer(ctx, tp, vethlab.PacerConfig{Realtime: true})
		if err != nil {
			t.Fatal(err)
		}
		res, err := br.Iperf(ctx, 5901, 4, d)
		rep, serr := p.Stop()
		if err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		l2 := float64(rep.Counters.Classes["c"].Bytes) * 8 / (d.Seconds() + 0.1)
		report(t, "impl=pacer configured=%s goodput=%s l2_approx=%s (bytes sent over the iperf3 run ~%.1fs; accuracy ±2%% from the run's start/stop)",
			mbit(float64(rate)), mbit(res.Total), mbit(l2), d.Seconds()+0.1)
		if err := rt.KernelHTB(ctx, 100e9, []vethlab.KernelClass{{Ports: []uint16{5901}, Rate: rate, Burst: rate / 8 / 100}}); err != nil {
			t.Fatal(err)
		}
		kres, err := rt.Iperf(ctx, 5901, 4, d)
		if err != nil {
			t.Fatal(err)
		}
		_ = rt.KernelClear(ctx)
		report(t, "impl=kernel-htb configured=%s goodput=%s", mbit(float64(rate)), mbit(kres.Total))
	}
}

func mbitStr(r uint64) string { return strconv.FormatUint(r/1e6, 10) + "Mbit" }
