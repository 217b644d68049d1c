package vethlab

import (
	"encoding/binary"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// openPacket opens an AF_PACKET socket on ifname inside ns. A receive
// socket (rx) sees incoming frames only, with PACKET_AUXDATA and kernel
// receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME); a send socket
// bypasses the qdisc.
func openPacket(ns *Netns, ifname string, rx bool) (fd int, err error) {
	err = ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("iface %q: %w", ifname, err)
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("iface %q: socket: %w", ifname, err)
		}
		set := func(level, name, val int) {
			if err == nil {
				err = unix.SetsockoptInt(fd, level, name, val)
			}
		}
		proto := uint16(0)
		if rx {
			proto = htons(unix.ETH_P_ALL)
			set(unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
			set(unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
			set(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			set(unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
			if err == nil {
				tv := unix.Timeval{Usec: 50000}
				err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			}
		} else {
			set(unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
			set(unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
		}
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
		}
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("netns %q iface %q: %w", ns.Name, ifname, err)
		}
		return nil
	})
	return fd, err
}

// mmsgs is a batch of single-buffer messages for recvmmsg/sendmmsg.
type mmsgs struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	bufs [][]byte
	ctl  []byte
	ctlN int
}

func newMmsgs(n, bufSize, ctlSize int) *mmsgs {
	m := &mmsgs{hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), bufs: make([][]byte, n), ctlN: ctlSize}
	if ctlSize > 0 {
		m.ctl = make([]byte, n*ctlSize)
	}
	for i := range n {
		m.bufs[i] = make([]byte, bufSize)
		m.iovs[i].Base = &m.bufs[i][0]
		m.iovs[i].SetLen(bufSize)
		m.hdrs[i].Hdr.Iov = &m.iovs[i]
		m.hdrs[i].Hdr.SetIovlen(1)
	}
	return m
}

func (m *mmsgs) resetRx() {
	for i := range m.hdrs {
		m.iovs[i].SetLen(len(m.bufs[i]))
		if m.ctl != nil {
			m.hdrs[i].Hdr.Control = &m.ctl[i*m.ctlN]
			m.hdrs[i].Hdr.SetControllen(m.ctlN)
		}
		m.hdrs[i].Hdr.Flags = 0
	}
}

func mmsgCall(trap uintptr, fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), uintptr(flags), 0, 0)
	return int(r), e
}

// cmsgInfo reads the VLAN TCI (PACKET_AUXDATA) and receive time
// (SCM_TIMESTAMPNS) from a control buffer.
func cmsgInfo(ctl []byte) (tci uint16, tagged bool, ts int64) {
	for len(ctl) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		if int(h.Len) < unix.SizeofCmsghdr || int(h.Len) > len(ctl) {
			break
		}
		data := ctl[unix.CmsgLen(0):h.Len]
		switch {
		case h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && len(data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})):
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&data[0]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				tci, tagged = aux.Vlan_tci, true
			}
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
			t := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			ts = t.Nano()
		}
		ctl = ctl[unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)):]
	}
	return tci, tagged, ts
}
