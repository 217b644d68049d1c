package datapath

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// sockBufBytes is the kernel socket buffer asked for on every socket, in
// bytes: large enough to absorb a few milliseconds of 25 Gbit/s while the
// shaping loop runs.
const sockBufBytes = 32 << 20

// htons converts a 16-bit value to network byte order for sockaddr_ll.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// sockopt is one integer socket option.
type sockopt struct {
	level, name, val int
	what             string
}

// openPacket opens an AF_PACKET socket of socket(2) flags typeFlags, sets
// opts and binds it to ifindex for protocol proto (host order; 0 receives
// nothing). On error nothing stays open.
func openPacket(ifindex, typeFlags int, proto uint16, opts []sockopt) (int, error) {
	// Protocol 0 at socket() receives nothing until bind() names the
	// interface, so no frame of another interface slips in.
	fd, err := unix.Socket(unix.AF_PACKET, typeFlags|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.val); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setsockopt %s: %w", o.what, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	return fd, nil
}

// openRx opens a non-blocking receive socket bound to ifindex that sees every
// frame arriving on it (not those leaving), with a virtio_net_hdr before each
// frame and the stripped VLAN tag in PACKET_AUXDATA.
func openRx(ifindex int) (int, error) {
	return openPacket(ifindex, unix.SOCK_RAW|unix.SOCK_NONBLOCK, unix.ETH_P_ALL, []sockopt{
		{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"},
		{unix.SOL_PACKET, unix.PACKET_AUXDATA, 1, "PACKET_AUXDATA"},
		{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBufBytes, "SO_RCVBUFFORCE"},
	})
}

// openTx opens a blocking transmit socket for ifindex that takes a
// virtio_net_hdr before each frame and bypasses the interface's qdisc.
// Protocol 0 keeps it from receiving anything.
func openTx(ifindex int) (int, error) {
	return openPacket(ifindex, unix.SOCK_RAW, 0, []sockopt{
		{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"},
		{unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS"},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBufBytes, "SO_SNDBUFFORCE"},
	})
}

// port is one interface's pair of sockets.
type port struct {
	name    string
	ifindex int
	mtu     int
	rx, tx  int
}

// openPort opens the receive and transmit sockets of the interface name.
func openPort(name string) (*port, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("iface %q: %w", name, err)
	}
	p := &port{name: name, ifindex: ifi.Index, mtu: ifi.MTU, rx: -1, tx: -1}
	if p.rx, err = openRx(ifi.Index); err != nil {
		return nil, fmt.Errorf("iface %q: receive socket: %w", name, err)
	}
	if p.tx, err = openTx(ifi.Index); err != nil {
		unix.Close(p.rx)
		return nil, fmt.Errorf("iface %q: transmit socket: %w", name, err)
	}
	return p, nil
}

func (p *port) close() {
	if p.rx >= 0 {
		unix.Close(p.rx)
	}
	if p.tx >= 0 {
		unix.Close(p.tx)
	}
	p.rx, p.tx = -1, -1
}
