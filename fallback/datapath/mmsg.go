package datapath

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vnetHdrLen is the size of struct virtio_net_hdr in bytes, the prefix of
// every frame on a PACKET_VNET_HDR socket.
const vnetHdrLen = 10

// auxSpace is the control buffer size for one PACKET_AUXDATA message.
var auxSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{})))

// mmsgBatch is the scatter/gather state of one recvmmsg or sendmmsg call of
// up to len(hdrs) frames. Message i reads or writes vnet[i] (10 bytes) and
// then the frame buffer given by set.
type mmsgBatch struct {
	hdrs []unix.Mmsghdr
	iovs [][2]unix.Iovec
	ctl  []byte // auxSpace bytes per message (receive only)
}

func newBatch(n int, withCtl bool) *mmsgBatch {
	b := &mmsgBatch{hdrs: make([]unix.Mmsghdr, n), iovs: make([][2]unix.Iovec, n)}
	if withCtl {
		b.ctl = make([]byte, n*auxSpace)
	}
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Iov = &b.iovs[i][0]
		b.hdrs[i].Hdr.SetIovlen(2)
	}
	return b
}

// set points message i at the virtio header vnet and the frame buffer buf.
func (b *mmsgBatch) set(i int, vnet *[vnetHdrLen]byte, buf []byte) {
	b.iovs[i][0].Base = &vnet[0]
	b.iovs[i][0].SetLen(vnetHdrLen)
	b.iovs[i][1].Base = unsafe.SliceData(buf)
	b.iovs[i][1].SetLen(len(buf))
	if b.ctl != nil {
		b.hdrs[i].Hdr.Control = &b.ctl[i*auxSpace]
		b.hdrs[i].Hdr.SetControllen(auxSpace)
	}
	b.hdrs[i].Hdr.Flags = 0
	b.hdrs[i].Len = 0
}

// recv reads up to n frames without blocking. It returns how many arrived;
// zero with a nil error means none was waiting.
func (b *mmsgBatch) recv(fd, n int) (int, error) {
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == 0:
			return int(r), nil
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return 0, nil
		default:
			return 0, e
		}
	}
}

// frameLen returns the length of message i's frame in bytes (without the
// virtio header), or -1 when it was truncated or malformed.
func (b *mmsgBatch) frameLen(i int) int {
	h := &b.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 || int(h.Len) < vnetHdrLen+14 {
		return -1
	}
	return int(h.Len) - vnetHdrLen
}

// vlan returns the VLAN TCI and TPID the kernel stripped from message i, if
// any (from PACKET_AUXDATA).
func (b *mmsgBatch) vlan(i int) (tci, tpid uint16, ok bool) {
	if b.ctl == nil {
		return 0, 0, false
	}
	ctl := b.ctl[i*auxSpace : i*auxSpace+int(b.hdrs[i].Hdr.Controllen)]
	for len(ctl) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		if int(h.Len) < unix.SizeofCmsghdr || int(h.Len) > len(ctl) {
			return 0, 0, false
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA &&
			int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.TpacketAuxdata{}))) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&ctl[unix.CmsgLen(0)]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 {
				return 0, 0, false
			}
			tpid = unix.ETH_P_8021Q
			if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = aux.Vlan_tpid
			}
			return aux.Vlan_tci, tpid, true
		}
		ctl = ctl[unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)):]
	}
	return 0, 0, false
}

// send transmits messages [0,n) and returns how many the kernel took. A
// message the kernel refuses (e.g. EMSGSIZE) is skipped and counted in bad.
func (b *mmsgBatch) send(fd, n int) (sent, bad int, err error) {
	i := 0
	for i < n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[i])), uintptr(n-i), 0, 0, 0)
		switch {
		case e == 0:
			i += int(r)
			sent += int(r)
		case e == unix.EINTR:
		case e == unix.EMSGSIZE || e == unix.EINVAL || e == unix.ENOBUFS || e == unix.ENETDOWN || e == unix.ENXIO:
			// The first message failed: skip it.
			i++
			bad++
			if e == unix.ENETDOWN || e == unix.ENXIO {
				err = e
			}
		default:
			return sent, bad + n - i, e
		}
	}
	return sent, bad, err
}

// errStopped is returned by loops asked to stop.
var errStopped = errors.New("stopped")

// virtio_net_hdr fields (little endian, as the kernel writes them for
// packet sockets on little-endian hosts; offsets in bytes).
const (
	vnetFlags      = 0
	vnetGSOType    = 1
	vnetHdrLenOff  = 2
	vnetGSOSize    = 4
	vnetCsumStart  = 6
	vnetCsumOffset = 8

	vnetFlagNeedsCsum = 1
)

// shiftVnet moves the offsets of a virtio_net_hdr by delta bytes after a
// VLAN tag was inserted into the frame before them.
func shiftVnet(v *[vnetHdrLen]byte, delta int) {
	if v[vnetFlags]&vnetFlagNeedsCsum != 0 {
		cs := binary.NativeEndian.Uint16(v[vnetCsumStart:])
		binary.NativeEndian.PutUint16(v[vnetCsumStart:], uint16(int(cs)+delta))
	}
	if hl := binary.NativeEndian.Uint16(v[vnetHdrLenOff:]); hl != 0 {
		binary.NativeEndian.PutUint16(v[vnetHdrLenOff:], uint16(int(hl)+delta))
	}
}

// insertVLAN writes an 802.1Q tag (tpid, tci) after the MAC addresses of
// the n-byte frame at buf[0:n], moving the rest 4 bytes on. buf must have
// room for n+4 bytes. It returns the new length.
func insertVLAN(buf []byte, n int, tpid, tci uint16) int {
	copy(buf[16:n+4], buf[12:n])
	binary.BigEndian.PutUint16(buf[12:], tpid)
	binary.BigEndian.PutUint16(buf[14:], tci)
	return n + 4
}
