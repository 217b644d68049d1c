package devlink

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Client is a generic netlink socket to the devlink family with extended
// acks (a refusal carries the driver's or the core's message). It counts
// the requests that change state. Not safe for concurrent use.
type Client struct {
	family  uint16
	sockets map[int]*nl.SocketHandle
	writes  atomic.Int64
}

// Open resolves the devlink family and opens the socket.
func Open() (*Client, error) {
	fam, err := netlink.GenlFamilyGet(genlName)
	if err != nil {
		return nil, fmt.Errorf("devlink: generic netlink family: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("devlink: socket: %w", err)
	}
	if err := s.SetExtAck(true); err != nil {
		s.Close()
		return nil, fmt.Errorf("devlink: extended acks: %w", err)
	}
	tv := unix.Timeval{Sec: 30}
	if err := s.SetReceiveTimeout(&tv); err != nil {
		s.Close()
		return nil, fmt.Errorf("devlink: receive timeout: %w", err)
	}
	return &Client{family: fam.ID, sockets: map[int]*nl.SocketHandle{unix.NETLINK_GENERIC: {Socket: s}}}, nil
}

// Close closes the socket.
func (c *Client) Close() {
	for _, sh := range c.sockets {
		sh.Close()
	}
}

// Writes is the number of state-changing requests sent so far (restores
// after a refusal included).
func (c *Client) Writes() int64 { return c.writes.Load() }

func (c *Client) do(flags int, body []byte) ([][]byte, error) {
	req := nl.NewNetlinkRequest(int(c.family), flags)
	req.Sockets = c.sockets
	req.AddRawData(body)
	return req.Execute(unix.NETLINK_GENERIC, 0)
}

func (c *Client) write(body []byte) error {
	c.writes.Add(1)
	_, err := c.do(unix.NLM_F_ACK, body)
	return err
}

// Rates lists the device's rate objects (leaves and nodes).
func (c *Client) Rates(d Device) ([]Rate, error) {
	msgs, err := c.do(unix.NLM_F_DUMP, encodeDump())
	if err != nil {
		return nil, fmt.Errorf("devlink rate show %s: %w", d, err)
	}
	var out []Rate
	for _, m := range msgs {
		r, err := decodeRate(m)
		if err != nil {
			return nil, fmt.Errorf("devlink rate show %s: %w", d, err)
		}
		if r.Device == d {
			out = append(out, r)
		}
	}
	return out, nil
}

// ErrNotFound is wrapped when a rate object does not exist.
var ErrNotFound = errors.New("no such rate object")

// Get reads one rate object.
func (c *Client) Get(o Object) (Rate, error) {
	rs, err := c.Rates(o.Device)
	if err != nil {
		return Rate{}, err
	}
	for _, r := range rs {
		if r.Object == o {
			return r, nil
		}
	}
	return Rate{}, fmt.Errorf("devlink rate %s: %w", o, ErrNotFound)
}

// Set changes a leaf or a node. The kernel applies tx_share, tx_max and
// the parent in that order and stops at the first refusal, keeping what it
// applied before; Set then writes the object's previous tx_share and
// tx_max back, so a refused set leaves the object as it was. The error
// carries the kernel's message (e.g. netdevsim's "TX rate value not in
// link speed units of 1Mbps.", the core's "Rate object already has
// parent.").
func (c *Client) Set(o Object, ch Change) error {
	body, err := encodeSet(o, ch)
	if err != nil {
		return fmt.Errorf("devlink rate set %s: %w", o, err)
	}
	var before Rate
	partial := ch.TxShare != nil && (ch.TxMax != nil || ch.Parent != nil) || ch.TxMax != nil && ch.Parent != nil
	if partial {
		if before, err = c.Get(o); err != nil {
			return fmt.Errorf("devlink rate set %s: %w", o, err)
		}
	}
	err = c.write(body)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("devlink rate set %s: %w", o, err)
	if partial {
		back := Change{TxShare: &before.TxShare, TxMax: &before.TxMax}
		if ch.TxShare == nil {
			back.TxShare = nil
		}
		if ch.TxMax == nil {
			back.TxMax = nil
		}
		restore, _ := encodeSet(o, back)
		if rerr := c.write(restore); rerr != nil {
			return errors.Join(err, fmt.Errorf("devlink rate %s: restoring tx_share/tx_max: %w", o, rerr))
		}
	}
	return err
}

// New creates node o with the change's limits and parent. The kernel
// creates nothing when any of them is refused.
func (c *Client) New(o Object, ch Change) error {
	body, err := encodeNew(o, ch)
	if err == nil {
		err = c.write(body)
	}
	if err != nil {
		return fmt.Errorf("devlink rate add %s: %w", o, err)
	}
	return nil
}

// Del deletes node o. The kernel refuses a node that still has children
// (EBUSY, "Node has children. Cannot delete node.").
func (c *Client) Del(o Object) error {
	body, err := encodeDel(o)
	if err == nil {
		err = c.write(body)
	}
	if err != nil {
		return fmt.Errorf("devlink rate del %s: %w", o, err)
	}
	return nil
}
