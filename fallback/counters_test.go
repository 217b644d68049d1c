package fallback

import (
	"sync"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// TestCountersConcurrent reads Counters and Stats from another goroutine
// while the shaping loop runs (go test -race checks the publication), and
// checks the totals once it stops: every packet is sent or dropped.
func TestCountersConcurrent(t *testing.T) {
	cp := classPlan("c", 2, 8_000_000, model.Discard)
	p := newPacer(t, plan(0, []offload.ClassPlan{cp}), Config{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := p.Counters().Classes["c"]
			if c.Packets+c.Drops < last {
				t.Error("counters went backwards")
				return
			}
			last = c.Packets + c.Drops
			_ = p.Stats()
		}
	}()
	const total = 20000
	now := int64(0)
	for i := range total {
		p.Enqueue(pkt(t, p, udp4(uint16(i%50), 2, 500)), now)
		if i%16 == 15 {
			drain(p, now, nil)
			now += 100_000
		}
	}
	drain(p, now, nil)
	close(stop)
	wg.Wait()
	c := p.Counters().Classes["c"]
	if c.Packets+c.Drops != total || c.ConformingPackets != c.Packets || c.Drops == 0 || c.QueueDepth != 0 {
		t.Fatalf("counters %+v", c)
	}
	// 8 Mbit/s for 125 ms of simulated time plus the bucket: about 125 kB.
	if c.Bytes < 125_000 || c.Bytes > 125_000+uint64(cp.Bucket)+500 {
		t.Fatalf("sent %d bytes, want about 125000", c.Bytes)
	}
}
