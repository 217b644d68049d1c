package kernel

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	osexec "os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// vethPair makes vA (this namespace, 4 tx queues, VLAN 100 on top) and vB
// (in a new namespace) with 10.78.0.1/2 untagged and 10.77.0.1/2 on VLAN
// 100. Everything is deleted on cleanup.
func vethPair(t *testing.T) (nsName string) {
	t.Helper()
	ip := "/usr/sbin/ip"
	if _, err := os.Stat(ip); err != nil {
		ip = "/sbin/ip"
	}
	nsName = fmt.Sprintf("qpk%d", os.Getpid())
	run(t, ip, "netns", "add", nsName)
	t.Cleanup(func() {
		_ = quiet(ip, "link", "del", "vA")
		_ = quiet(ip, "netns", "del", nsName)
	})
	run(t, ip, "link", "add", "vA", "numtxqueues", "4", "numrxqueues", "4", "type", "veth", "peer", "name", "vB", "numtxqueues", "4", "numrxqueues", "4")
	run(t, ip, "link", "set", "vB", "netns", nsName)
	run(t, ip, "link", "add", "link", "vA", "name", "vA.100", "type", "vlan", "id", "100")
	run(t, ip, "addr", "add", "10.78.0.1/24", "dev", "vA")
	run(t, ip, "addr", "add", "10.77.0.1/24", "dev", "vA.100")
	run(t, ip, "link", "set", "vA", "up")
	run(t, ip, "link", "set", "vA.100", "up")
	n := func(args ...string) { run(t, ip, append([]string{"-n", nsName}, args...)...) }
	n("link", "add", "link", "vB", "name", "vB.100", "type", "vlan", "id", "100")
	n("addr", "add", "10.78.0.2/24", "dev", "vB")
	n("addr", "add", "10.77.0.2/24", "dev", "vB.100")
	n("link", "set", "vB", "up")
	n("link", "set", "vB.100", "up")
	n("link", "set", "lo", "up")
	return nsName
}

// quiet runs a command and ignores its output (cleanup).
func quiet(name string, args ...string) error {
	return osexec.Command(name, args...).Run()
}

// arrival is one UDP packet seen on vB.
type arrival struct {
	dport  uint16
	dscp   uint8
	pcp    uint8
	tagged bool
	vlanID uint16
}

// capture receives on vB (inside ns) with an AF_PACKET socket and
// PACKET_AUXDATA (the VLAN tag the kernel stripped) until stop is closed.
func capture(t *testing.T, ns string) (stop func() []arrival) {
	t.Helper()
	var fd int
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // this thread's namespace changes; it dies with the goroutine
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			errc <- err
			return
		}
		ifi, err := net.InterfaceByName("vB")
		if err != nil {
			errc <- err
			return
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			errc <- err
			return
		}
		errc <- unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	}()
	if err := <-errc; err != nil {
		t.Fatalf("capture socket: %v", err)
	}
	tv := unix.Timeval{Usec: 100_000}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var (
		mu   sync.Mutex
		got  []arrival
		done = make(chan struct{})
		fin  = make(chan struct{})
	)
	go func() {
		defer close(fin)
		buf, oob := make([]byte, 4096), make([]byte, 256)
		for {
			select {
			case <-done:
				return
			default:
			}
			n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil {
				continue
			}
			if sll, ok := from.(*unix.SockaddrLinklayer); ok && sll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if a, ok := parseArrival(buf[:n], oob[:oobn]); ok {
				mu.Lock()
				got = append(got, a)
				mu.Unlock()
			}
		}
	}()
	return func() []arrival {
		close(done)
		<-fin
		unix.Close(fd)
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// parseArrival reads an IPv4/UDP frame; the VLAN tag comes from the
// auxdata (stripped by the kernel) or inline.
func parseArrival(b, oob []byte) (arrival, bool) {
	var a arrival
	if msgs, err := unix.ParseSocketControlMessage(oob); err == nil {
		for _, m := range msgs {
			// struct tpacket_auxdata: status, len, snaplen (u32), mac,
			// net, vlan_tci, vlan_tpid (u16).
			if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 20 {
				status := binary.NativeEndian.Uint32(m.Data)
				if status&unix.TP_STATUS_VLAN_VALID != 0 {
					tci := binary.NativeEndian.Uint16(m.Data[16:])
					a.tagged, a.pcp, a.vlanID = true, uint8(tci>>13), tci&0xFFF
				}
			}
		}
	}
	if len(b) < 14 {
		return a, false
	}
	et := binary.BigEndian.Uint16(b[12:])
	off := 14
	if et == 0x8100 && len(b) >= 18 {
		tci := binary.BigEndian.Uint16(b[14:])
		a.tagged, a.pcp, a.vlanID = true, uint8(tci>>13), tci&0xFFF
		et = binary.BigEndian.Uint16(b[16:])
		off = 18
	}
	if et != 0x0800 || len(b) < off+28 || b[off+9] != 17 {
		return a, false
	}
	ihl := int(b[off]&0xF) * 4
	a.dscp = b[off+1] >> 2
	a.dport = binary.BigEndian.Uint16(b[off+ihl+2:])
	return a, true
}

// send sends n UDP datagrams of size bytes to addr as fast as it can, from
// an unconnected socket (the receiver's port unreachable replies are not
// errors then).
func send(t *testing.T, addr string, n, size int) {
	t.Helper()
	c, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, size)
	for range n {
		if _, err := c.WriteTo(p, dst); err != nil {
			t.Fatalf("send to %s: %v", addr, err)
		}
	}
}

// queuePackets returns the packets each of vA's mqprio queues sent.
func queuePackets(t *testing.T) map[string]float64 {
	out := make(map[string]float64)
	for _, q := range tcJSON(t, "-s", "qdisc", "show", "dev", "vA") {
		parent, _ := q["parent"].(string)
		if pk, ok := q["packets"].(float64); ok && strings.HasPrefix(parent, "1:") {
			out[parent] = pk
		}
	}
	return out
}

// TestVethSoftwareRules applies software (skip_hw) egress rules on a veth
// with the driver and checks real packets: DSCP and PCP arrive rewritten,
// each flow leaves through its class's queue (skb priority -> mqprio TC),
// a borrowing meter remarks and demotes what exceeds it, a discarding one
// drops it.
func TestVethSoftwareRules(t *testing.T) {
	need(t, os.Geteuid() == 0, "root")
	need(t, tcPath() != "", "iproute2 tc")
	for _, m := range []string{"veth", "8021q", "cls_flower", "sch_mqprio", "sch_ingress", "act_skbedit", "act_pedit", "act_csum", "act_vlan", "act_police"} {
		need(t, kernelModule(m), "kernel module %s", m)
	}
	ns := vethPair(t)
	// A software mqprio (hw 0) maps skb priority p to TC p, queue p; it is
	// not qosplane's, so the driver must leave it alone.
	run(t, tcPath(), "qdisc", "add", "dev", "vA", "root", "handle", "1:", "mqprio", "num_tc", "4", "map", "0", "1", "2", "3",
		"queues", "1@0", "1@1", "1@2", "1@3", "hw", "0")

	owner := "qosplane-veth"
	d, err := nic.Open(offload.Device{Interface: "vA"}, owner, "none", slog.New(slog.NewTextHandler(os.Stderr, nil)), nic.WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cleanupRemove(t, d)
	sw := offload.Where{Placement: offload.Software, Reason: "veth"}
	udp := func(port uint16) model.Match {
		return model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: port, Hi: port}}
	}
	voice := udp(5004)
	voice.VLAN = 100
	want := &offload.TargetPlan{Kind: model.NIC, Owner: owner, Device: offload.Device{Interface: "vA"}, Rules: []offload.Rule{
		{ID: "voice/egress/vA", Class: "voice", Direction: offload.OnEgress, Device: "vA", Precedence: 10, Match: voice, Where: sw,
			Actions: []offload.Action{{Kind: offload.SetPriority, Priority: 2}, {Kind: offload.SetDSCP, DSCP: 46}, {Kind: offload.SetPCP, PCP: 5}}},
		{ID: "video/egress/vA", Class: "video", Direction: offload.OnEgress, Device: "vA", Precedence: 20, Match: udp(5006), Where: sw,
			Actions: []offload.Action{{Kind: offload.SetPriority, Priority: 1}, {Kind: offload.SetDSCP, DSCP: 34}}},
		{ID: "borrow/egress/vA", Class: "borrow", Direction: offload.OnEgress, Device: "vA", Precedence: 20, Match: udp(5008), Where: sw,
			Actions: []offload.Action{
				{Kind: offload.Police, Rate: 1_000_000, Burst: 3000, Shared: "class/borrow", Exceed: &offload.Exceed{DSCP: 8, DemotePriority: 0}},
				{Kind: offload.SetPriority, Priority: 3}, {Kind: offload.SetDSCP, DSCP: 26}}},
		{ID: "discard/egress/vA", Class: "discard", Direction: offload.OnEgress, Device: "vA", Precedence: 20, Match: udp(5010), Where: sw,
			Actions: []offload.Action{
				{Kind: offload.Police, Rate: 1_000_000, Burst: 3000, Shared: "class/discard", Exceed: &offload.Exceed{Drop: true}},
				{Kind: offload.SetPriority, Priority: 1}, {Kind: offload.SetDSCP, DSCP: 10}}},
	}}
	if ops, err := apply(d, want); err != nil {
		t.Fatalf("apply %d ops: %v", len(ops), err)
	}
	assertConverged(t, d, want)

	// Warm up ARP so that every counted packet is a test packet.
	send(t, "10.78.0.2:9", 1, 10)
	send(t, "10.77.0.2:9", 1, 10)
	time.Sleep(300 * time.Millisecond)

	stop := capture(t, ns)
	flows := []struct {
		addr  string
		port  uint16
		n     int
		queue string
	}{
		{"10.77.0.2:5004", 5004, 20, "1:3"}, // priority 2 -> TC 2 -> queue 3 (1-based)
		{"10.78.0.2:5006", 5006, 20, "1:2"},
		{"10.78.0.2:5008", 5008, 50, ""},
		{"10.78.0.2:5010", 5010, 50, ""},
	}
	var borrowSend, discardSend time.Duration
	for _, f := range flows {
		before := queuePackets(t)
		start := time.Now()
		send(t, f.addr, f.n, 1000)
		switch f.port {
		case 5008:
			borrowSend = time.Since(start)
		case 5010:
			discardSend = time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
		after := queuePackets(t)
		if f.queue != "" {
			if got := after[f.queue] - before[f.queue]; got < float64(f.n) {
				t.Errorf("flow %d: queue %s sent %v packets, want >= %d (queues before %v after %v)", f.port, f.queue, got, f.n, before, after)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	got := stop()
	byPort := make(map[uint16][]arrival)
	for _, a := range got {
		byPort[a.dport] = append(byPort[a.dport], a)
	}
	check := func(port uint16, want int, ok func(a arrival) bool, what string) {
		t.Helper()
		n := 0
		for _, a := range byPort[port] {
			if ok(a) {
				n++
			}
		}
		if n != want {
			t.Errorf("port %d: %d of %d packets %s, want %d", port, n, len(byPort[port]), what, want)
		}
	}
	check(5004, 20, func(a arrival) bool { return a.dscp == 46 && a.tagged && a.pcp == 5 && a.vlanID == 100 }, "with DSCP 46, VLAN 100 PCP 5")
	check(5006, 20, func(a arrival) bool { return a.dscp == 34 }, "with DSCP 34")
	var conf, exc int
	for _, a := range byPort[5008] {
		switch a.dscp {
		case 26:
			conf++
		case 8:
			exc++
		}
	}
	t.Logf("borrow: %d conforming (DSCP 26), %d exceeding (DSCP 8) of %d received", conf, exc, len(byPort[5008]))
	// At most the bucket plus what the rate adds while sending conforms
	// (1042-byte frames; the VM's sender is slow, so allow for it).
	maxConf := int((3000+125_000*borrowSend.Seconds())/1042) + 2
	if len(byPort[5008]) != 50 || conf < 1 || conf > maxConf || conf+exc != 50 {
		t.Errorf("borrow meter (1 Mbit/s, 3000 B, sent in %v): %d conforming, %d exceeding of %d; want all 50 passed, 1-%d conforming", borrowSend, conf, exc, len(byPort[5008]), maxConf)
	}
	t.Logf("discard: %d of 50 received", len(byPort[5010]))
	maxPass := int((3000+125_000*discardSend.Seconds())/1042) + 2
	if n := len(byPort[5010]); n < 1 || n > maxPass {
		t.Errorf("discard meter (1 Mbit/s, 3000 B, sent in %v) passed %d of 50 packets, want 1-%d", discardSend, n, maxPass)
	}
	for _, a := range byPort[5010] {
		if a.dscp != 10 {
			t.Errorf("discard flow packet with DSCP %d, want 10", a.dscp)
		}
	}
	// The driver's counters see the packets in software.
	c, err := d.Counters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rc := c.Rules["video/egress/vA"]; rc.Packets != 20 || rc.HardwarePackets != 0 {
		t.Errorf("video counters %+v, want 20 packets in software", rc)
	}
	if rc := c.Rules["borrow/egress/vA"]; rc.Packets != 50 {
		t.Errorf("borrow counters %+v, want the 50 packets of the flow (not the shared meter's)", rc)
	}
	t.Logf("counters: %+v", c.Rules)
	if st, err := d.DeviceStats(); err != nil || len(st) == 0 {
		t.Errorf("ethtool -S vA: %v (%d counters)", err, len(st))
	}

	// Remove leaves the foreign mqprio in place.
	if err := d.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if k := rootKind(t, "vA"); k != "mqprio" {
		t.Fatalf("root after remove: %s", k)
	}
}

func rootKind(t *testing.T, dev string) string {
	for _, q := range tcJSON(t, "qdisc", "show", "dev", dev) {
		if q["root"] == true {
			k, _ := q["kind"].(string)
			return k
		}
	}
	return ""
}

// kernelModule loads module m if it can and reports whether the kernel has
// it (loaded or built in).
func kernelModule(m string) bool {
	_ = quiet("modprobe", "-q", m)
	if _, err := os.Stat("/sys/module/" + m); err == nil {
		return true
	}
	return false
}
