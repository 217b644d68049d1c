package fallback_test

import (
	"fmt"

	"github.com/qosplane/qosplane/fallback"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// The datapath's shaping loop: read frames into pooled packets, Enqueue a
// batch with one clock reading, Dequeue what may leave, send it, Put it
// back, and sleep until next (once per batch, never per packet).
func Example() {
	tp := &offload.TargetPlan{
		Target: "eth0",
		Classes: []offload.ClassPlan{{
			Name: "voice", Priority: 5, Weight: 1, Rate: 8_000_000, Bucket: 3000, MaxSDU: 1518,
			NonConforming: model.Shape, Mark: offload.Mark{DSCP: 46},
		}},
		Pacer: &offload.PacerPlan{Mode: "attach", Interface: "eth0", PortRate: 100_000_000},
	}
	p, err := fallback.New(tp, fallback.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	frame := make([]byte, 1000) // an Ethernet frame read from the interface
	now := int64(0)             // fallback.Now() in a real loop
	for range 5 {
		pkt := p.Get()
		if pkt == nil {
			break // pool exhausted: the datapath drops the frame and counts it
		}
		pkt.SetLen(copy(pkt.ReadBuf(), frame))
		p.Enqueue(pkt, now)
	}
	out := make([]*fallback.Packet, 32)
	for now >= 0 {
		n, next := p.Dequeue(now, out)
		for _, pkt := range out[:n] {
			_ = pkt.Frame() // send it
			p.Put(pkt)
		}
		fmt.Printf("t=%dus sent %d\n", now/1000, n)
		if next == 0 {
			break
		}
		now = next // sleep until next
	}
	// Output:
	// t=0us sent 3
	// t=1000us sent 1
	// t=2000us sent 1
}
