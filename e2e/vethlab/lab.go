package vethlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// Mode is how the pacer namespace joins app and peer.
type Mode int

const (
	// Bridge: no addresses in the pacer namespace; a bump in the wire
	// between PacerIn and PacerOut carries the frames (app and peer share
	// one subnet).
	Bridge Mode = iota
	// Route: the pacer namespace's kernel routes between two subnets;
	// kernel qdiscs on PacerOut shape the app -> peer direction.
	Route
)

// Interface names inside the namespaces.
const (
	AppIf    = "app0"  // in app, towards the pacer
	PacerIn  = "pa"    // in pacer, towards app
	PacerOut = "pb"    // in pacer, towards peer
	PeerIf   = "peer0" // in peer, towards the pacer
)

// Lab is one instance of the three-namespace topology.
type Lab struct {
	Mode             Mode
	App, Pacer, Peer *Netns
	// AppIP and PeerIP are the senders' and receivers' addresses.
	AppIP, PeerIP netip.Addr
	// AppMAC is app0's address, PeerMAC peer0's; NextHopMAC is where app
	// sends frames for PeerIP (PeerMAC in bridge mode, pa's in route mode).
	AppMAC, PeerMAC, NextHopMAC net.HardwareAddr
	// Realtime runs the generator's and receiver's threads SCHED_FIFO
	// (priority 5), so that other load on the machine does not disturb
	// timing measurements. Leave it off for saturation runs: realtime
	// threads that keep a CPU busy starve ksoftirqd, which then drops
	// frames no shaper dropped, and the Go runtime thread that ends the
	// generator's sleeps, which then stalls the offered load.
	Realtime bool
	// RecvPoll, when not 0, makes the receiver read without blocking and
	// sleep RecvPoll whenever its socket is empty, instead of sleeping in
	// recvmmsg until the next frame. Frames keep their kernel receive
	// times, so rates and delays are measured the same; what changes is
	// that a frame leaving the pacer no longer wakes the receiver (and, on
	// two cores, preempts the sender in sendmmsg), a cost a real NIC does
	// not put on the pacer. The socket buffer (32 MiB) must hold RecvPoll
	// of traffic.
	RecvPoll time.Duration
}

var labSeq atomic.Uint32

// CheckRoot returns a reason the lab cannot run here, or "" when it can.
func CheckRoot() string {
	if os.Geteuid() != 0 {
		return "the veth lab needs root (network namespaces, AF_PACKET)"
	}
	if _, err := os.Stat("/usr/sbin/ip"); err != nil {
		if _, err := os.Stat("/sbin/ip"); err != nil {
			return "iproute2 `ip` not found"
		}
	}
	return ""
}

// New builds a lab. Namespaces are named "<prefix>-<pid>-<n>-app" (and
// -pacer, -peer), prefix being $QOSPLANE_LAB_PREFIX or "qp"; New first
// deletes the labs of processes that no longer run (sweepStale), so that
// what a killed run left behind goes with the next lab. The caller must
// Close it, also on failure paths (New cleans up after itself when it
// returns an error).
func New(ctx context.Context, mode Mode) (l *Lab, err error) {
	prefix := os.Getenv("QOSPLANE_LAB_PREFIX")
	if prefix == "" {
		prefix = "qp"
	}
	sweepStale(ctx)
	id := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), labSeq.Add(1))
	lab := &Lab{Mode: mode}
	l = lab
	defer func() {
		if err != nil {
			lab.Close() // l is already nil here: the return set it
			l = nil
		}
	}()
	for _, s := range []struct {
		p    **Netns
		role string
	}{{&l.App, "app"}, {&l.Pacer, "pacer"}, {&l.Peer, "peer"}} {
		ns, err := newNetns(ctx, id+"-"+s.role)
		if err != nil {
			return nil, err
		}
		*s.p = ns
	}
	steps := [][]string{
		{"-n", l.App.Name, "link", "add", AppIf, "type", "veth", "peer", "name", PacerIn, "netns", l.Pacer.Name},
		{"-n", l.Peer.Name, "link", "add", PeerIf, "type", "veth", "peer", "name", PacerOut, "netns", l.Pacer.Name},
	}
	for _, s := range steps {
		if _, err := run(ctx, "ip", s...); err != nil {
			return nil, err
		}
	}
	for _, ns := range []*Netns{l.App, l.Pacer, l.Peer} {
		for _, key := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
			if err := ns.Sysctl(key, "1"); err != nil {
				return nil, err
			}
		}
		if _, err := run(ctx, "ip", "-n", ns.Name, "link", "set", "lo", "up"); err != nil {
			return nil, err
		}
	}
	if l.AppMAC, err = l.mac(ctx, l.App, AppIf); err != nil {
		return nil, err
	}
	if l.PeerMAC, err = l.mac(ctx, l.Peer, PeerIf); err != nil {
		return nil, err
	}
	var cmds [][]string
	switch mode {
	case Bridge:
		l.AppIP, l.PeerIP = netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")
		l.NextHopMAC = l.PeerMAC
		cmds = [][]string{
			{"-n", l.App.Name, "addr", "add", "10.99.0.1/24", "dev", AppIf},
			{"-n", l.Peer.Name, "addr", "add", "10.99.0.2/24", "dev", PeerIf},
			{"-n", l.App.Name, "neigh", "add", "10.99.0.2", "lladdr", l.PeerMAC.String(), "dev", AppIf, "nud", "permanent"},
			{"-n", l.Peer.Name, "neigh", "add", "10.99.0.1", "lladdr", l.AppMAC.String(), "dev", PeerIf, "nud", "permanent"},
			{"-n", l.Pacer.Name, "link", "set", PacerIn, "promisc", "on", "up"},
			{"-n", l.Pacer.Name, "link", "set", PacerOut, "promisc", "on", "up"},
		}
	case Route:
		l.AppIP, l.PeerIP = netip.MustParseAddr("10.99.1.1"), netip.MustParseAddr("10.99.2.1")
		pa, err := l.mac(ctx, l.Pacer, PacerIn)
		if err != nil {
			return nil, err
		}
		pb, err := l.mac(ctx, l.Pacer, PacerOut)
		if err != nil {
			return nil, err
		}
		l.NextHopMAC = pa
		cmds = [][]string{
			{"-n", l.App.Name, "addr", "add", "10.99.1.1/24", "dev", AppIf},
			{"-n", l.Pacer.Name, "addr", "add", "10.99.1.254/24", "dev", PacerIn},
			{"-n", l.Pacer.Name, "addr", "add", "10.99.2.254/24", "dev", PacerOut},
			{"-n", l.Peer.Name, "addr", "add", "10.99.2.1/24", "dev", PeerIf},
			{"-n", l.Pacer.Name, "link", "set", PacerIn, "up"},
			{"-n", l.Pacer.Name, "link", "set", PacerOut, "up"},
			{"-n", l.App.Name, "neigh", "add", "10.99.1.254", "lladdr", pa.String(), "dev", AppIf, "nud", "permanent"},
			{"-n", l.Pacer.Name, "neigh", "add", "10.99.1.1", "lladdr", l.AppMAC.String(), "dev", PacerIn, "nud", "permanent"},
			{"-n", l.Pacer.Name, "neigh", "add", "10.99.2.1", "lladdr", l.PeerMAC.String(), "dev", PacerOut, "nud", "permanent"},
			{"-n", l.Peer.Name, "neigh", "add", "10.99.2.254", "lladdr", pb.String(), "dev", PeerIf, "nud", "permanent"},
		}
	}
	cmds = append(cmds,
		[]string{"-n", l.App.Name, "link", "set", AppIf, "up"},
		[]string{"-n", l.Peer.Name, "link", "set", PeerIf, "up"},
	)
	// The receiver reads the generator's frames from a packet socket, and
	// nothing listens on their UDP ports: the peer's IP stack would answer
	// each with a port-unreachable lookup (route and ICMP rate limit, up
	// to 1000 ICMP route lookups a second), run inline by whichever thread
	// sent the frame over veth, the pacer's or the kernel route's. A
	// blackhole rule ahead of local delivery drops them silently.
	cmds = append(cmds,
		[]string{"-n", l.Peer.Name, "rule", "add", "pref", "10", "iif", PeerIf, "ipproto", "udp",
			"sport", fmt.Sprintf("%d-%d", genSrcPort, genSrcPort+genMaxFlows-1), "blackhole"},
		[]string{"-n", l.Peer.Name, "rule", "add", "pref", "20", "lookup", "local"},
		[]string{"-n", l.Peer.Name, "rule", "del", "pref", "0"},
	)
	if mode == Route {
		cmds = append(cmds,
			[]string{"-n", l.App.Name, "route", "add", "default", "via", "10.99.1.254"},
			[]string{"-n", l.Peer.Name, "route", "add", "default", "via", "10.99.2.254"},
		)
	}
	for _, c := range cmds {
		if _, err := run(ctx, "ip", c...); err != nil {
			return nil, err
		}
	}
	if mode == Route {
		for _, kv := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/conf/all/rp_filter", "0"}, {"net/ipv4/conf/default/rp_filter", "0"}} {
			if err := l.Pacer.Sysctl(kv[0], kv[1]); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

func (l *Lab) mac(ctx context.Context, ns *Netns, ifname string) (hw net.HardwareAddr, err error) {
	err = ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("netns %q iface %q: %w", ns.Name, ifname, err)
		}
		hw = ifi.HardwareAddr
		return nil
	})
	return hw, err
}

// Close deletes the namespaces (and with them the veth pairs). It is safe
// to call more than once and on a partly built lab.
func (l *Lab) Close() error {
	var errs []error
	for _, ns := range []**Netns{&l.App, &l.Pacer, &l.Peer} {
		if *ns != nil {
			if err := (*ns).delete(); err != nil {
				errs = append(errs, err)
			}
			*ns = nil
		}
	}
	return errors.Join(errs...)
}
