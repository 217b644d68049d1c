package fallback

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/qosplane/qosplane/model"
)

// Flowspec is the treatment a QoS-aware Go program asks for its socket (the
// GQoS path): a token bucket applied in-process, and the socket marking.
type Flowspec struct {
	// Rate is the token rate in bit/s; 0 paces nothing (marking only).
	Rate model.Rate
	// Bucket is the bucket depth in bytes; default the larger of two
	// MaxSDU and 10 ms at Rate.
	Bucket model.Size
	// Peak limits the rate at which data leaves, bit/s (a second bucket one
	// MaxSDU deep); 0 unlimited.
	Peak model.Rate
	// MaxSDU is the largest piece metered at once, bytes: stream writes are
	// cut into pieces of at most this size, larger datagrams never conform.
	// Default 65535 for datagrams; for streams a quarter of the bucket,
	// between 1500 and 65535 (fewer syscalls at high rates).
	MaxSDU model.Size
	// MinPoliced counts smaller datagrams as this size, bytes.
	MinPoliced model.Size
	// Overhead is added to every datagram's size for metering (28 for
	// UDP/IPv4 headers, 48 for UDP/IPv6), bytes.
	Overhead model.Size
	// Mode treats data above the bucket: shape (default) waits; for
	// datagram sockets, discard drops the datagram (Write reports success,
	// as the network would) and borrow sends it marked NonConformingDSCP.
	// Stream sockets support shape only.
	Mode model.Mode
	// DSCP (0-63), when set, is written to IP_TOS / IPV6_TCLASS (ECN bits
	// left to the kernel). NonConformingDSCP marks borrowed datagrams.
	DSCP              *uint8
	NonConformingDSCP uint8
	// Priority, when set, is written to SO_PRIORITY (skb->priority: the
	// NIC's traffic class with mqprio, the 802.1p PCP through a VLAN's
	// egress map).
	Priority *uint32
}

// ConnStats are a paced socket's counters.
type ConnStats struct {
	Sent, SentBytes       uint64
	Dropped, DroppedBytes uint64 // discard mode
	Borrowed              uint64 // datagrams sent marked non-conforming
	// Waited sums the waits the shaper asked for; the sleeps themselves
	// may be longer (timer overshoot), which the bucket absorbs.
	Waited time.Duration
}

// pacing is the meter and bookkeeping shared by the wrappers.
type pacing struct {
	mu      sync.Mutex
	spec    Flowspec
	m       meter
	metered bool
	sock    sockMarker
	stats   ConnStats
	sleep   func(time.Duration)
	now     func() int64
}

func newPacing(c any, spec Flowspec, stream bool) (*pacing, error) {
	if spec.Mode == "" {
		spec.Mode = model.Shape
	}
	if stream && spec.Mode != model.Shape {
		return nil, fmt.Errorf("flowspec: mode %s needs a datagram socket (streams support shape only)", spec.Mode)
	}
	if spec.MaxSDU == 0 {
		spec.MaxSDU = 65535
		if stream {
			spec.MaxSDU = model.Size(min(max(uint64(spec.Bucket), uint64(spec.Rate)/8/100)/4, 65535))
			spec.MaxSDU = max(spec.MaxSDU, 1500)
		}
	}
	pc := &pacing{spec: spec, sleep: time.Sleep, now: Now}
	sm, err := newSockMarker(c)
	if err != nil {
		return nil, err
	}
	pc.sock = sm
	if spec.DSCP != nil {
		if *spec.DSCP > 63 {
			return nil, fmt.Errorf("flowspec: DSCP %d out of range 0-63", *spec.DSCP)
		}
		if err := sm.setTOS(*spec.DSCP << 2); err != nil {
			return nil, fmt.Errorf("flowspec: mark DSCP %d: %w", *spec.DSCP, err)
		}
	}
	if spec.Priority != nil {
		if err := sm.setPriority(*spec.Priority); err != nil {
			return nil, fmt.Errorf("flowspec: SO_PRIORITY %d: %w", *spec.Priority, err)
		}
	}
	if spec.Rate != 0 {
		depth := uint64(spec.Bucket)
		if depth == 0 {
			depth = max(2*uint64(spec.MaxSDU), uint64(spec.Rate)/8/100)
		}
		now := pc.now()
		b, err := newBucket(uint64(spec.Rate), depth, now)
		if err != nil {
			return nil, fmt.Errorf("flowspec: %w", err)
		}
		pc.m = meter{commit: b, minPoliced: int64(spec.MinPoliced), maxSDU: int64(spec.MaxSDU)}
		if spec.Peak != 0 {
			pb, err := newBucket(uint64(spec.Peak), uint64(spec.MaxSDU), now)
			if err != nil {
				return nil, fmt.Errorf("flowspec: peak: %w", err)
			}
			pc.m.peak, pc.m.hasPeak = pb, true
		}
		pc.metered = true
	}
	return pc, nil
}

// sendVerdict is what happens to one piece of data written.
type sendVerdict int

const (
	sendNow sendVerdict = iota
	sendDrop
	sendBorrowed
)

// admit meters n bytes (one stream piece or datagram), waiting in shape
// mode. Called with mu held; the wait sleeps holding it, so concurrent
// writers queue behind each other in order.
func (pc *pacing) admit(n int, datagram bool) sendVerdict {
	if !pc.metered {
		return sendNow
	}
	size := int64(n)
	if datagram {
		size += int64(pc.spec.Overhead)
	}
	cost := pc.m.cost(int(size), 1)
	if datagram && size > pc.m.maxSDU {
		return pc.nonConforming()
	}
	for {
		now := pc.now()
		pc.m.fill(now)
		if pc.m.conforms(cost) {
			pc.m.take(cost)
			return sendNow
		}
		if pc.spec.Mode != model.Shape {
			return pc.nonConforming()
		}
		// The sleep may overshoot (Go timers: 0.3-1 ms); the credit that
		// accrues meanwhile is kept up to the bucket depth, so the long-run
		// rate holds as long as the depth covers the overshoot.
		w := time.Duration(pc.m.wait(cost))
		pc.stats.Waited += w
		pc.sleep(w)
	}
}

func (pc *pacing) nonConforming() sendVerdict {
	if pc.spec.Mode == model.Borrow {
		return sendBorrowed
	}
	if pc.spec.Mode == model.Discard {
		return sendDrop
	}
	return sendDrop // shape: a datagram above MaxSDU can never conform
}

// Stats returns the socket's counters.
func (pc *pacing) Stats() ConnStats {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.stats
}

// PacedConn is a net.Conn whose writes are paced by a flowspec and whose
// socket is marked.
type PacedConn struct {
	net.Conn
	pc     *pacing
	stream bool
}

// NewConn wraps c (a *net.TCPConn, *net.UDPConn, *net.UnixConn or anything
// with SyscallConn for marking) so that its writes follow spec, and marks
// its socket. Stream writes are cut into pieces of at most MaxSDU bytes,
// each metered; a connected datagram socket meters each Write as one
// datagram.
func NewConn(c net.Conn, spec Flowspec) (net.Conn, error) {
	_, dgram := c.(net.PacketConn)
	pc, err := newPacing(c, spec, !dgram)
	if err != nil {
		return nil, fmt.Errorf("paced conn %v: %w", c.LocalAddr(), err)
	}
	return &PacedConn{Conn: c, pc: pc, stream: !dgram}, nil
}

// Write writes b, paced.
func (c *PacedConn) Write(b []byte) (int, error) {
	c.pc.mu.Lock()
	defer c.pc.mu.Unlock()
	if !c.stream {
		return c.pc.writeDatagram(b, func(b []byte) (int, error) { return c.Conn.Write(b) })
	}
	if !c.pc.metered {
		n, err := c.Conn.Write(b)
		c.pc.stats.Sent++
		c.pc.stats.SentBytes += uint64(n)
		return n, err
	}
	written := 0
	for written < len(b) {
		piece := min(len(b)-written, int(c.pc.spec.MaxSDU))
		c.pc.admit(piece, false)
		n, err := c.Conn.Write(b[written : written+piece])
		written += n
		c.pc.stats.SentBytes += uint64(n)
		if err != nil {
			return written, err
		}
	}
	c.pc.stats.Sent++
	return written, nil
}

// Stats returns the connection's pacing counters.
func (c *PacedConn) Stats() ConnStats { return c.pc.Stats() }

func (pc *pacing) writeDatagram(b []byte, write func([]byte) (int, error)) (int, error) {
	switch pc.admit(len(b), true) {
	case sendDrop:
		pc.stats.Dropped++
		pc.stats.DroppedBytes += uint64(len(b))
		return len(b), nil
	case sendBorrowed:
		pc.stats.Borrowed++
		if pc.spec.DSCP != nil || pc.spec.NonConformingDSCP != 0 {
			if err := pc.sock.setTOS(pc.spec.NonConformingDSCP << 2); err != nil {
				return 0, fmt.Errorf("mark non-conforming: %w", err)
			}
			defer func() {
				var tos uint8
				if pc.spec.DSCP != nil {
					tos = *pc.spec.DSCP << 2
				}
				_ = pc.sock.setTOS(tos) // best effort: the socket stays usable either way
			}()
		}
	}
	n, err := write(b)
	if err == nil {
		pc.stats.Sent++
		pc.stats.SentBytes += uint64(n)
	}
	return n, err
}

// PacedPacketConn is a net.PacketConn whose WriteTo calls are paced.
type PacedPacketConn struct {
	net.PacketConn
	pc *pacing
}

// NewPacketConn wraps c so that each datagram written follows spec, and
// marks its socket.
func NewPacketConn(c net.PacketConn, spec Flowspec) (net.PacketConn, error) {
	if c == nil {
		return nil, errors.New("paced packet conn: nil conn")
	}
	pc, err := newPacing(c, spec, false)
	if err != nil {
		return nil, fmt.Errorf("paced packet conn %v: %w", c.LocalAddr(), err)
	}
	return &PacedPacketConn{PacketConn: c, pc: pc}, nil
}

// WriteTo writes one datagram, paced.
func (c *PacedPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.pc.mu.Lock()
	defer c.pc.mu.Unlock()
	return c.pc.writeDatagram(b, func(b []byte) (int, error) { return c.PacketConn.WriteTo(b, addr) })
}

// Stats returns the socket's pacing counters.
func (c *PacedPacketConn) Stats() ConnStats { return c.pc.Stats() }
