package veth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestModes offers the same overload, 40 Mbit/s of VLAN-tagged frames to a
// 20 Mbit/s class, in each non-conforming mode:
//   - shape: 20 Mbit/s leaves (windows ±1%), all marked conforming (DSCP
//     46, PCP 5), the rest is delayed (p50 > 10 ms, p99 within the 20 ms
//     queue bound + 3.5 ms: one wake quantum, one frame time, and the
//     scheduling delays of a loaded 2-core machine) and then dropped at the
//     queue bound;
//   - borrow: everything leaves on the idle port (loss < 1%), about half
//     marked conforming (20 Mbit/s ±2%) and the rest non-conforming (DSCP 8,
//     PCP 1), none delayed (p99 < 2 ms);
//   - discard: 20 Mbit/s leaves (±1%), all conforming, none delayed (p99 < 2
//     ms), about half dropped.
//
// A second class checks marking of untagged frames: DSCP 40 and a priority
// tag with PCP 5 inserted, IPv4 header checksums valid. The kernel baseline
// (TBF for shape, HTB borrowing for borrow) shows rates only: this kernel
// has no pedit/skbedit/vlan actions to mark with.
func TestModes(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	flows := []vethlab.Flow{
		{Name: "over", DstPort: 5301, Rate: 40e6, Size: 1500, VLAN: 100, PCP: 0, DSCP: 0},
		{Name: "untagged", DstPort: 5302, Rate: 5e6, Size: 600, DSCP: 0},
	}
	rec := map[uint16]uint8{0: vethlab.RecordDelay, 1: vethlab.RecordDelay}
	const d = 4500 * time.Millisecond
	for _, mode := range []string{"shape", "borrow", "discard"} {
		t.Run(mode, func(t *testing.T) {
			pol := policy("100Mbit", fmt.Sprintf(`- name: c
  service: controlled-load
  rate: 20Mbit
  non-conforming: %s
  mark: {dscp: 46, pcp: 5}
- name: m
  service: guaranteed
  rate: 10Mbit
  mark: {dscp: 40, pcp: 5}`, mode), `- {name: c-udp, class: c, match: {protocol: udp, dst-port: 5301}}
- {name: m-udp, class: m, match: {protocol: udp, dst-port: 5302}}`)
			retry(t, func(ck *checker) {
				r := pacerRun(t, br, compile(t, pol), flows, d, rec)
				c := r.flow(0)
				ws := c.WindowRates(1, 4)
				p50, p99 := vethlab.Percentile(c.Delays, 50), vethlab.Percentile(c.Delays, 99)
				base := vethlab.Percentile(r.flow(1).Delays, 50)
				confFrac := float64(c.DSCP[46]) / float64(max(c.Packets, 1))
				report(t, "impl=pacer mode=%s rate=%s loss=%s conforming(dscp46)=%d pcp5=%d nonconforming(dscp8)=%d pcp1=%d delay_p50=%v p99=%v",
					mode, mbit(vethlab.Mean(ws)), pct(r.loss(0)), c.DSCP[46], c.PCP[5], c.DSCP[8], c.PCP[1], time.Duration(p50), time.Duration(p99))
				if c.BadIPSum != 0 {
					ck.Errorf("%d frames with a bad IPv4 header checksum", c.BadIPSum)
				}
				if c.DSCP[46] != c.PCP[5] || c.DSCP[8] != c.PCP[1] || c.DSCP[46]+c.DSCP[8] != c.Packets {
					ck.Errorf("marking: DSCP46 %d / PCP5 %d, DSCP8 %d / PCP1 %d of %d frames; want each frame either conforming (46/5) or not (8/1)",
						c.DSCP[46], c.PCP[5], c.DSCP[8], c.PCP[1], c.Packets)
				}
				switch mode {
				case "shape", "discard":
					if dev := vethlab.MaxDev(ws, 20e6); dev > 0.01 {
						ck.Errorf("windows %v, want 20 Mbit/s ±1%%", ws)
					}
					if c.DSCP[8] != 0 {
						ck.Errorf("%d frames marked non-conforming in %s mode", c.DSCP[8], mode)
					}
					if l := r.loss(0); l < 0.45 || l > 0.55 {
						ck.Errorf("loss %s, want about 50%%", pct(l))
					}
				case "borrow":
					if l := r.loss(0); l > 0.01 {
						ck.Errorf("loss %s in borrow mode on an idle port, want < 1%%", pct(l))
					}
					conf := vethlab.Mean(ws) * confFrac
					if conf < 20e6*0.98 || conf > 20e6*1.02 {
						ck.Errorf("conforming share %s, want 20 Mbit/s ±2%%", mbit(conf))
					}
				}
				switch mode {
				case "shape":
					if p50-base < int64(10*time.Millisecond) || p99-base > int64(23500*time.Microsecond) {
						ck.Errorf("shape delay p50 %v p99 %v over the path's %v; want p50 > 10ms (delayed) and p99 <= 23.5ms", time.Duration(p50), time.Duration(p99), time.Duration(base))
					}
				default:
					if p99-base > int64(2*time.Millisecond) {
						ck.Errorf("%s delay p99 %v over the path's %v; want < 2ms (not delayed)", mode, time.Duration(p99), time.Duration(base))
					}
				}
				m := r.flow(1)
				if m.Packets == 0 || m.DSCP[40] != m.Packets || m.PCP[5] != m.Packets || m.BadIPSum != 0 {
					ck.Errorf("untagged class: %d frames, DSCP40 %d, PCP5 %d, bad checksums %d; want all DSCP 40 with a PCP 5 priority tag",
						m.Packets, m.DSCP[40], m.PCP[5], m.BadIPSum)
				}
			})
		})
	}
	t.Run("kernel", func(t *testing.T) {
		// The routing kernel here has no 802.1Q: send the baseline untagged.
		flows := []vethlab.Flow{flows[0], flows[1]}
		flows[0].VLAN = 0
		r := kernelRun(t, rt, func(ctx context.Context) error { return rt.KernelTBF(ctx, 20e6, 25000, 0, 0, 50000) }, flows, d, rec)
		report(t, "impl=kernel-tbf mode=shape rate=%s loss=%s delay_p99=%v marking=n/a", mbit(vethlab.Mean(r.flow(0).WindowRates(1, 4))), pct(r.loss(0)), time.Duration(vethlab.Percentile(r.flow(0).Delays, 99)))
		r = kernelRun(t, rt, func(ctx context.Context) error {
			return rt.KernelHTB(ctx, 100e6, []vethlab.KernelClass{{Ports: []uint16{5301}, Rate: 20e6, Ceil: 100e6}})
		}, flows, d, rec)
		report(t, "impl=kernel-htb mode=borrow rate=%s loss=%s delay_p99=%v marking=n/a", mbit(vethlab.Mean(r.flow(0).WindowRates(1, 4))), pct(r.loss(0)), time.Duration(vethlab.Percentile(r.flow(0).Delays, 99)))
	})
}
