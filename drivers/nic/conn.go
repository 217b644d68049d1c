package nic

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/offload"
)

// ErrOffloadRefused is wrapped by Apply's error when the device or its
// driver refused to take something into hardware (skip_sw filter, mqprio
// hw 1, dcbnl). The error text carries the kernel's extack message. It is
// offload.ErrRefused, so callers that re-plan onto the software pacer can
// test either.
var ErrOffloadRefused = offload.ErrRefused

// conn is an rtnetlink socket that counts the requests that change state.
// Dumps and gets are not counted.
type conn struct {
	sh     *nl.SocketHandle
	writes atomic.Int64
}

func newConn() (*conn, error) {
	// The brief of the netlink library: ask the kernel for extended ack
	// messages; our shared socket needs it set on the socket as well.
	nl.EnableErrorMessageReporting = true
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	if err := s.SetExtAck(true); err != nil {
		s.Close()
		return nil, fmt.Errorf("rtnetlink extack: %w", err)
	}
	// 8 MiB receive buffer: dumps of thousands of filters.
	_ = s.SetReceiveBufferSize(8<<20, false)
	tv := unix.Timeval{Sec: 30}
	_ = s.SetReceiveTimeout(&tv)
	_ = s.SetSendTimeout(&tv)
	return &conn{sh: &nl.SocketHandle{Socket: s}}, nil
}

func (c *conn) close() {
	if c != nil && c.sh != nil {
		c.sh.Close()
	}
}

// Writes returns the number of state-changing requests sent so far.
func (c *conn) Writes() int64 { return c.writes.Load() }

// write sends one request with NLM_F_ACK and returns the kernel's error,
// which includes the extack text when there is one.
func (c *conn) write(typ uint16, flags int, body []byte) error {
	c.writes.Add(1)
	req := nl.NewNetlinkRequest(int(typ), flags|unix.NLM_F_ACK)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: c.sh}
	req.AddRawData(body)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// dump sends a dump request and calls f with each reply's payload.
func (c *conn) dump(typ uint16, body []byte, f func(msg []byte) error) error {
	req := nl.NewNetlinkRequest(int(typ), unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: c.sh}
	req.AddRawData(body)
	var ferr error
	err := req.ExecuteIter(unix.NETLINK_ROUTE, 0, func(msg []byte) bool {
		if ferr == nil {
			ferr = f(msg)
		}
		return true
	})
	if err != nil {
		return err
	}
	return ferr
}

// request sends a non-dump get and returns the reply payloads. It is not
// counted as a write.
func (c *conn) request(typ uint16, body []byte) ([][]byte, error) {
	req := nl.NewNetlinkRequest(int(typ), 0)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: c.sh}
	req.AddRawData(body)
	return req.Execute(unix.NETLINK_ROUTE, 0)
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
