package datapath_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/fallback"
	"github.com/qosplane/qosplane/fallback/datapath"
)

func newLab(t *testing.T) *vethlab.Lab { return vethlab.ForTest(t, vethlab.Bridge) }

// startBump starts a bump between pa and pb in the lab's pacer namespace.
func startBump(t *testing.T, l *vethlab.Lab, p *fallback.Pacer) *datapath.Bump {
	return startBumpFast(t, l, p, false)
}

// startBumpFast is startBump with datapath.Options.FastPath set to fast.
func startBumpFast(t *testing.T, l *vethlab.Lab, p *fallback.Pacer, fast bool) *datapath.Bump {
	t.Helper()
	var b *datapath.Bump
	err := l.Pacer.Do(func() (err error) {
		b, err = datapath.Start(datapath.Options{
			In: vethlab.PacerIn, Out: vethlab.PacerOut, Reverse: true, FastPath: fast, Log: testLog(),
		}, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("bump stop: %v", err)
		}
	})
	return b
}

// listenPeer listens on TCP port at the peer's address in the peer
// namespace; the listener closes when the test ends.
func listenPeer(t *testing.T, l *vethlab.Lab, port int) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := l.Peer.Do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(l.PeerIP.String(), strconv.Itoa(port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialPeer connects from the app namespace to TCP port at the peer's
// address, through the bump.
func dialPeer(t *testing.T, l *vethlab.Lab, port int) net.Conn {
	t.Helper()
	var c net.Conn
	if err := l.App.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(l.PeerIP.String(), strconv.Itoa(port)), 3*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// sendAndReceive runs the generator for d and returns what arrived.
func sendAndReceive(t *testing.T, l *vethlab.Lab, flows []vethlab.Flow, d time.Duration) ([]vethlab.SentStats, map[uint16]*vethlab.FlowResult, int64) {
	t.Helper()
	r, err := l.StartReceiver(nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UnixNano()
	r.Reset(t0)
	sent, start, err := l.Send(context.Background(), flows, d)
	if err != nil {
		r.Stop()
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	res, _, err := r.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return sent, res, start - t0
}

// TestForwardUnshaped: without a pacer every frame crosses unchanged, and a
// VLAN tag the kernel stripped on receive is back on the wire.
func TestForwardUnshaped(t *testing.T) {
	l := newLab(t)
	b := startBump(t, l, nil)
	flows := []vethlab.Flow{
		{Name: "plain", DstPort: 5001, Rate: 200e6, Size: 1500, DSCP: 10},
		{Name: "tagged", DstPort: 5002, Rate: 20e6, Size: 1000, DSCP: 46, VLAN: 100, PCP: 3},
	}
	sent, res, _ := sendAndReceive(t, l, flows, time.Second)
	for i, f := range flows {
		got := res[uint16(i)]
		if got == nil {
			t.Fatalf("flow %s: nothing arrived", f.Name)
		}
		if got.Packets != sent[i].Packets || got.Bytes != sent[i].Bytes {
			t.Errorf("flow %s: sent %d pkts %d B, received %d pkts %d B", f.Name, sent[i].Packets, sent[i].Bytes, got.Packets, got.Bytes)
		}
		if got.DSCP[f.DSCP] != got.Packets || got.BadIPSum != 0 {
			t.Errorf("flow %s: DSCP %d on %d of %d, %d bad IP checksums", f.Name, f.DSCP, got.DSCP[f.DSCP], got.Packets, got.BadIPSum)
		}
		wantPCP := 8 // untagged
		if f.VLAN != 0 {
			wantPCP = int(f.PCP)
		}
		if got.PCP[wantPCP] != got.Packets {
			t.Errorf("flow %s: PCP histogram %v, want all at %d", f.Name, got.PCP, wantPCP)
		}
	}
	s, _ := b.Stats()
	t.Logf("shaped direction: %+v", s)
}

// TestForwardTCP: a TCP stream crosses the unshaped bump both ways (data one
// way, ACKs the other) with GSO frames kept whole.
func TestForwardTCP(t *testing.T) {
	l := newLab(t)
	b := startBump(t, l, nil)
	ln := listenPeer(t, l, 5201)
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()
	c := dialPeer(t, l, 5201)
	buf := make([]byte, 1<<20)
	var sent int64
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	got := <-done
	el := time.Since(start)
	if got != sent {
		t.Fatalf("received %d of %d bytes", got, sent)
	}
	s, r := b.Stats()
	t.Logf("TCP through the unshaped bump: %.2f Gbit/s (%d B in %v); data dir %d pkts avg %d B; ack dir %d pkts",
		float64(got)*8/el.Seconds()/1e9, got, el, s.TxPackets, s.TxBytes/max(s.TxPackets, 1), r.TxPackets)
	if s.TxBytes/max(s.TxPackets, 1) < 3000 {
		t.Errorf("average frame %d B: GSO frames are not kept whole", s.TxBytes/max(s.TxPackets, 1))
	}
}

// TestForwardIperf measures iperf3 TCP through the unshaped bump (the
// forwarding goal is >= 20 Gbit/s; this test asserts only that it works and
// logs the rate: speed is bench.sh's business).
func TestForwardIperf(t *testing.T) {
	l := newLab(t)
	startBump(t, l, nil)
	r, err := l.Iperf(context.Background(), 5201, 1, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("iperf3 through the unshaped bump: %.2f Gbit/s, %d retransmits", r.Total/1e9, r.Retransmits)
	if r.Total < 100e6 {
		t.Errorf("TCP at %.0f bit/s", r.Total)
	}
}
