package fallback

import (
	"math"
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func portRule(id, class string, port uint16) offload.Rule {
	return pacerRule(id, class, 10, model.Match{DstPort: model.PortRange{Lo: port, Hi: port}})
}

func TestStrictPriority(t *testing.T) {
	classes := []offload.ClassPlan{
		classPlan("low", 0, 0, model.Shape), classPlan("mid", 3, 0, model.Shape), classPlan("high", 7, 0, model.Shape),
	}
	p := newPacer(t, plan(10_000_000, classes, portRule("l", "low", 1), portRule("m", "mid", 2), portRule("h", "high", 3)),
		Config{MaxDelay: time.Second})
	for _, port := range []uint16{1, 2, 3} { // lowest priority arrives first
		for range 10 {
			p.Enqueue(pkt(t, p, udp4(7, port, 1000)), 0)
		}
	}
	var order []uint16
	drainAll(p, 0, func(k *Packet) {
		var pr parsed
		parse(k.Frame(), &pr)
		order = append(order, pr.dport)
	})
	if len(order) != 30 {
		t.Fatalf("sent %d, want 30", len(order))
	}
	for i, port := range order {
		if want := uint16(3 - i/10); port != want {
			t.Fatalf("packet %d from port %d, want %d (order %v)", i, port, want, order)
		}
	}
}

// TestPortRate: the scheduler never exceeds the port rate beyond its 2 ms
// burst, and keeps it busy.
func TestPortRate(t *testing.T) {
	p := newPacer(t, plan(80_000_000, []offload.ClassPlan{classPlan("c", 0, 0, model.Shape)}), Config{MaxDelay: time.Hour}) // 1e7 B/s
	for range 1000 {
		p.Enqueue(pkt(t, p, udp4(1, 2, 1000)), 0)
	}
	var bytes int64
	_, end := drainAll(p, 0, func(k *Packet) { bytes += int64(k.WireLen()) })
	// 1e6 bytes at 1e7 B/s: 100 ms, minus the 2 ms (20000 byte) burst.
	if want := int64(98 * time.Millisecond); end < want-int64(time.Millisecond/10) || end > want+int64(time.Millisecond/10) {
		t.Fatalf("drained %d bytes by %v, want about %v", bytes, time.Duration(end), time.Duration(want))
	}
}

// TestDRRWeights: three backlogged classes of one priority level with
// weights 1:2:3 and different packet sizes share the port in bytes 1:2:3
// within 1%.
func TestDRRWeights(t *testing.T) {
	sizes := []int{1500, 300, 900}
	weights := []uint32{1, 2, 3}
	var classes []offload.ClassPlan
	var rules []offload.Rule
	for i := range 3 {
		c := classPlan(string(rune('a'+i)), 2, 0, model.Shape)
		c.Weight = weights[i]
		classes = append(classes, c)
		rules = append(rules, portRule(c.Name, c.Name, uint16(i+1)))
	}
	p := newPacer(t, plan(100_000_000, classes, rules...), Config{MaxDelay: time.Second})
	queued := make([]int, 3)
	sent := make([]int64, 3)
	var out [32]*Packet
	now := int64(0)
	for range 20000 {
		for i := range 3 {
			for queued[i] < 40 {
				p.Enqueue(pkt(t, p, udp4(9, uint16(i+1), sizes[i])), now)
				queued[i]++
			}
		}
		n, next := p.Dequeue(now, out[:])
		for _, k := range out[:n] {
			var pr parsed
			parse(k.Frame(), &pr)
			i := int(pr.dport) - 1
			queued[i]--
			sent[i] += int64(k.WireLen())
			p.Put(k)
		}
		now = max(now, next)
	}
	total := sent[0] + sent[1] + sent[2]
	for i := range 3 {
		share := float64(sent[i]) / float64(total)
		want := float64(weights[i]) / 6
		if math.Abs(share-want)/want > 0.01 {
			t.Fatalf("class %d: byte share %.4f, want %.4f ±1%% (bytes %v)", i, share, want, sent)
		}
	}
	t.Logf("byte shares over %d bytes: %.4f %.4f %.4f", total, float64(sent[0])/float64(total), float64(sent[1])/float64(total), float64(sent[2])/float64(total))
}

// TestFlowFairness: inside one class, flows are served by DRR: a flow that
// filled the queue first does not starve later ones (Jain's index >= 0.95
// over bytes sent while all are backlogged), and a newcomer's packets leave
// within its first rounds.
func TestFlowFairness(t *testing.T) {
	p := newPacer(t, plan(10_000_000, []offload.ClassPlan{classPlan("c", 0, 0, model.Shape)}), Config{MaxDelay: time.Hour, Packets: 8192, MaxFrame: 2048})
	p.seed = 42 // fixed hash seed: the 8 flows below land in distinct sub-queues
	p.cache = newFlowCache(1024, int64(time.Minute), 42)
	const flows = 8
	sizes := []int{1500, 64, 400, 1000, 1500, 200, 800, 1200}
	seen := map[uint32]bool{}
	for f := range flows {
		k := pkt(t, p, udp4(uint16(1000+f), 80, 100))
		p.Enqueue(k, 0)
		seen[k.hash&p.classes[0].conf.q.mask] = true
	}
	drainAll(p, 0, nil)
	if len(seen) != flows {
		t.Fatalf("flows share sub-queues (%d distinct); pick another seed", len(seen))
	}
	// Flow 0 fills the queue first with 1000 packets.
	for range 1000 {
		p.Enqueue(pkt(t, p, udp4(1000, 80, sizes[0])), 0)
	}
	// The newcomers arrive after it.
	for f := 1; f < flows; f++ {
		for range 100_000 / sizes[f] {
			p.Enqueue(pkt(t, p, udp4(uint16(1000+f), 80, sizes[f])), 0)
		}
	}
	sent := make([]float64, flows)
	first := make([]float64, flows) // bytes sent by all flows before each flow's first packet
	for i := range first {
		first[i] = -1
	}
	var out [16]*Packet
	now, total := int64(0), 0.0
	// Measure only while every flow is backlogged.
	for !p.flowBacklog(sizes) {
		n, next := p.Dequeue(now, out[:])
		for _, k := range out[:n] {
			var pr parsed
			parse(k.Frame(), &pr)
			f := int(pr.sport) - 1000
			if first[f] < 0 {
				first[f] = total
			}
			total += float64(k.WireLen())
			sent[f] += float64(k.WireLen())
			p.Put(k)
		}
		now = max(now, next)
	}
	var sum, sq float64
	for _, b := range sent {
		sum += b
		sq += b * b
	}
	jain := sum * sum / (flows * sq)
	t.Logf("bytes per flow %v, Jain %.4f, bytes before first departure %v", sent, jain, first)
	if jain < 0.95 {
		t.Fatalf("Jain's fairness index %.4f < 0.95", jain)
	}
	for f := 1; f < flows; f++ {
		// Within the first DRR round: at most one quantum (+ one packet)
		// per flow ahead of it.
		if first[f] < 0 || first[f] > float64(flows*(1514+1500)) {
			t.Fatalf("flow %d first left after %.0f bytes: starved by flow 0", f, first[f])
		}
	}
}

// flowBacklog reports whether some flow's sub-queue ran empty (test helper
// for TestFlowFairness: the measurement covers only full backlog).
func (p *Pacer) flowBacklog(sizes []int) bool {
	q := &p.classes[0].conf.q
	active := 0
	for i := q.ahead; i >= 0; i = q.flows[i].next {
		active++
	}
	return active < len(sizes)
}
