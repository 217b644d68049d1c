package vethlab

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRouteSendReceive checks the generator and receiver against each other
// through a plain kernel route: what is sent arrives, at the set rate, with
// the marking it was sent with.
func TestRouteSendReceive(t *testing.T) {
	l := ForTest(t, Route)
	r, err := l.StartReceiver(map[uint16]uint8{1: RecordDelay})
	if err != nil {
		t.Fatal(err)
	}
	flows := []Flow{
		{Name: "bulk", DstPort: 5001, Rate: 100e6, Size: 1500, DSCP: 10},
		{Name: "probe", DstPort: 5002, Rate: 1e6, Size: 200, DSCP: 46, VLAN: 0},
	}
	r.Reset(time.Now().UnixNano())
	sent, start, err := l.Send(context.Background(), flows, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	res, other, err := r.Stop()
	if err != nil {
		t.Fatal(err)
	}
	_ = start
	for i, f := range flows {
		got := res[uint16(i)]
		if got == nil {
			t.Fatalf("flow %s: nothing received (other frames: %d)", f.Name, other)
		}
		t.Logf("flow %s: sent %d pkts %d B, received %d pkts %d B, dscp[%d]=%d windows=%v", f.Name, sent[i].Packets, sent[i].Bytes, got.Packets, got.Bytes, f.DSCP, got.DSCP[f.DSCP], got.Windows)
		if got.Packets != sent[i].Packets {
			t.Errorf("flow %s: received %d of %d packets", f.Name, got.Packets, sent[i].Packets)
		}
		if got.DSCP[f.DSCP] != got.Packets {
			t.Errorf("flow %s: DSCP %d on %d of %d packets", f.Name, f.DSCP, got.DSCP[f.DSCP], got.Packets)
		}
		want := float64(f.Rate) * 2 / 8
		if d := float64(sent[i].Bytes)/want - 1; d > 0.01 || d < -0.01 {
			t.Errorf("flow %s: generator sent %d B in 2 s, want %.0f ±1%%", f.Name, sent[i].Bytes, want)
		}
	}
	if d := res[1].Delays; len(d) > 0 {
		t.Logf("probe delay first %d ns", d[0])
	}
	// The peer discards the generator's datagrams without answering them
	// (nothing listens on their ports).
	if n := icmpOutDestUnreachs(t, l.Peer); n != 0 {
		t.Errorf("peer sent %d ICMP destination unreachables for the generator's datagrams, want 0", n)
	}
}

// icmpOutDestUnreachs reads the Icmp OutDestUnreachs counter of ns.
func icmpOutDestUnreachs(t *testing.T, ns *Netns) int {
	t.Helper()
	out, err := ns.Run(context.Background(), "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Icmp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "OutDestUnreachs" && i < len(f) {
				n, err := strconv.Atoi(f[i])
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
	}
	t.Fatalf("no Icmp OutDestUnreachs in /proc/net/snmp of %s", ns.Name)
	return 0
}
