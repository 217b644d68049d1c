package vethlab

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Flood is a stream of UDP frames from app to peer in which every frame
// starts a new flow: frame i goes to the i-th address of Dst (cycling
// through at most 65,536 of them) from source port genSrcPort + (i /
// addresses) mod genMaxFlows, the ports the peer discards silently (see
// New). Flows repeat only after addresses x 1000 frames (65.5 million for
// a /16). Frames carry flow index Index, a sequence number and the send
// time like Send's, so the receiver counts them as flow Index.
type Flood struct {
	// PPS is the sending rate in frames per second; the generator keeps
	// the average exact and sends in bursts of at most genBatch frames.
	PPS uint64
	// Size is the L2 frame size in bytes (no VLAN tag, no FCS).
	Size int
	// Dst is the IPv4 prefix the destinations are drawn from.
	Dst     netip.Prefix
	DstPort uint16
	// Index is the flow index the frames carry.
	Index uint16
}

// SendFlood sends f from app to peer for d on a socket and OS thread of
// its own, so that it can run alongside Send (call it from another
// goroutine), and returns what it sent. The thread is not realtime even
// with Lab.Realtime: a flood keeps a core busy (see Lab.Realtime).
func (l *Lab) SendFlood(ctx context.Context, f Flood, d time.Duration) (SentStats, error) {
	type out struct {
		sent SentStats
		err  error
	}
	ch := make(chan out, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		s, err := l.sendFlood(ctx, f, d)
		ch <- out{s, err}
	}()
	o := <-ch
	return o.sent, o.err
}

func (l *Lab) sendFlood(ctx context.Context, f Flood, d time.Duration) (sent SentStats, err error) {
	if f.Size < MinFrame || f.Size > 9000 {
		return sent, fmt.Errorf("flood: size %d out of range %d-9000", f.Size, MinFrame)
	}
	if !f.Dst.Addr().Is4() || f.PPS == 0 {
		return sent, fmt.Errorf("flood: want an IPv4 prefix and a rate, have %v and %d frames/s", f.Dst, f.PPS)
	}
	addrs := uint64(1) << min(32-f.Dst.Bits(), 16)
	base := binary.BigEndian.Uint32(f.Dst.Masked().Addr().AsSlice())
	fd, err := openPacket(l.App, AppIf, false)
	if err != nil {
		return sent, fmt.Errorf("flood: %w", err)
	}
	defer unix.Close(fd)
	m := newMmsgs(genBatch, f.Size, 0)
	var seqOff int
	for _, b := range m.bufs {
		seqOff, _ = buildFrame(b, frameSpec{dstMAC: l.NextHopMAC, srcMAC: l.AppMAC, src: l.AppIP, dst: l.PeerIP,
			srcPort: genSrcPort, dstPort: f.DstPort, size: f.Size, flow: f.Index})
	}
	const ipOff, udpOff = ethLen, ethLen + ipLen
	var seq uint64
	t0 := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		now := time.Now()
		el := now.Sub(t0)
		if el >= d {
			return sent, nil
		}
		due := uint64(float64(f.PPS) * el.Seconds())
		n := int(min(due-min(due, seq), genBatch))
		if n == 0 {
			if gap := time.Duration(float64(seq+1-due) / float64(f.PPS) * 1e9); gap > 20*time.Microsecond {
				time.Sleep(gap)
			}
			continue
		}
		wall := uint64(now.UnixNano())
		for i := range n {
			b := m.bufs[i]
			k := seq + uint64(i)
			ip := b[ipOff : ipOff+ipLen]
			binary.BigEndian.PutUint32(ip[16:], base+uint32(k%addrs))
			binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
			binary.BigEndian.PutUint16(b[udpOff:], genSrcPort+uint16(k/addrs%genMaxFlows))
			binary.BigEndian.PutUint64(b[seqOff:], k)
			binary.BigEndian.PutUint64(b[seqOff+8:], wall)
		}
		for done := 0; done < n; {
			r, e := mmsgCall(unix.SYS_SENDMMSG, fd, m.hdrs[done:n], 0)
			switch {
			case e == unix.EINTR:
				continue
			case e != 0:
				sent.Errors++ // skip the failing frame
				done++
				continue
			}
			sent.Packets += uint64(r)
			sent.Bytes += uint64(r) * uint64(f.Size)
			done += r
		}
		seq += uint64(n)
	}
}
