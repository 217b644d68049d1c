package fallback

import (
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func TestZZSim(t *testing.T) {
	cp := classPlan("c", 0, 500_000_000, model.Shape)
	cp.Bucket = 625000
	p := newPacer(t, plan(10_000_000_000, []offload.ClassPlan{cp}, portRule("c", "c", 1)), Config{MaxDelay: 20 * time.Millisecond})
	var sent int
	now := int64(1e9)
	arrIv := int64(16000) // 1500 B at 750 Mbit/s = 16 µs
	nextArr := now
	end := now + 4e9
	var out [64]*Packet
	deq := func() int64 {
		for {
			k, nx := p.Dequeue(now, out[:])
			for _, q := range out[:k] {
				p.Put(q)
			}
			sent += k
			if k < len(out) {
				return nx
			}
		}
	}
	for now < end {
		i := 0
		for nextArr <= now && i < 64 {
			k := p.Get()
			k.SetLen(udp4(9, 1, 1500).build(k.ReadBuf()))
			p.Enqueue(k, now)
			nextArr += arrIv
			i++
			if i%8 == 0 {
				deq()
			}
		}
		next := deq()
		if i == 64 {
			continue
		}
		d := next - now
		d = min(max(d, 1_000_000), 2_000_000)
		now += d + 150_000 // processing
	}
	c := p.Counters()
	t.Logf("sent %d frames in 4 s = %.2f Mbit/s; counters %+v", sent, float64(sent)*1500*8/4/1e6, c.Classes["c"])
}
