package veth

import (
	"context"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestStrictPriority: a 100 Mbit/s port, a high class (guaranteed, 45
// Mbit/s, priority 5) offered 41 Mbit/s (40 bulk + a 1 Mbit/s probe of small
// frames) and a low class without a rate offered 100 Mbit/s. High keeps its
// whole offer (windows ±1%, loss < 0.1%), low gets the rest of the port
// (±2%), and the probe's one-way delay p99 stays <= 1 ms while low
// saturates the port, far below low's own delay (a probe queued behind low
// would wait what low waits). Kernel HTB with the same split is measured
// first, as the peer: on a machine whose own path is slower than 1 ms at
// p99 (the kernel's probe above it), the pacer is held to the kernel's
// p99 instead, up to 2 ms.
func TestStrictPriority(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	// The probe's delay is measured up to the receiver's timestamp: a
	// receiver woken late adds its own wake-up latency, so this scenario
	// (100 Mbit/s, too light to starve anything) runs the lab realtime.
	br.Realtime, rt.Realtime = realtime(), realtime()
	pol := policy("100Mbit", `- {name: high, service: guaranteed, rate: 45Mbit, non-conforming: shape}
- {name: low, service: best-effort}`, `- {name: high-bulk, class: high, match: {protocol: udp, dst-port: 5101}}
- {name: high-probe, class: high, match: {protocol: udp, dst-port: 5102}}
- {name: low-udp, class: low, match: {protocol: udp, dst-port: 5103}}`)
	flows := []vethlab.Flow{
		{Name: "high", DstPort: 5101, Rate: 40e6, Size: 1500},
		{Name: "probe", DstPort: 5102, Rate: 1e6, Size: 200},
		{Name: "low", DstPort: 5103, Rate: 100e6, Size: 1500},
	}
	const d = 4500 * time.Millisecond
	rec := map[uint16]uint8{1: vethlab.RecordDelay, 2: vethlab.RecordDelay}
	// The probe's delay p99: 1 ms, or the kernel peer's p99 where this
	// machine's path is slower, but never above maxBound.
	bound, maxBound := int64(time.Millisecond), int64(2*time.Millisecond)
	for _, impl := range []string{"kernel-htb", "pacer"} {
		body := func(c *checker) {
			var r *result
			if impl == "pacer" {
				r = pacerRun(t, br, compile(t, pol), flows, d, rec)
			} else {
				r = kernelRun(t, rt, func(ctx context.Context) error {
					return rt.KernelHTB(ctx, 100e6, []vethlab.KernelClass{
						{Ports: []uint16{5101, 5102}, Rate: 45e6, Ceil: 100e6, Prio: 0},
						{Ports: []uint16{5103}, Rate: 55e6, Ceil: 100e6, Prio: 1},
					})
				}, flows, d, rec)
			}
			high := r.flow(0).WindowRates(1, 4)
			probe := r.flow(1).WindowRates(1, 4)
			low := r.flow(2).WindowRates(1, 4)
			hiSum := vethlab.Mean(high) + vethlab.Mean(probe)
			p50 := vethlab.Percentile(r.flow(1).Delays, 50)
			p99 := vethlab.Percentile(r.flow(1).Delays, 99)
			lowP50 := vethlab.Percentile(r.flow(2).Delays, 50)
			report(t, "impl=%s high=%s (offered 41Mbit/s, loss %s) low=%s (loss %s) probe_delay_p50=%v p99=%v low_delay_p50=%v",
				impl, mbit(hiSum), pct(r.loss(0)), mbit(vethlab.Mean(low)), pct(r.loss(2)), time.Duration(p50), time.Duration(p99), time.Duration(lowP50))
			if impl != "pacer" {
				bound = min(max(bound, p99), maxBound)
				return
			}
			if dev := vethlab.MaxDev(high, 40e6); dev > 0.01 {
				c.Errorf("high class windows %v, want 40 Mbit/s ±1%%", high)
			}
			if r.loss(0) > 0.001 || r.loss(1) > 0.001 {
				c.Errorf("high class lost %s of bulk, %s of probe; want < 0.1%%", pct(r.loss(0)), pct(r.loss(1)))
			}
			if dev := vethlab.MaxDev(low, 100e6-hiSum); dev > 0.02 {
				c.Errorf("low class windows %v, want the rest of the port (%s) ±2%%", low, mbit(100e6-hiSum))
			}
			if p99 > bound {
				c.Errorf("probe delay p99 %v with low saturating, want <= %v (1ms, or the kernel peer's p99 up to 2ms)", time.Duration(p99), time.Duration(bound))
			}
			if p99 > lowP50/4 {
				c.Errorf("probe delay p99 %v, low's median %v: the probe waits behind low", time.Duration(p99), time.Duration(lowP50))
			}
		}
		if impl == "pacer" {
			retry(t, body)
		} else {
			body(&checker{})
		}
	}
}

// TestIsolation: two shaped classes of 30 Mbit/s, one offered 60 Mbit/s
// (overload), the other 20 Mbit/s. The overloading class loses only its own
// packets (the other < 0.1%) and its queueing delay stays within the
// default bound (20 ms at the class rate, +3.5 ms, see below).
func TestIsolation(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	pol := policy("1Gbit", `- {name: a, service: best-effort, rate: 30Mbit, non-conforming: shape}
- {name: b, service: best-effort, rate: 30Mbit, non-conforming: shape}`, `- {name: a-udp, class: a, match: {protocol: udp, dst-port: 5201}}
- {name: b-udp, class: b, match: {protocol: udp, dst-port: 5202}}`)
	flows := []vethlab.Flow{
		{Name: "a", DstPort: 5201, Rate: 60e6, Size: 1500},
		{Name: "b", DstPort: 5202, Rate: 20e6, Size: 1500},
	}
	const d = 4500 * time.Millisecond
	rec := map[uint16]uint8{0: vethlab.RecordDelay, 1: vethlab.RecordDelay}
	for _, impl := range []string{"pacer", "kernel-htb"} {
		body := func(c *checker) {
			var r *result
			if impl == "pacer" {
				r = pacerRun(t, br, compile(t, pol), flows, d, rec)
			} else {
				r = kernelRun(t, rt, func(ctx context.Context) error {
					return rt.KernelHTB(ctx, 1e9, []vethlab.KernelClass{
						{Ports: []uint16{5201}, Rate: 30e6}, {Ports: []uint16{5202}, Rate: 30e6},
					})
				}, flows, d, rec)
			}
			a, b := r.flow(0), r.flow(1)
			aP99, bP99 := vethlab.Percentile(a.Delays, 99), vethlab.Percentile(b.Delays, 99)
			report(t, "impl=%s a=%s loss=%s delay_p99=%v | b=%s loss=%s delay_p99=%v", impl,
				mbit(vethlab.Mean(a.WindowRates(1, 4))), pct(r.loss(0)), time.Duration(aP99),
				mbit(vethlab.Mean(b.WindowRates(1, 4))), pct(r.loss(1)), time.Duration(bP99))
			if impl != "pacer" {
				return
			}
			if r.loss(1) > 0.001 {
				c.Errorf("class b (within its rate) lost %s; want < 0.1%%", pct(r.loss(1)))
			}
			if l := r.loss(0); l < 0.45 || l > 0.55 {
				c.Errorf("class a (offered 2x its rate) lost %s; want about 50%%", pct(l))
			}
			// The queueing part of a's delay is measured against b's median
			// (the lab's own path); 3.5 ms covers one wake quantum (0.5 ms),
			// a frame time at 30 Mbit/s (0.4 ms) and scheduling delays of a
			// loaded 2-core machine.
			if q := aP99 - vethlab.Percentile(b.Delays, 50); q > int64(23500*time.Microsecond) {
				c.Errorf("class a queueing delay p99 %v over the path's median; want <= 20ms (+3.5ms)", time.Duration(q))
			}
			if dev := vethlab.MaxDev(a.WindowRates(1, 4), 30e6); dev > 0.01 {
				c.Errorf("class a windows %v; want 30 Mbit/s ±1%%", a.WindowRates(1, 4))
			}
		}
		if impl == "pacer" {
			retry(t, body)
		} else {
			body(&checker{})
		}
	}
}
