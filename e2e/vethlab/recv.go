package vethlab

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Window is what one flow delivered in one 1 s window.
type Window struct {
	Packets, Bytes uint64
}

// Arrival is one received frame: kernel receive time (CLOCK_REALTIME ns)
// and L2 length in bytes.
type Arrival struct {
	T   int64
	Len int32
}

// FlowResult is everything the receiver saw of one flow.
type FlowResult struct {
	Packets, Bytes uint64
	// Windows[k] covers [start + k s, start + (k+1) s).
	Windows []Window
	// DSCP counts frames per DSCP value; PCP per priority, PCP[8] counting
	// untagged frames.
	DSCP [64]uint64
	PCP  [9]uint64
	// CE counts frames with ECN CE set; BadIPSum frames whose IPv4 header
	// checksum was wrong.
	CE, BadIPSum uint64
	// Delays are one-way delays in ns (receive timestamp - send time),
	// recorded when the flow is in RecordDelay.
	Delays []int64
	// Arrivals are recorded when the flow is in RecordArrivals.
	Arrivals []Arrival
	// MaxSeq is the highest sequence number seen (+1), Reordered counts
	// frames that arrived after a higher sequence number.
	MaxSeq, Reordered uint64
	// FirstCE is the sequence number of the first CE-marked frame plus one,
	// FirstMissing the first sequence number skipped (lost, or late) plus
	// one; 0 when there was none.
	FirstCE, FirstMissing uint64
}

// Receiver counts lab frames arriving at peer0, per flow.
type Receiver struct {
	fd    int
	rt    bool
	poll  time.Duration // see Lab.RecvPoll
	start int64
	rec   map[uint16]uint8 // flow -> 1 delay, 2 arrivals
	stop  atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	flows map[uint16]*FlowResult
	other atomic.Uint64
	drops atomic.Uint64
	err   error
}

// Record flags for StartReceiver.
const (
	RecordDelay    = 1
	RecordArrivals = 2
)

// StartReceiver starts counting at peer0. start (CLOCK_REALTIME ns) is the
// origin of the 1 s windows; Reset moves it. record maps flow indexes to
// RecordDelay|RecordArrivals.
func (l *Lab) StartReceiver(record map[uint16]uint8) (*Receiver, error) {
	fd, err := openPacket(l.Peer, PeerIf, true)
	if err != nil {
		return nil, err
	}
	r := &Receiver{fd: fd, rec: record, flows: make(map[uint16]*FlowResult), rt: l.Realtime, poll: l.RecvPoll}
	r.wg.Add(1)
	go r.loop()
	return r, nil
}

// Drops is the number of frames the kernel dropped at the receiver's own
// socket (it fell behind): loss the lab caused, not the shaper. Valid after
// Stop; Reset clears it.
func (r *Receiver) Drops() uint64 { return r.drops.Load() }

// Reset forgets everything counted so far and sets the window origin.
func (r *Receiver) Reset(start int64) {
	// PACKET_STATISTICS resets on read: this read discards drops so far.
	_, _ = unix.GetsockoptTpacketStats(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	r.drops.Store(0)
	r.mu.Lock()
	r.start = start
	r.flows = make(map[uint16]*FlowResult)
	r.mu.Unlock()
}

// Stop ends the receiver and returns per-flow results and the count of
// frames that were not the generator's.
func (r *Receiver) Stop() (map[uint16]*FlowResult, uint64, error) {
	if r.stop.CompareAndSwap(false, true) {
		r.wg.Wait()
		if st, err := unix.GetsockoptTpacketStats(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			r.drops.Add(uint64(st.Drops))
		}
		unix.Close(r.fd)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flows, r.other.Load(), r.err
}

func (r *Receiver) loop() {
	defer r.wg.Done()
	if r.rt {
		realtimeThread() // never unlocked: the thread ends with the goroutine
	}
	const batch = 64
	ctlN := 128
	m := newMmsgs(batch, 2048, ctlN)
	for !r.stop.Load() {
		m.resetRx()
		flags := unix.MSG_WAITFORONE
		if r.poll > 0 {
			flags = unix.MSG_DONTWAIT
		}
		n, e := mmsgCall(unix.SYS_RECVMMSG, r.fd, m.hdrs, flags)
		if e == unix.EAGAIN || e == unix.EINTR || e == unix.EWOULDBLOCK {
			if r.poll > 0 {
				time.Sleep(r.poll)
			}
			continue
		}
		if e != 0 {
			r.mu.Lock()
			r.err = fmt.Errorf("recvmmsg: %w", e)
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		for i := range n {
			h := &m.hdrs[i]
			frame := m.bufs[i][:min(int(h.Len), len(m.bufs[i]))]
			tci, tagged, ts := cmsgInfo(m.ctl[i*ctlN : i*ctlN+int(h.Hdr.Controllen)])
			p, inline, inTagged, ok := parseFrame(frame)
			if !ok {
				r.other.Add(1)
				continue
			}
			l2 := uint64(h.Len)
			if inTagged {
				tci, tagged = inline, true
			} else if tagged {
				l2 += vlanLen
			}
			fr := r.flows[p.flow]
			if fr == nil {
				fr = &FlowResult{}
				r.flows[p.flow] = fr
			}
			fr.Packets++
			fr.Bytes += l2
			if w := (ts - r.start) / 1e9; ts >= r.start && w < 3600 {
				for int64(len(fr.Windows)) <= w {
					fr.Windows = append(fr.Windows, Window{})
				}
				fr.Windows[w].Packets++
				fr.Windows[w].Bytes += l2
			}
			fr.DSCP[p.dscp]++
			if tagged {
				fr.PCP[tci>>13]++
			} else {
				fr.PCP[8]++
			}
			if p.ecn == 3 {
				fr.CE++
				if fr.FirstCE == 0 {
					fr.FirstCE = p.seq + 1
				}
			}
			if !p.ipOK {
				fr.BadIPSum++
			}
			if p.seq+1 > fr.MaxSeq {
				if p.seq > fr.MaxSeq && fr.FirstMissing == 0 {
					fr.FirstMissing = fr.MaxSeq + 1
				}
				fr.MaxSeq = p.seq + 1
			} else {
				fr.Reordered++
			}
			if rec := r.rec[p.flow]; rec&RecordDelay != 0 {
				fr.Delays = append(fr.Delays, ts-p.sent)
			}
			if rec := r.rec[p.flow]; rec&RecordArrivals != 0 {
				fr.Arrivals = append(fr.Arrivals, Arrival{T: ts, Len: int32(l2)})
			}
		}
		r.mu.Unlock()
	}
}
