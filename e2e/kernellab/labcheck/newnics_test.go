package labcheck

import (
	"reflect"
	"strings"
	"testing"
)

// qtn5 takes i40e ADQ as i40e does in Linux 6.1: channel mqprio without
// min rates, TC 0's queues a power of two; flower hw_tc only for TCP to a
// whole destination address and port.
func TestI40EADQ(t *testing.T) {
	requireLab(t)
	const dev = "qtn5"
	hwTcOffload(t, dev)
	// iproute2 parses queues after num_tc.
	mq := func(queues []string, rest ...string) []string {
		a := []string{"qdisc", "add", "dev", dev, "root", "handle", "100:", "mqprio", "num_tc", "2", "map", "0", "1", "queues"}
		a = append(a, queues...)
		return append(append(a, "hw", "1", "mode", "channel", "shaper", "bw_rlimit"), rest...)
	}
	tcFails(t, mq([]string{"4@0", "4@4"}, "min_rate", "100mbit", "100mbit")...)
	wantLastError(t, state(t, dev), "mqprio", "qostestnic: Invalid min tx rate (greater than 0) specified")
	tcFails(t, mq([]string{"3@0", "4@3"}, "max_rate", "1gbit", "1gbit")...) // bw_rlimit needs a rate in iproute2
	wantLastError(t, state(t, dev), "mqprio", "qostestnic: Failed to create channel. Override queues not power of 2")
	tcFails(t, mq([]string{"4@0", "4@4"}, "max_rate", "20gbit", "10gbit")...)
	wantLastError(t, state(t, dev), "mqprio", "qostestnic: Invalid max tx rate specified")
	rootMqprio(t, dev, mq([]string{"4@0", "4@4"}, "max_rate", "1gbit", "2gbit")[8:]...)
	if m := state(t, dev).Mqprio; m == nil || !reflect.DeepEqual(m.MaxRate, []uint64{125_000_000, 250_000_000}) {
		t.Fatalf("mqprio %+v", m)
	}
	clsact(t, dev)
	for _, c := range []struct {
		match []string
		msg   string
	}{
		{[]string{"ip_proto", "udp", "dst_ip", "10.0.0.1", "dst_port", "53"}, "qostestnic: big buffer cloud filter: UDP ports are not supported"},
		{[]string{"ip_proto", "tcp", "dst_ip", "10.0.0.0/24", "dst_port", "80"}, "qostestnic: Bad ip dst/src mask"},
		{[]string{"ip_proto", "tcp", "dst_ip", "10.0.0.1"}, "qostestnic: Specify destination port to direct to traffic class that is not default"},
		{[]string{"ip_proto", "tcp", "src_ip", "10.0.0.2", "dst_ip", "10.0.0.1", "dst_port", "80"}, "qostestnic: adding filter using src_port/src_ip is not supported"},
		{[]string{"ip_proto", "tcp", "dst_port", "80"}, "qostestnic: either mac or ip has to be valid for cloud filter"},
	} {
		args := append([]string{"filter", "add", "dev", dev, "ingress", "protocol", "ip", "flower", "skip_sw"}, c.match...)
		tcFails(t, append(args, "hw_tc", "1")...)
		wantLastError(t, state(t, dev), "flower", c.msg)
	}
	tc(t, "filter", "add", "dev", dev, "ingress", "protocol", "ip", "flower", "skip_sw", "ip_proto", "tcp",
		"dst_ip", "10.0.0.1", "dst_port", "80", "hw_tc", "1")
	if s := state(t, dev); len(s.Flower) != 1 || s.Flower[0].ClassID&0xffff != 0xffe1 {
		t.Fatalf("flower %+v", s.Flower)
	}
	tcFails(t, "filter", "add", "dev", dev, "ingress", "protocol", "ip", "flower", "skip_sw", "ip_proto", "tcp",
		"dst_ip", "10.0.0.1", "dst_port", "81", "hw_tc", "0")
	wantLastError(t, state(t, dev), "flower", "qostestnic: Unable to add filter because of invalid destination")
}

// qtn6 takes mqprio as bnxt does: a TC count, its own layout, no rates.
func TestBnxtMqprioTCCount(t *testing.T) {
	requireLab(t)
	const dev = "qtn6"
	rootMqprio(t, dev, "num_tc", "3", "map", "0", "1", "2", "queues", "2@0", "2@2", "4@4", "hw", "1",
		"mode", "channel", "shaper", "bw_rlimit", "max_rate", "1gbit", "1gbit", "1gbit")
	s := state(t, dev)
	if m := s.Mqprio; m == nil || !reflect.DeepEqual(m.Count, []int{8, 8, 8}) || !reflect.DeepEqual(m.Offset, []int{0, 8, 16}) ||
		!reflect.DeepEqual(m.MaxRate, []uint64{0, 0, 0}) {
		t.Fatalf("mqprio %+v", s.Mqprio)
	}
	// tc shows the device's layout, not the one asked for.
	out, err := run(tcBin, "qdisc", "show", "dev", dev, "root")
	if err != nil || !strings.Contains(out, "queues:(0:7) (8:15) (16:23)") {
		t.Fatalf("tc qdisc show dev %s root: %v\n%s", dev, err, out)
	}
}

// qtn7 takes channel mqprio as cxgb4_mqprio_validate does.
func TestCxgb4Mqprio(t *testing.T) {
	requireLab(t)
	const dev = "qtn7"
	base := []string{"qdisc", "add", "dev", dev, "root", "handle", "100:", "mqprio", "num_tc", "2", "map", "0", "1", "queues"}
	tcFails(t, append(base, "8@0", "8@4", "hw", "1", "mode", "channel", "shaper", "bw_rlimit", "max_rate", "1gbit", "1gbit")...)
	wantLastError(t, state(t, dev), "mqprio", "qostestnic: Queues can't overlap across tc")
	tcFails(t, append(base, "8@0", "8@8", "hw", "1", "mode", "channel", "shaper", "bw_rlimit", "min_rate", "20gbit", "10gbit")...)
	wantLastError(t, state(t, dev), "mqprio", "qostestnic: Total Min/Max Rate > supported")
	tcFails(t, append(base, "8@0", "8@8", "hw", "1", "mode", "dcb")...)
	wantLastError(t, state(t, dev), "mqprio", "qostestnic: Only channel mode offload is supported")
	rootMqprio(t, dev, "num_tc", "2", "map", "0", "1", "queues", "8@0", "8@8", "hw", "1", "mode", "channel",
		"shaper", "bw_rlimit", "min_rate", "1gbit", "2gbit", "max_rate", "5gbit", "10gbit")
	if m := state(t, dev).Mqprio; m == nil || !reflect.DeepEqual(m.MinRate, []uint64{125_000_000, 250_000_000}) {
		t.Fatalf("mqprio %+v", m)
	}
}
