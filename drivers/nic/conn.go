package nic

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// ErrOffloadRefused is wrapped by Apply's error when the device or its
// driver refused to take something into hardware (skip_sw filter, mqprio
// hw 1, dcbnl). The error text carries the kernel's extack message. It is
// offload.ErrRefused, so callers that re-plan onto the software pacer can
// test either.
var ErrOffloadRefused = offload.ErrRefused

// conn is a blocking rtnetlink socket with extended acks, one request in
// flight at a time, and a reused receive buffer. It counts the requests
// that change state; dumps and gets are not counted. (The netlink
// library's own request path costs an allocation of 64 KiB and several
// extra syscalls per message, which dominated applying thousands of
// filters.)
type conn struct {
	fd     int
	seq    uint32
	buf    []byte
	writes atomic.Int64
	// tamperEcho, when set (tests only), may change an echoed filter
	// before addHWFilter checks it, to stand in for a device that
	// accepts a filter without taking it into hardware.
	tamperEcho func(*tc.DumpedFilter)
}

func newConn() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	c := &conn{fd: fd, buf: make([]byte, 1<<20)}
	fail := func(what string, err error) (*conn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("rtnetlink %s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail("bind", err)
	}
	// Extended acks carry the kernel's message (NL_SET_ERR_MSG); with
	// CAP_ACK an error ack echoes only the request's header.
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1); err != nil {
		return fail("extack", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	tv := unix.Timeval{Sec: 30}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("timeout", err)
	}
	return c, nil
}

func (c *conn) close() {
	if c != nil && c.fd > 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// Writes returns the number of state-changing requests sent so far.
func (c *conn) Writes() int64 { return c.writes.Load() }

// write sends one request with NLM_F_ACK and returns the kernel's error,
// which includes the extack text when there is one.
func (c *conn) write(typ uint16, flags int, body []byte) error {
	c.writes.Add(1)
	return c.roundtrip(typ, uint16(flags)|unix.NLM_F_ACK, body, nil)
}

// dump sends a dump request and calls f with each reply's payload.
func (c *conn) dump(typ uint16, body []byte, f func(msg []byte) error) error {
	return c.roundtrip(typ, unix.NLM_F_DUMP, body, f)
}

// request sends a get and returns the reply payloads. It is not counted
// as a write.
func (c *conn) request(typ uint16, body []byte) ([][]byte, error) {
	var out [][]byte
	err := c.roundtrip(typ, unix.NLM_F_ACK, body, func(m []byte) error {
		out = append(out, append([]byte(nil), m...))
		return nil
	})
	return out, err
}

// roundtrip sends one message and reads replies until the ack, the end of
// the dump, or an error. Reply payloads (after the nlmsghdr) go to f.
func (c *conn) roundtrip(typ, flags uint16, body []byte, f func([]byte) error) error {
	c.seq++
	seq := c.seq
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	native.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(body)))
	native.PutUint16(msg[4:], typ)
	native.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST)
	native.PutUint32(msg[8:], seq)
	msg = append(msg, body...)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	var ferr error
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		b := c.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(native.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("netlink: bad message length %d", l)
			}
			mtype, mflags, mseq := native.Uint16(b[4:]), native.Uint16(b[6:]), native.Uint32(b[8:])
			data := b[unix.NLMSG_HDRLEN:l]
			b = b[min(nla.Align4(l), len(b)):]
			if mseq != seq {
				continue // a late reply to an earlier request
			}
			switch mtype {
			case unix.NLMSG_ERROR:
				if len(data) < 4 {
					return errors.New("netlink: short error message")
				}
				errno := int32(native.Uint32(data))
				if errno == 0 {
					return ferr
				}
				return extackError(unix.Errno(-errno), mflags, data[4:])
			case unix.NLMSG_DONE:
				if len(data) >= 4 {
					if errno := int32(native.Uint32(data)); errno < 0 {
						return extackError(unix.Errno(-errno), mflags, data[4:])
					}
				}
				return ferr
			default:
				if f != nil && ferr == nil {
					ferr = f(data)
				}
				if flags&unix.NLM_F_DUMP != unix.NLM_F_DUMP && flags&unix.NLM_F_ACK == 0 && mflags&unix.NLM_F_MULTI == 0 {
					return ferr
				}
			}
		}
	}
}

// extackError adds the kernel's extack message to errno. rest is what
// follows the error code: the echoed request (its header alone with
// CAP_ACK, which NLM_F_CAPPED says) and the NLMSGERR_ATTR_* attributes.
func extackError(errno unix.Errno, flags uint16, rest []byte) error {
	if flags&unix.NLM_F_ACK_TLVS == 0 || len(rest) < unix.NLMSG_HDRLEN {
		return errno
	}
	skip := unix.NLMSG_HDRLEN
	if flags&unix.NLM_F_CAPPED == 0 {
		skip = nla.Align4(int(native.Uint32(rest)))
	}
	if skip > len(rest) {
		return errno
	}
	as, err := nla.Parse(rest[skip:])
	if err != nil {
		return errno
	}
	for _, a := range as {
		if a.Type == nl.NLMSGERR_ATTR_MSG {
			return fmt.Errorf("%w: %s", errno, nla.CString(a.Data))
		}
	}
	return errno
}

// refusal reports whether err from a hardware request means the device
// declined the offload (rather than qosplane sending something wrong).
func refusal(err error) bool {
	for _, e := range []error{unix.EOPNOTSUPP, unix.EINVAL, unix.ENOSPC, unix.EBUSY, unix.E2BIG, unix.ERANGE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
