package labcheck

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// Packets sent with socket priority 1 leave through TC 1's queue group
// (mqprio map prio 1 -> TC 1 -> queues 8..15), which the module counts.
func TestPriorityToQueueGroup(t *testing.T) {
	requireLab(t)
	const dev, n = "qtn0", 20
	hwTcOffload(t, dev)
	rootMqprio(t, dev, "num_tc", "2", "map", "0", "1", "queues", "8@0", "8@8",
		"hw", "1", "mode", "channel", "shaper", "bw_rlimit", "max_rate", "1gbit", "2gbit")
	for _, args := range [][]string{
		{"link", "set", dev, "up"},
		{"addr", "add", "198.51.100.1/24", "dev", dev},
		{"neigh", "add", "198.51.100.2", "lladdr", "02:00:00:00:00:02", "dev", dev, "nud", "permanent"},
	} {
		if out, err := run("/usr/sbin/ip", args...); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() {
		_, _ = run("/usr/sbin/ip", "addr", "flush", "dev", dev)
		_, _ = run("/usr/sbin/ip", "link", "set", dev, "down")
	})

	before := state(t, dev).TxqPackets
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP("198.51.100.2"), Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PRIORITY, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_PRIORITY: %v %v", err, serr)
	}
	for i := 0; i < n; i++ {
		if _, err := conn.Write([]byte("qosplane")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// The qdisc hands packets to the driver asynchronously at worst briefly.
	var tc1 uint64
	for try := 0; try < 50; try++ {
		after := state(t, dev).TxqPackets
		tc1 = 0
		for q := 8; q < 16; q++ {
			tc1 += after[q] - before[q]
		}
		if tc1 >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tc1 != n {
		t.Fatalf("TC 1 queues (8..15) sent %d packets, want %d", tc1, n)
	}
}
