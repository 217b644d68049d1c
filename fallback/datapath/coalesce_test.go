package datapath_test

import (
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/fallback"
)

// coalescePolicy: a best-effort class and a guaranteed one (which bounds
// delay), both rated well above what the test offers.
const coalescePolicy = `name: coalesce
classes:
  - {name: bulk, service: best-effort, rate: 400Mbit, non-conforming: shape}
  - {name: urgent, service: guaranteed, rate: 20Mbit, non-conforming: shape}
flows:
  - {name: to-bulk, class: bulk, match: {protocol: udp, dst-port: 5001}}
  - {name: to-urgent, class: urgent, match: {protocol: udp, dst-port: 5002}}
targets:
  - {name: t, kind: nic, interface: pa, profile: none, capacity: 10Gbit, fallback: {mode: bridge, peer: pb}}
`

// TestCoalesceLab: with only best-effort traffic the shaping loop reads
// arrivals in batches (coalesced sleeps, at least 8 frames a read on
// average at 100 Mbit/s of 1500 B frames, about 8,300 a second); once a
// guaranteed flow is present it wakes per arrival again (coalesced sleeps
// at most the few before its first frame). Every frame arrives in both
// cases.
func TestCoalesceLab(t *testing.T) {
	l := newLab(t)
	bulk := vethlab.Flow{Name: "bulk", DstPort: 5001, Rate: 100e6, Size: 1500}
	urgent := vethlab.Flow{Name: "urgent", DstPort: 5002, Rate: 1e6, Size: 200}
	for _, c := range []struct {
		name  string
		flows []vethlab.Flow
	}{{"best-effort only", []vethlab.Flow{bulk}}, {"with a guaranteed flow", []vethlab.Flow{urgent, bulk}}} {
		t.Run(c.name, func(t *testing.T) {
			p, err := fallback.New(compilePlan(t, coalescePolicy), fallback.Config{})
			if err != nil {
				t.Fatal(err)
			}
			b := startBump(t, l, p)
			sent, res, _ := sendAndReceive(t, l, c.flows, 1500*time.Millisecond)
			for i, f := range c.flows {
				got := res[uint16(i)]
				if got == nil || got.Packets != sent[i].Packets {
					t.Fatalf("flow %s: sent %d frames, received %+v", f.Name, sent[i].Packets, got)
				}
			}
			s, _ := b.Stats()
			perRead := float64(s.RxPackets) / float64(max(s.RxBatches, 1))
			t.Logf("waits %d, coalesced %d, %d frames in %d reads (%.1f a read)", s.Waits, s.Coalesced, s.RxPackets, s.RxBatches, perRead)
			if len(c.flows) == 1 {
				if s.Coalesced == 0 || perRead < 8 {
					t.Errorf("best-effort only: %d coalesced sleeps, %.1f frames a read; want batched reads (>= 8 frames a read)", s.Coalesced, perRead)
				}
				return
			}
			if s.Coalesced > 3 {
				t.Errorf("with a guaranteed flow: %d coalesced sleeps of %d; want only those before its first frame (<= 3)", s.Coalesced, s.Waits)
			}
		})
	}
}
