package gnmi_test

import (
	"context"
	"testing"
	"time"

	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/offload"
)

// BenchmarkApplyFleet50 applies one policy to 50 loopback light targets
// (TLS, schema-validating Set; see lightTarget). Every iteration flips the
// voice rate so that each target really takes one Set. "parallel-50" runs
// all targets at once; "serial-peer" is the same work one target at a
// time, measured in the same run; "parallel-8" bounds the fleet to eight
// targets in flight. Goal: a fleet op under 2 s. The test peer's own Set
// validation is about 40% of the CPU, all on the same 2 cores; the
// set-latency-100ms pair gives every Set 100 ms of device latency.
func BenchmarkApplyFleet50(b *testing.B) {
	const n = 50
	tgs, plans := fleet(b, n, false)
	alt := make([]*offload.TargetPlan, n)
	for i, tp := range plans {
		cp := *tp
		cp.Classes = append([]offload.ClassPlan(nil), tp.Classes...)
		cp.Classes[0].Rate *= 2
		alt[i] = &cp
	}
	log := testLog(b)
	flip := false
	run := func(b *testing.B, parallelism int) {
		var slowest time.Duration
		for b.Loop() {
			ps := plans
			if flip {
				ps = alt
			}
			flip = !flip
			fleet := gnmidrv.Fleet{Parallelism: parallelism, Timeout: 5 * time.Second, Log: log}
			for _, r := range fleet.Apply(context.Background(), ps) {
				if r.Err != nil || !r.Changed {
					b.Fatalf("%s: changed=%v err=%v", r.Target, r.Changed, r.Err)
				}
				slowest = max(slowest, r.Duration)
			}
		}
		b.ReportMetric(slowest.Seconds(), "slowest-target-s")
	}
	b.Run("parallel-8", func(b *testing.B) { run(b, 8) })
	b.Run("parallel-50", func(b *testing.B) { run(b, n) })
	b.Run("serial-peer", func(b *testing.B) { run(b, 1) })
	// Real switches take their time to commit: with 100 ms per Set the
	// fleet is bound by latency, not CPU.
	for _, tg := range tgs {
		tg.delay = 100 * time.Millisecond
	}
	b.Run("set-latency-100ms/parallel-50", func(b *testing.B) { run(b, n) })
	b.Run("set-latency-100ms/serial-peer", func(b *testing.B) { run(b, 1) })
}
