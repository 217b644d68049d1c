package veth

import (
	"context"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestTCPFairness: four iperf3 TCP connections in one 100 Mbit/s class.
// TCP adapts to the shaper (total goodput >= 90% of the L2 rate: TCP/IP
// headers take ~4.4% of 1514-byte frames) and the class's flow queues share
// fairly (Jain's index >= 0.95). Kernel HTB at the same rate alongside.
func TestTCPFairness(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	pol := policy("10Gbit", `- {name: tcp, service: best-effort, rate: 100Mbit, non-conforming: shape}`,
		`- {name: tcp-data, class: tcp, match: {protocol: tcp, dst-port: 5501}}`)
	const d = 6 * time.Second
	for _, impl := range []string{"pacer", "kernel-htb"} {
		body := func(c *checker) {
			var res *vethlab.IperfResult
			var err error
			if impl == "pacer" {
				p := startPacer(t, br, compile(t, pol), vethlab.PacerConfig{})
				res, err = br.Iperf(context.Background(), 5501, 4, d, "-O", "1")
				rep, serr := p.Stop()
				if serr != nil {
					t.Fatal(serr)
				}
				if c, ok := rep.Counters.Classes["tcp"]; ok {
					t.Logf("pacer class tcp: sent %d pkts %d B, dropped %d, CE-marked n/a; datapath %+v", c.Packets, c.Bytes, c.Drops, rep.Shaped)
				}
			} else {
				if err := rt.KernelHTB(context.Background(), 10e9, []vethlab.KernelClass{{Ports: []uint16{5501}, Rate: 100e6}}); err != nil {
					t.Fatal(err)
				}
				res, err = rt.Iperf(context.Background(), 5501, 4, d, "-O", "1")
				if cerr := rt.KernelClear(context.Background()); cerr != nil {
					t.Error(cerr)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			j := vethlab.Jain(res.Streams)
			report(t, "impl=%s total_goodput=%s streams=%v jain=%.4f retransmits=%d", impl, mbit(res.Total), res.Streams, j, res.Retransmits)
			if impl != "pacer" {
				return
			}
			if res.Total < 90e6 || res.Total > 100e6 {
				c.Errorf("TCP goodput %s through a 100 Mbit/s class; want 90-100 Mbit/s", mbit(res.Total))
			}
			if j < 0.95 {
				c.Errorf("Jain's index %.4f over %v; want >= 0.95", j, res.Streams)
			}
		}
		if impl == "pacer" {
			retry(t, body)
		} else {
			body(&checker{})
		}
	}
}
