package fallback

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
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
		h := key.hash(p.cache.seed)
		if p.cache.lookup(&key, h, 1) == nil {
			p.cache.insert(&key, h, 1, false)
		}
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
			if p.cache.lookup(&k, k.hash(p.cache.seed), 1) == nil {
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

// newFlowClasses are the classes of the new-flow benchmarks: benchPacer's.
func newFlowClasses() []offload.ClassPlan {
	classes := []offload.ClassPlan{
		classPlan("ctl", 7, 0, model.Shape), classPlan("voice", 5, 400_000_000_000, model.Borrow),
		classPlan("video", 4, 0, model.Shape), classPlan("bulk", 1, 0, model.Shape), classPlan("be", 0, 0, model.Shape),
	}
	classes[1].Mark = offload.Mark{DSCP: 46}
	return classes
}

// dst32Plan is n rules each matching one IPv4 destination (/32, from
// 10.0.0.1 up) and tcp/443: one shape.
func dst32Plan(n int) *offload.TargetPlan {
	rules := make([]offload.Rule, n)
	for i := range rules {
		a := netip.AddrFrom4([4]byte{10, byte((i + 1) >> 16), byte((i + 1) >> 8), byte(i + 1)})
		rules[i] = pacerRule(fmt.Sprintf("d%d", i), []string{"video", "bulk"}[i%2], 100,
			model.Match{Dst: model.Prefix{Prefix: netip.PrefixFrom(a, 32)}, Protocol: model.TCP, DstPort: model.PortRange{Lo: 443, Hi: 443}})
	}
	return plan(400_000_000_000, newFlowClasses(), rules...)
}

// mixedShapes are the shapes of mixedPlan's rules, most specific (lowest
// precedence) first; mixedShape draws them with the weights of
// mixedWeights (in 20ths).
var (
	mixedShapes = []func(r *rand.Rand) model.Match{
		func(r *rand.Rand) model.Match { // IPv6 /64 + tcp/443
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(r.IntN(256)), byte(r.IntN(256))})
			return model.Match{Dst: model.Prefix{Prefix: netip.PrefixFrom(a, 64)}, Protocol: model.TCP, DstPort: model.PortRange{Lo: 443, Hi: 443}}
		},
		func(r *rand.Rand) model.Match { // /32 + tcp/443
			return model.Match{Dst: randPrefix4(r, 32), Protocol: model.TCP, DstPort: model.PortRange{Lo: 443, Hi: 443}}
		},
		func(r *rand.Rand) model.Match { // /24 + udp/5060 + DSCP 46
			return model.Match{Dst: randPrefix4(r, 24), Protocol: model.UDP, DstPort: model.PortRange{Lo: 5060, Hi: 5060}, DSCP: u8(46)}
		},
		func(r *rand.Rand) model.Match { // source /16 + destination /24 + tcp
			return model.Match{Src: randPrefix4(r, 16), Dst: randPrefix4(r, 24), Protocol: model.TCP}
		},
		func(r *rand.Rand) model.Match { // /24 + udp ports 10000-19999
			return model.Match{Dst: randPrefix4(r, 24), Protocol: model.UDP, DstPort: model.PortRange{Lo: 10000, Hi: 19999}}
		},
		func(r *rand.Rand) model.Match { // VLAN + /16
			return model.Match{VLAN: uint16(1 + r.IntN(4094)), Dst: randPrefix4(r, 16)}
		},
		func(r *rand.Rand) model.Match { // /16 + tcp from ports 1024-65535
			return model.Match{Dst: randPrefix4(r, 16), Protocol: model.TCP, SrcPort: model.PortRange{Lo: 1024, Hi: 65535}}
		},
		func(r *rand.Rand) model.Match { // /8 + udp
			return model.Match{Dst: model.Prefix{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(11 + r.IntN(100))}), 8)}, Protocol: model.UDP}
		},
	}
	mixedWeights = []int{1, 6, 2, 2, 4, 1, 3, 1}
)

// randPrefix4 is a random prefix of the given length inside 10.0.0.0/8.
func randPrefix4(r *rand.Rand, bits int) model.Prefix {
	a := netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	return model.Prefix{Prefix: netip.PrefixFrom(a, bits).Masked()}
}

// mixedPlan is n rules of the eight mixedShapes (prefix lengths /8 to /32
// and an IPv6 /64, exact ports, port ranges, udp and tcp, DSCP, VLAN),
// drawn at random with a fixed seed, precedence by shape.
func mixedPlan(n int) *offload.TargetPlan {
	r := rand.New(rand.NewPCG(7, 11))
	var bag []int
	for s, w := range mixedWeights {
		for range w {
			bag = append(bag, s)
		}
	}
	rules := make([]offload.Rule, n)
	for i := range rules {
		s := bag[r.IntN(len(bag))]
		rules[i] = pacerRule(fmt.Sprintf("m%d", i), []string{"ctl", "voice", "video", "bulk"}[i%4], uint16(10+10*s), mixedShapes[s](r))
	}
	return plan(400_000_000_000, newFlowClasses(), rules...)
}

// ruleFrames builds count frames (80 bytes) for the rules of p: three of
// four built to match a random rule (a random host of its prefixes, ports
// in its ranges, its protocol, DSCP and VLAN), the fourth matching none
// (GRE to 203.0.113.0/24). Frames from one rule differ in ports or hosts,
// so consecutive frames are distinct flows.
func ruleFrames(tp *offload.TargetPlan, count int) [][]byte {
	r := rand.New(rand.NewPCG(3, 5))
	host := func(p model.Prefix, fallback string) string {
		if !p.IsValid() {
			return fallback
		}
		b := p.Addr().As16()
		for i := p.Bits(); i < p.Addr().BitLen(); i++ {
			if r.IntN(2) == 1 {
				off := i
				if p.Addr().Is4() {
					off += 96
				}
				b[off/8] |= 0x80 >> (off % 8)
			}
		}
		a := netip.AddrFrom16(b)
		if p.Addr().Is4() {
			a = a.Unmap()
		}
		return a.String()
	}
	port := func(pr model.PortRange) uint16 {
		if pr.IsZero() {
			return uint16(1 + r.IntN(65535))
		}
		return pr.Lo + uint16(r.IntN(int(pr.Hi-pr.Lo)+1))
	}
	frames := make([][]byte, count)
	for i := range frames {
		s := frameSpec{src: fmt.Sprintf("192.168.%d.%d", r.IntN(256), r.IntN(256)), dst: fmt.Sprintf("203.0.113.%d", r.IntN(256)),
			proto: 47, vlan: -1, size: 80}
		if i%4 != 3 {
			m := &tp.Rules[r.IntN(len(tp.Rules))].Match
			v6 := m.Family() == 6
			srcDefault := s.src
			if v6 {
				srcDefault = fmt.Sprintf("2001:db8:ffff::%x", r.IntN(65536))
			}
			s.src, s.dst = host(m.Src, srcDefault), host(m.Dst, s.dst)
			s.proto = protoTCP
			if m.Protocol != 0 {
				s.proto = uint8(m.Protocol)
			}
			s.sport, s.dport = port(m.SrcPort), port(m.DstPort)
			if m.DSCP != nil {
				s.tos = *m.DSCP << 2
			}
			if m.VLAN != 0 {
				s.vlan = int(m.VLAN)
			}
		}
		frames[i] = make([]byte, s.size)
		s.build(frames[i])
	}
	return frames
}

// BenchmarkNewFlow is the cost of a packet of a new flow (a flow cache
// miss, so classified by the rules) through Enqueue and Dequeue, as
// BenchmarkEnqueueMiss, for rule sets of 10 to 100,000 rules: dst32 (one
// IPv4 /32 destination each, tcp/443) and mixed (eight shapes, see
// mixedPlan), classified by the tuple space (impl=tss) and by the linear
// scan (impl=scan). Frames are ruleFrames (a quarter matching no rule),
// copied into the packet before each Enqueue (part of the cost, the same
// for both). The goal is <= 300 ns/op and 0 allocs/op with the tuple
// space at 10,000 and 100,000 rules.
func BenchmarkNewFlow(b *testing.B) {
	for _, set := range []struct {
		name string
		plan func(n int) *offload.TargetPlan
	}{{"dst32", dst32Plan}, {"mixed", mixedPlan}} {
		b.Run(set.name, func(b *testing.B) {
			for _, n := range []int{10, 1000, 10_000, 100_000} {
				b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
					tp := set.plan(n)
					p := newPacer(b, tp, Config{MaxFrame: 2048})
					frames := ruleFrames(tp, 4096)
					now := int64(1) // the pacer's clock, monotonic across runs
					for _, impl := range []string{"tss", "scan"} {
						b.Run("impl="+impl, func(b *testing.B) {
							p.scan = impl == "scan"
							benchNewFlows(b, p, frames, &now)
						})
					}
				})
			}
		})
	}
}

// benchNewFlows enqueues frames to p in batches of benchBatch, every one a
// flow cache miss (entries expire after 1 ns), and dequeues each batch,
// advancing the clock *now by 1 us per batch.
func benchNewFlows(b *testing.B, p *Pacer, frames [][]byte, clock *int64) {
	p.cache = newFlowCache(benchBatch, 1, p.seed)
	batch := make([]*Packet, benchBatch)
	for i := range batch {
		batch[i] = p.Get()
	}
	out := make([]*Packet, benchBatch)
	now, fi := *clock, 0
	defer func() { *clock = now }()
	round := func() {
		now += 1000
		for _, k := range batch {
			f := frames[fi]
			fi = (fi + 1) % len(frames)
			k.SetLen(copy(k.ReadBuf(), f))
			p.Enqueue(k, now)
		}
		n, _ := p.Dequeue(now, out)
		if n != benchBatch {
			b.Fatalf("dequeued %d of %d", n, benchBatch)
		}
		batch, out = out[:n], batch[:benchBatch]
	}
	round()
	b.ReportAllocs()
	cpu := startCPU(b)
	for done := 0; done < b.N; done += benchBatch {
		round()
	}
	cpu.report(b)
	for _, k := range batch {
		p.Put(k)
	}
}

// BenchmarkNew is the cost of compiling a pacer (New) of 100,000 rules,
// tuple space included.
func BenchmarkNew(b *testing.B) {
	for _, set := range []struct {
		name string
		plan func(n int) *offload.TargetPlan
	}{{"dst32", dst32Plan}, {"mixed", mixedPlan}} {
		b.Run(set.name+"/rules=100000", func(b *testing.B) {
			tp := set.plan(100_000)
			b.ReportAllocs()
			cpu := startCPU(b)
			for range b.N {
				if _, err := New(tp, Config{}); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkClassify is the classifier alone on new flows (frames parsed
// beforehand, no flow cache): the tuple space and the scan on the rule
// sets of BenchmarkNewFlow, at 10,000 and 100,000 rules.
func BenchmarkClassify(b *testing.B) {
	for _, set := range []struct {
		name string
		plan func(n int) *offload.TargetPlan
	}{{"dst32", dst32Plan}, {"mixed", mixedPlan}} {
		b.Run(set.name, func(b *testing.B) {
			for _, n := range []int{10_000, 100_000} {
				b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
					tp := set.plan(n)
					p := newPacer(b, tp, Config{})
					frames := ruleFrames(tp, 4096)
					prs := make([]parsed, len(frames))
					for i, f := range frames {
						parse(f, &prs[i])
					}
					for _, impl := range []string{"tss", "scan"} {
						b.Run("impl="+impl, func(b *testing.B) {
							classify := p.tss.classify
							if impl == "scan" {
								classify = p.classifyScan
							}
							b.ReportAllocs()
							cpu := startCPU(b)
							matched := 0
							for i := range b.N {
								if classify(&prs[i%len(prs)], 0) >= 0 {
									matched++
								}
							}
							cpu.report(b)
							if b.N >= len(prs) && matched < b.N/2 {
								b.Fatalf("%d of %d frames matched a rule", matched, b.N)
							}
						})
					}
				})
			}
		})
	}
}
