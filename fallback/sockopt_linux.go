//go:build linux

package fallback

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sockMarker sets marking options on a socket.
type sockMarker struct {
	raw syscall.RawConn // nil when the conn has no socket (marking refused)
	v6  bool
}

func newSockMarker(c any) (sockMarker, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return sockMarker{}, nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return sockMarker{}, fmt.Errorf("socket: %w", err)
	}
	m := sockMarker{raw: raw}
	if la, ok := c.(interface{ LocalAddr() net.Addr }); ok {
		switch a := la.LocalAddr().(type) {
		case *net.UDPAddr:
			m.v6 = a.IP.To4() == nil
		case *net.TCPAddr:
			m.v6 = a.IP.To4() == nil
		}
	}
	return m, nil
}

var errNoSocket = errors.New("connection has no socket to mark")

func (m sockMarker) control(f func(fd int) error) error {
	if m.raw == nil {
		return errNoSocket
	}
	var serr error
	if err := m.raw.Control(func(fd uintptr) { serr = f(int(fd)) }); err != nil {
		return err
	}
	return serr
}

// setTOS writes the TOS / traffic class octet: IPV6_TCLASS on IPv6 sockets
// (and IP_TOS too, for IPv4-mapped peers of dual-stack sockets), IP_TOS on
// IPv4 ones.
func (m sockMarker) setTOS(tos uint8) error {
	return m.control(func(fd int) error {
		if m.v6 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int(tos)); err != nil {
				return fmt.Errorf("IPV6_TCLASS: %w", err)
			}
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, int(tos)) // v4-mapped; refused on v6-only sockets
			return nil
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, int(tos)); err != nil {
			return fmt.Errorf("IP_TOS: %w", err)
		}
		return nil
	})
}

// setPriority writes SO_PRIORITY (values above 6 need CAP_NET_ADMIN).
func (m sockMarker) setPriority(prio uint32) error {
	return m.control(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, int(prio))
	})
}
