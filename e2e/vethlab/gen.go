package vethlab

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Flow is one stream of IPv4 frames (UDP unless Proto says TCP) the
// generator sends from app to peer. Frames carry the flow's index in the
// generator's list, a sequence number and the send time.
type Flow struct {
	Name string
	// Proto is the IP protocol, ProtoUDP or ProtoTCP (a bare ACK segment
	// of no connection); 0 means UDP.
	Proto uint8
	// Src and Dst are the addresses; the zero Addr stands for the lab's
	// AppIP and PeerIP (IPv4). Frames reach peer0 by its MAC address
	// whatever Dst is (in bridge mode; route mode routes IPv4 by Dst). An
	// IPv6 flow names both, and runs on a bridge lab only.
	Src, Dst netip.Addr
	// SrcPort is the source port; 0 means the generator's own, 40000 plus
	// the flow's index, which the peer's IP stack drops silently (see
	// New). Another source port to the PeerIP may draw ICMP or TCP resets.
	SrcPort uint16
	DstPort uint16
	// Rate is the sending rate in bit/s counted on L2 frames; the
	// generator keeps the average exact and sends in bursts of at most a
	// millisecond's worth.
	Rate uint64
	// Size is the L2 frame size in bytes (VLAN tag included, no FCS).
	Size int
	// DSCP and ECN go in the IPv4 TOS byte or the IPv6 traffic class.
	DSCP, ECN uint8
	// VLAN (1-4094) tags the frames with 802.1Q and priority PCP; 0 sends
	// them untagged.
	VLAN uint16
	PCP  uint8
	// Start and Stop bound when the flow sends, relative to the generator's
	// start; Stop 0 means until the end.
	Start, Stop time.Duration
	// Burst is sent back to back at Start, in bytes, on top of the rate.
	Burst int
}

// SentStats is what the generator sent of one flow.
type SentStats struct {
	Packets, Bytes uint64
	Errors         uint64
}

// genBatch is the most frames per sendmmsg.
const genBatch = 64

// Flow i sends from UDP port genSrcPort+i; a run has at most genMaxFlows.
// The peer's IP stack discards these datagrams silently (see New).
const (
	genSrcPort  = 40000
	genMaxFlows = 1000
)

// Send sends flows from app to peer for d and returns what it sent per flow.
// start is the CLOCK_REALTIME ns at which the generator started, the origin
// of the receiver's windows.
func (l *Lab) Send(ctx context.Context, flows []Flow, d time.Duration) (sent []SentStats, start int64, err error) {
	type out struct {
		sent  []SentStats
		start int64
		err   error
	}
	ch := make(chan out, 1)
	go func() {
		// A thread of its own, never unlocked (see realtimeThread).
		if l.Realtime {
			realtimeThread()
		} else {
			runtime.LockOSThread()
		}
		s, st, err := l.send(ctx, flows, d)
		ch <- out{s, st, err}
	}()
	o := <-ch
	return o.sent, o.start, o.err
}

func (l *Lab) send(ctx context.Context, flows []Flow, d time.Duration) (sent []SentStats, start int64, err error) {
	if len(flows) > genMaxFlows {
		return nil, 0, fmt.Errorf("%d flows: the generator sends at most %d", len(flows), genMaxFlows)
	}
	fd, err := openPacket(l.App, AppIf, false)
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(fd)
	type state struct {
		f      Flow
		m      *mmsgs
		seqOff int
		sum    l4Sum // IPv6: the transport checksum, filled per packet
		next   int   // next buffer of m
		seq    uint64
		bytes  uint64 // sent so far, incl. burst
	}
	st := make([]*state, len(flows))
	for i, f := range flows {
		if f.Size < MinFrameOf(f) || f.Size > 9000 {
			return nil, 0, fmt.Errorf("flow %q: size %d out of range", f.Name, f.Size)
		}
		if f.Proto != 0 && f.Proto != ProtoUDP && f.Proto != ProtoTCP {
			return nil, 0, fmt.Errorf("flow %q: the generator sends UDP or TCP only", f.Name)
		}
		if v6 := f.Src.Is6() || f.Dst.Is6(); v6 && (!f.Src.Is6() || !f.Dst.Is6() || l.Mode != Bridge) {
			return nil, 0, fmt.Errorf("flow %q: an IPv6 flow needs both addresses IPv6, on a bridge lab (a route lab routes IPv4 only)", f.Name)
		}
		s := &state{f: f, m: newMmsgs(genBatch, f.Size, 0)}
		spec := frameSpec{dstMAC: l.NextHopMAC, srcMAC: l.AppMAC, src: cmpOr(f.Src, l.AppIP), dst: cmpOr(f.Dst, l.PeerIP),
			proto: f.Proto, srcPort: cmp.Or(f.SrcPort, genSrcPort+uint16(i)), dstPort: f.DstPort, dscp: f.DSCP, ecn: f.ECN, vlan: f.VLAN, pcp: f.PCP,
			size: f.Size, flow: uint16(i)}
		for _, b := range s.m.bufs {
			s.seqOff, s.sum = buildFrame(b, spec)
		}
		st[i] = s
	}
	sent = make([]SentStats, len(flows))
	hdrs := make([]unix.Mmsghdr, 0, genBatch*len(flows))
	msgFlow := make([]int, 0, genBatch*len(flows))
	t0 := time.Now()
	start = t0.UnixNano()
	for {
		if ctx.Err() != nil {
			return sent, start, ctx.Err()
		}
		now := time.Now()
		el := now.Sub(t0)
		if el >= d {
			return sent, start, nil
		}
		wall := now.UnixNano()
		hdrs, msgFlow = hdrs[:0], msgFlow[:0]
		wait := time.Millisecond
		for i, s := range st {
			f := s.f
			if el < f.Start || f.Stop != 0 && el >= f.Stop {
				continue
			}
			due := uint64(float64(f.Rate)/8*(el-f.Start).Seconds()) + uint64(f.Burst)
			n := 0
			for s.bytes+uint64(f.Size) <= due && n < genBatch {
				b := s.m.bufs[s.next]
				binary.BigEndian.PutUint64(b[s.seqOff:], s.seq)
				binary.BigEndian.PutUint64(b[s.seqOff+8:], uint64(wall))
				s.sum.fill(b, s.seqOff)
				hdrs = append(hdrs, s.m.hdrs[s.next])
				msgFlow = append(msgFlow, i)
				s.next = (s.next + 1) % genBatch
				s.seq++
				s.bytes += uint64(f.Size)
				n++
			}
			if f.Rate > 0 {
				gap := time.Duration(float64(s.bytes+uint64(f.Size)-min(due, s.bytes+uint64(f.Size))) * 8 / float64(f.Rate) * 1e9)
				wait = min(wait, gap)
			}
		}
		if len(hdrs) > 0 {
			// Send in order; count per flow from the spans.
			done := 0
			for done < len(hdrs) {
				r, e := mmsgCall(unix.SYS_SENDMMSG, fd, hdrs[done:], 0)
				if e == unix.EINTR {
					continue
				}
				if e != 0 {
					// Skip the failing frame.
					credit(sent, msgFlow, done, 1, true, flows)
					done++
					continue
				}
				credit(sent, msgFlow, done, r, false, flows)
				done += r
			}
			continue
		}
		if wait > 20*time.Microsecond {
			time.Sleep(wait)
		}
	}
}

// cmpOr returns a, or def when a is the zero Addr.
func cmpOr(a, def netip.Addr) netip.Addr {
	if a.IsValid() {
		return a
	}
	return def
}

// credit counts messages [from, from+n) of a send as sent or failed.
func credit(sent []SentStats, msgFlow []int, from, n int, failed bool, flows []Flow) {
	for _, fi := range msgFlow[from : from+n] {
		if failed {
			sent[fi].Errors++
			continue
		}
		sent[fi].Packets++
		sent[fi].Bytes += uint64(flows[fi].Size)
	}
}
