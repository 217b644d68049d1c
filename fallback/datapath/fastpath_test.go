package datapath_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/fallback"
	"github.com/qosplane/qosplane/fallback/datapath"
)

// fastPolicy: "free" has no rate (its flows may take the fast path, DSCP
// 12), "capped" has one (never); no capacity, so no port rate.
const fastPolicy = `name: fast
classes:
  - {name: free, service: best-effort, mark: {dscp: 12, pcp: 0}}
  - {name: capped, service: best-effort, rate: 100Mbit, non-conforming: shape, mark: {dscp: 20, pcp: 0}}
flows:
  - {name: to-free, class: free, match: {protocol: udp, dst-port: 5001}}
  - {name: to-capped, class: capped, match: {protocol: udp, dst-port: 5002}}
  - {name: tcp, class: free, match: {protocol: tcp}}
targets:
  - {name: t, kind: nic, interface: pa, profile: none, fallback: {mode: bridge, peer: pb}}
`

// startFastBump starts a bump with the fast path in the lab's pacer
// namespace, and fails the test if the fast path is not attached (this
// kernel has tcx and the test runs as root: the fast path must work).
func startFastBump(t *testing.T, l *vethlab.Lab) (*datapath.Bump, *fallback.Pacer) {
	t.Helper()
	p, err := fallback.New(compilePlan(t, fastPolicy), fallback.Config{FastPath: true})
	if err != nil {
		t.Fatal(err)
	}
	b := startBumpFast(t, l, p, true)
	if !b.FastPath() {
		t.Fatal("the fast path did not attach (see the log): it needs root, CAP_BPF and tcx (Linux 6.6), all present here")
	}
	return b, p
}

// TestFastPathLab: a flow of the rate-less class crosses through the fast
// path (counted there, the pacer reads only its first frames), with every
// frame delivered once, in order (but for the handover), marked DSCP 12 with a right IPv4
// checksum; a flow of the capped class never takes it; the pacer's class
// counters include both paths; the reverse direction is forwarded in the
// kernel too.
func TestFastPathLab(t *testing.T) {
	l := newLab(t)
	b, p := startFastBump(t, l)
	flows := []vethlab.Flow{
		{Name: "free", DstPort: 5001, Rate: 300e6, Size: 1500, DSCP: 46},
		{Name: "capped", DstPort: 5002, Rate: 20e6, Size: 1000, DSCP: 46},
	}
	sent, res, _ := sendAndReceive(t, l, flows, 1500*time.Millisecond)
	marks := []int{12, 20}
	for i, f := range flows {
		got := res[uint16(i)]
		if got == nil {
			t.Fatalf("flow %s: nothing arrived", f.Name)
		}
		// Frames of the flow still in the pacer's receive socket when the
		// fast path takes the flow over leave after the first redirected
		// ones: at most one socket read's worth (64) of reordering.
		if got.Packets != sent[i].Packets || got.Reordered > 64 || i == 1 && got.Reordered != 0 {
			t.Errorf("flow %s: sent %d, received %d, %d reordered: want each frame once, in order but for the handover", f.Name, sent[i].Packets, got.Packets, got.Reordered)
		}
		if got.DSCP[marks[i]] != got.Packets || got.BadIPSum != 0 {
			t.Errorf("flow %s: DSCP %d on %d of %d frames, %d bad IPv4 checksums", f.Name, marks[i], got.DSCP[marks[i]], got.Packets, got.BadIPSum)
		}
	}
	shaped, _ := b.Stats()
	t.Logf("shaped direction: %+v", shaped)
	free := sent[0].Packets
	if shaped.FastPackets < free*9/10 || shaped.FastPackets > free {
		t.Errorf("fast path forwarded %d frames; want at least 90%% of the %d frames of flow free and none of capped", shaped.FastPackets, free)
	}
	if slow := shaped.TxPackets; slow != free-shaped.FastPackets+sent[1].Packets {
		t.Errorf("the pacer sent %d frames, want %d (free's before the fast path took over) + %d (capped)", slow, free-shaped.FastPackets, sent[1].Packets)
	}
	c := p.Counters()
	if got := c.Classes["free"]; got.Packets != free {
		t.Errorf("class free counts %d frames, want %d (pacer and fast path)", got.Packets, free)
	}
	if got := c.Classes["capped"]; got.Packets != sent[1].Packets {
		t.Errorf("class capped counts %d frames, want %d", got.Packets, sent[1].Packets)
	}

	// Reverse: a TCP connection's ACKs (and its handshake) come back
	// through the reverse program.
	ln := listenPeer(t, l, 5301)
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = c.Write([]byte("hello"))
			c.Close()
		}
	}()
	conn := dialPeer(t, l, 5301)
	buf := make([]byte, 5)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Read(buf); err != nil || string(buf) != "hello" {
		t.Fatalf("TCP through the bump: read %q, %v", buf, err)
	}
	conn.Close()
	_, rev := b.Stats()
	if rev.FastPackets == 0 || rev.TxPackets != 0 {
		t.Errorf("reverse direction: %d frames by the fast path, %d by the pacer's loop; want all by the fast path", rev.FastPackets, rev.TxPackets)
	}
}

// TestFastPathIperf: TCP through the bump with the fast path: the flow's
// first frames go through the pacer, the rest through the kernel; the
// transfer completes (bench.sh measures the speed).
func TestFastPathIperf(t *testing.T) {
	l := newLab(t)
	b, _ := startFastBump(t, l)
	r, err := l.Iperf(context.Background(), 5201, 2, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s, rev := b.Stats()
	t.Logf("iperf3 through the bump with the fast path: %.2f Gbit/s, %d retransmits; shaped %+v; reverse fast %d", r.Total/1e9, r.Retransmits, s, rev.FastPackets)
	if r.Total < 100e6 {
		t.Errorf("TCP at %.0f bit/s", r.Total)
	}
	if s.FastPackets == 0 || s.FastPackets < 10*s.TxPackets {
		t.Errorf("fast path %d frames, pacer %d: the TCP flows should have moved to the fast path", s.FastPackets, s.TxPackets)
	}
}

// TestFastPathSwap: after a live swap to a plan where the class has a rate,
// its flow leaves the fast path and is shaped to the rate.
func TestFastPathSwap(t *testing.T) {
	l := newLab(t)
	b, _ := startFastBump(t, l)
	flows := []vethlab.Flow{{Name: "free", DstPort: 5001, Rate: 200e6, Size: 1500}}
	sendAndReceive(t, l, flows, 500*time.Millisecond)
	before, _ := b.Stats()
	if before.FastPackets == 0 {
		t.Fatal("the flow did not take the fast path before the swap")
	}
	capped := strings.Replace(fastPolicy, "{name: free, service: best-effort,", "{name: free, service: best-effort, rate: 50Mbit, non-conforming: shape,", 1)
	p2, err := fallback.New(compilePlan(t, capped), fallback.Config{FastPath: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Swap(p2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	mid, _ := b.Stats()
	_, res, _ := sendAndReceive(t, l, flows, 2200*time.Millisecond)
	after, _ := b.Stats()
	if n := after.FastPackets - mid.FastPackets; n != 0 {
		t.Errorf("%d frames took the fast path after the swap to a rated class", n)
	}
	w := res[0].WindowRates(1, 2)[0]
	t.Logf("after the swap: %.2f Mbit/s in the second window (rate 50 Mbit/s)", w/1e6)
	if w < 49e6 || w > 51e6 {
		t.Errorf("after the swap the flow runs at %.2f Mbit/s, want 50 ±1 Mbit/s", w/1e6)
	}
}
