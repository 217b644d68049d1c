package fallback

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

const benchBatch = 32

// cpuClock measures the process's CPU time (user+system) so that benchmarks
// can report cpu-ns/op next to wall-clock ns/op: on a shared 2-core machine
// the wall clock also counts time the benchmark was not running.
type cpuClock struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuClock {
	b.ResetTimer()
	return &cpuClock{start: cpuNow()}
}

func (c *cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}

// benchPacer is a pacer with five classes and rules, and a batch of frames
// from benchBatch flows, classified once (the cache is warm).
func benchPacer(b *testing.B, mode model.Mode) (*Pacer, []*Packet, []int) {
	classes := []offload.ClassPlan{
		classPlan("ctl", 7, 0, model.Shape), classPlan("voice", 5, 400_000_000_000, mode),
		classPlan("video", 4, 0, model.Shape), classPlan("bulk", 1, 0, model.Shape), classPlan("be", 0, 0, model.Shape),
	}
	classes[1].Mark = offload.Mark{DSCP: 46}
	rules := []offload.Rule{
		pacerRule("ctl", "ctl", 10, model.Match{DSCP: u8(48)}),
		pacerRule("sip", "voice", 20, model.Match{Dst: pfx("10.0.0.0/24"), Protocol: model.UDP, DstPort: model.PortRange{Lo: 5000, Hi: 6000}}),
		pacerRule("rtp", "video", 30, model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: 16384, Hi: 32767}}),
		pacerRule("bulk", "bulk", 40, model.Match{Protocol: model.TCP, DstPort: model.PortRange{Lo: 20, Hi: 21}}),
	}
	p := newPacer(b, plan(400_000_000_000, classes, rules...), Config{MaxFrame: 2048})
	pkts := make([]*Packet, benchBatch)
	lens := make([]int, benchBatch)
	for i := range pkts {
		s := udp4(uint16(10000+i), 5060, 200+i*40)
		pkts[i] = pkt(b, p, s)
		lens[i] = s.size
	}
	return p, pkts, lens
}

// BenchmarkDecision is the per-packet decision cost: classify (flow cache
// hit), meter, mark, queue, and schedule out, with the clock read once per
// batch of 32. The goal is <= 50 ns/op and 0 allocs/op. The flows=N cases
// cycle through N connections (rewriting the source port of each frame) so
// that the flow cache and the per-flow queues see a working set of N.
func BenchmarkDecision(b *testing.B) {
	for _, c := range []struct {
		mode  model.Mode
		flows int
	}{{model.Borrow, benchBatch}, {model.Shape, benchBatch}, {model.Borrow, 4096}} {
		name := string(c.mode)
		if c.flows != benchBatch {
			name = fmt.Sprintf("%s/flows=%d", c.mode, c.flows)
		}
		b.Run(name, func(b *testing.B) {
			p, batch, lens := benchPacer(b, c.mode)
			out := make([]*Packet, benchBatch)
			flow := 0
			run := func() {
				now := Now()
				for i, k := range batch {
					if c.flows != benchBatch {
						binary.BigEndian.PutUint16(k.ReadBuf()[34:], uint16(flow))
						flow = (flow + 1) % c.flows
					}
					k.SetLen(lens[i])
					p.Enqueue(k, now)
				}
				n, _ := p.Dequeue(now, out)
				if n != benchBatch {
					b.Fatalf("dequeued %d of %d", n, benchBatch)
				}
				batch, out = out[:n], batch[:benchBatch]
			}
			for range c.flows/benchBatch + 1 {
				run()
			}
			b.ReportAllocs()
			cpu := startCPU(b)
			for done := 0; done < b.N; done += benchBatch {
				run()
			}
			cpu.report(b)
		})
	}
}

// BenchmarkEnqueueMiss is the cost of a flow cache miss: every packet is a
// new flow, matched against the rules.
func BenchmarkEnqueueMiss(b *testing.B) {
	p, batch, lens := benchPacer(b, model.Borrow)
	p.cache = newFlowCache(benchBatch, 1, p.seed) // entries expire after 1 ns
	out := make([]*Packet, benchBatch)
	b.ReportAllocs()
	cpu := startCPU(b)
	defer cpu.report(b)
	now := int64(1)
	for done := 0; done < b.N; done += benchBatch {
		now += 1000 // 26 KB at 400 Gbit/s takes 525 ns
		for i, k := range batch {
			k.SetLen(lens[i])
			p.Enqueue(k, now)
		}
		n, _ := p.Dequeue(now, out)
		if n != benchBatch {
			b.Fatalf("dequeued %d of %d", n, benchBatch)
		}
		batch, out = out[:n], batch[:benchBatch]
	}
}

// BenchmarkPeerRateAllowN is the peer: golang.org/x/time/rate's AllowN with
// the caller's time (read once per batch), one call per packet.
func BenchmarkPeerRateAllowN(b *testing.B) {
	lim := rate.NewLimiter(rate.Limit(50e9), 1<<30) // bytes/s, burst
	b.ReportAllocs()
	cpu := startCPU(b)
	defer cpu.report(b)
	for done := 0; done < b.N; done += benchBatch {
		now := time.Now()
		for i := range benchBatch {
			if !lim.AllowN(now, 200+i*40) {
				b.Fatal("limited")
			}
		}
	}
}

// BenchmarkPeerRateAllow is the peer with its own clock per packet
// (Allow reads time.Now).
func BenchmarkPeerRateAllow(b *testing.B) {
	lim := rate.NewLimiter(rate.Limit(1e12), 1<<30)
	b.ReportAllocs()
	cpu := startCPU(b)
	defer cpu.report(b)
	for range b.N {
		if !lim.Allow() {
			b.Fatal("limited")
		}
	}
}

// BenchmarkNow is the clock the datapath reads once per batch.
func BenchmarkNow(b *testing.B) {
	var s int64
	cpu := startCPU(b)
	defer cpu.report(b)
	for range b.N {
		s += Now()
	}
	_ = s
}

// BenchmarkParts splits the decision: frame parsing, flow cache lookup
// (key built from a parsed frame, a hit), and the class meter.
func BenchmarkParts(b *testing.B) {
	p, batch, _ := benchPacer(b, model.Borrow)
	frames := make([][]byte, len(batch))
	prs := make([]parsed, len(batch))
	for i, k := range batch {
		frames[i] = k.Frame()
		parse(frames[i], &prs[i])
		var key flowKey
		key.set(&prs[i], 0)
		p.cache.lookup(&key, 1)
	}
	b.Run("parse", func(b *testing.B) {
		var pr parsed
		cpu := startCPU(b)
		for i := range b.N {
			parse(frames[i%benchBatch], &pr)
		}
		cpu.report(b)
	})
	b.Run("lookup", func(b *testing.B) {
		cpu := startCPU(b)
		for i := range b.N {
			var k flowKey
			k.set(&prs[i%benchBatch], 0)
			if _, hit := p.cache.lookup(&k, 1); !hit {
				b.Fatal("miss")
			}
		}
		cpu.report(b)
	})
	b.Run("meter", func(b *testing.B) {
		m := &p.classes[1].m
		cpu := startCPU(b)
		for i := range b.N {
			m.fill(int64(i))
			if m.conforms(100) {
				m.take(100)
			}
		}
		cpu.report(b)
	})
}
