package datapath

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/fallback"
)

// shaper is the single goroutine that owns the pacer: it reads frames from
// In, enqueues them, dequeues what may leave and sends it on Out.
type shaper struct {
	b        *Bump
	in, out  *port
	cur      *fallback.Pacer
	draining []*fallback.Pacer // replaced pacers still holding frames
	rx, tx   *mmsgBatch
	reserved []*fallback.Packet // packets taken from cur's pool for the next read
	outPkts  []*fallback.Packet // the send batch: outPkts[:nOut], all of one pacer
	nOut     int
	// drop buffers read frames when the pool is exhausted.
	drop     *mmsgBatch
	dropBuf  []byte
	dropVnet [vnetHdrLen]byte
	stats    *DirStats
	fastBuf  []fallback.FastFlow // offers taken from cur after each send
	lastRead int64               // ns: the last read that returned frames
}

func newShaper(b *Bump, p *fallback.Pacer) *shaper {
	n := b.opts.Batch
	s := &shaper{
		b: b, in: b.in, out: b.out, cur: p,
		rx: newBatch(n, true), tx: newBatch(n, false), drop: newBatch(n, false),
		reserved: make([]*fallback.Packet, 0, n),
		outPkts:  make([]*fallback.Packet, n),
		dropBuf:  make([]byte, b.opts.MaxFrame),
		stats:    &b.shaped,
	}
	for i := range n {
		s.drop.set(i, &s.dropVnet, s.dropBuf)
	}
	return s
}

// run is the shaping loop. It holds its OS thread so that the thread's
// timer slack (1 µs) applies to every ppoll wait.
func (s *shaper) run() error {
	s.b.ownThread()
	// Default slack is 50 µs; pacing at 10 Gbit/s needs finer wake-ups.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	defer s.release()

	fds := []unix.PollFd{
		{Fd: int32(s.in.rx), Events: unix.POLLIN},
		{Fd: int32(s.b.stopFD), Events: unix.POLLIN},
		{Fd: int32(s.b.wakeFD), Events: unix.POLLIN},
	}
	batch := s.b.opts.Batch
	var ts unix.Timespec
	for {
		if np := s.b.pending.Swap(nil); np != nil && np != s.cur {
			s.flush(s.cur)
			s.putReserved()
			if s.b.fast != nil {
				s.b.fast.reset() // the old pacer's flows, classes and marks
			}
			s.draining = append(s.draining, s.cur)
			s.cur = np
		}
		s.reserve(batch)
		if len(s.reserved) == 0 {
			// Pool exhausted: let queued frames leave first, then retry.
			s.dequeueAll(fallback.Now())
			s.reserve(batch)
		}
		now, n, full, err := s.receive(batch)
		if err != nil {
			return err
		}
		if g := s.b.guard; g != nil && g.missed(g.beat(now)) {
			s.stats.Stalls.Add(1)
		}
		coalesce := s.coalesce(now, n, batch)
		next := s.dequeueAll(now)
		// After the send: a flow's first frames have left before its next
		// ones can take the fast path.
		if s.fastBuf = s.cur.FastFlows(s.fastBuf[:0]); len(s.fastBuf) > 0 && s.b.fast != nil {
			s.b.fast.insert(s.cur, s.fastBuf)
		}
		if s.b.stopping.Load() {
			return errStopped
		}
		if full {
			continue // more may be waiting: read again before sleeping
		}
		var tp *unix.Timespec
		fds[0].Events = unix.POLLIN
		if next != 0 {
			d := next - now
			if d <= 0 {
				s.stats.Spins.Add(1)
				continue
			}
			q := s.b.quantum.Load()
			if dd := min(max(d, q), int64(MaxDeferQuantum)); len(s.draining) == 0 && s.cur.DeferArrivals(time.Duration(dd)) {
				// Sustained backlog at the top: read arrivals at the
				// release time instead of waking for each.
				fds[0].Events = 0
				d = dd
				s.stats.Deferred.Add(1)
			} else {
				d = max(d, min(q, int64(MaxWakeQuantum)))
				if coalesce > 0 {
					fds[0].Events = 0
					d = min(d, coalesce)
					s.stats.Coalesced.Add(1)
				}
			}
			ts = unix.NsecToTimespec(d)
			tp = &ts
		} else if coalesce > 0 {
			fds[0].Events = 0
			ts = unix.NsecToTimespec(coalesce)
			tp = &ts
			s.stats.Coalesced.Add(1)
		}
		if tp == nil || tp.Nano() > int64(BeatEvery) {
			// Wake to beat even when idle (see guard).
			ts = unix.NsecToTimespec(int64(BeatEvery))
			tp = &ts
		}
		s.stats.Waits.Add(1)
		if err := s.wait(fds, tp, &ts); err != nil {
			return fmt.Errorf("ppoll: %w", err)
		}
		if fds[1].Revents != 0 {
			return errStopped
		}
		if fds[2].Revents != 0 {
			var buf [8]byte
			_, _ = unix.Read(s.b.wakeFD, buf[:])
		}
	}
}

// coalesce returns how long the loop may leave arrivals unread before
// its next read (ns; 0: wake for each arrival), after a read of n frames at
// now. Only while the pacer allows it (fallback.Pacer.CoalesceArrivals: no
// traffic of a class that bounds delay) and frames are arriving: the wait
// is the time the recent arrival rate takes to bring half a batch, capped
// at MaxDeferQuantum, and no wait under MinCoalesce (at such rates the
// reads fill up by themselves).
func (s *shaper) coalesce(now int64, n, batch int) int64 {
	if n == 0 {
		return 0
	}
	since := now - s.lastRead
	s.lastRead = now
	if s.b.opts.NoCoalesce || len(s.draining) > 0 || !s.cur.CoalesceArrivals(now) {
		return 0
	}
	w := min(since*int64(batch/2)/int64(n), int64(MaxDeferQuantum))
	if w < int64(MinCoalesce) {
		return 0
	}
	return w
}

// reserve takes packets from the current pool until batch are reserved.
func (s *shaper) reserve(batch int) {
	for len(s.reserved) < batch {
		p := s.cur.Get()
		if p == nil {
			return
		}
		s.reserved = append(s.reserved, p)
	}
}

func (s *shaper) putReserved() {
	for _, p := range s.reserved {
		s.cur.Put(p)
	}
	s.reserved = s.reserved[:0]
}

// receive reads one batch, reads the clock once (now, returned for the
// rest of the loop turn) and enqueues the batch. n is the number of frames
// read (also those dropped for want of a buffer); full reports that the
// read filled the batch (more may be waiting).
func (s *shaper) receive(batch int) (now int64, n int, full bool, err error) {
	if len(s.reserved) == 0 {
		n, err := s.drop.recv(s.in.rx, batch)
		if err != nil {
			return 0, 0, false, fmt.Errorf("iface %q: recvmmsg: %w", s.in.name, err)
		}
		s.stats.NoBuffer.Add(uint64(n))
		s.stats.RxPackets.Add(uint64(n))
		return fallback.Now(), n, n == batch, nil
	}
	for i, p := range s.reserved {
		buf := p.ReadBuf()
		s.rx.set(i, &p.Vnet, buf[:len(buf)-4]) // 4: room to re-insert a VLAN tag
	}
	want := len(s.reserved)
	n, err = s.rx.recv(s.in.rx, want)
	now = fallback.Now()
	if err != nil {
		return now, 0, false, fmt.Errorf("iface %q: recvmmsg: %w", s.in.name, err)
	}
	if n == 0 {
		s.stats.RxEmpty.Add(1)
		return now, 0, false, nil
	}
	s.stats.RxBatches.Add(1)
	var bytes uint64
	for i := range n {
		p := s.reserved[i]
		l := s.rx.frameLen(i)
		if l < 0 {
			s.stats.RxErrors.Add(1)
			s.cur.Put(p)
			continue
		}
		if tci, tpid, ok := s.rx.vlan(i); ok {
			l = insertVLAN(p.ReadBuf(), l, tpid, tci)
			shiftVnet(&p.Vnet, 4)
		}
		p.HasVnet = true
		p.IfIndex = s.in.ifindex
		p.SetLen(l)
		bytes += uint64(l)
		s.cur.Enqueue(p, now)
		if (i+1)%drainEvery == 0 && i+1 < n {
			// Let what may leave go before the rest of the batch piles
			// up: a class queue bound smaller than a whole batch would
			// otherwise tail-drop a conforming burst.
			s.dequeue(s.cur, now)
		}
	}
	s.stats.RxPackets.Add(uint64(n))
	s.stats.RxBytes.Add(bytes)
	s.reserved = s.reserved[:copy(s.reserved, s.reserved[n:])]
	return now, n, n == want, nil
}

// dequeueAll sends everything that may leave at now, from replaced pacers
// first, and returns the earliest time more could leave (0: nothing queued).
func (s *shaper) dequeueAll(now int64) int64 {
	var next int64
	keep := s.draining[:0]
	for _, p := range s.draining {
		nx := s.dequeue(p, now)
		s.flush(p)
		if nx != 0 {
			keep = append(keep, p)
			next = nx
		}
	}
	clear(s.draining[len(keep):])
	s.draining = keep
	if nx := s.dequeue(s.cur, now); nx != 0 && (next == 0 || nx < next) {
		next = nx
	}
	s.flush(s.cur)
	return next
}

// drainEvery is how many frames of a read batch are enqueued between two
// dequeues.
const drainEvery = 8

// dequeue moves p's due frames into the send batch, sending whenever it
// fills, and returns p's next release time. Frames left in the batch go
// with the next flush.
func (s *shaper) dequeue(p *fallback.Pacer, now int64) int64 {
	for {
		k, next := p.Dequeue(now, s.outPkts[s.nOut:])
		s.nOut += k
		if s.nOut < len(s.outPkts) {
			return next
		}
		s.flush(p)
	}
}

// flush sends the batched frames, all taken from p, and returns them to
// p's pool.
func (s *shaper) flush(p *fallback.Pacer) {
	if s.nOut > 0 {
		s.send(p, s.outPkts[:s.nOut])
		s.nOut = 0
	}
}

func (s *shaper) send(p *fallback.Pacer, pkts []*fallback.Packet) {
	var bytes uint64
	for i, pk := range pkts {
		if !pk.HasVnet {
			pk.Vnet = [vnetHdrLen]byte{}
		}
		f := pk.Frame()
		bytes += uint64(len(f))
		s.tx.set(i, &pk.Vnet, f)
	}
	sent, bad, err := s.tx.send(s.out.tx, len(pkts))
	s.stats.TxBatches.Add(1)
	if err != nil {
		s.b.opts.Log.Warn("pacer datapath send", "iface", s.out.name, "err", err)
	}
	s.stats.TxPackets.Add(uint64(sent))
	s.stats.TxBytes.Add(bytes)
	s.stats.TxErrors.Add(uint64(bad))
	for i, pk := range pkts {
		p.Put(pk)
		pkts[i] = nil
	}
}

// release returns every packet the loop holds to its pool.
func (s *shaper) release() {
	s.putReserved()
}

// maxRawWait bounds one raw ppoll (ns): the runtime cannot preempt a thread
// in a raw syscall, so a stop-the-world waits at most this long for it.
const maxRawWait = 2e6

// rawPpoll waits like ppoll without telling the Go scheduler, which would
// otherwise hand the P to another thread on every sleep and take it back on
// every wake: at thousands of wake-ups per second that dance costs more CPU
// than the shaping itself. Waits are capped at maxRawWait; a spurious
// return just runs the loop once more. tp nil means "until a frame or
// signal", scratch holds the capped timeout.
func rawPpoll(fds []unix.PollFd, tp, scratch *unix.Timespec) error {
	if tp == nil || tp.Nano() > maxRawWait {
		*scratch = unix.NsecToTimespec(maxRawWait)
		tp = scratch
	}
	_, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), uintptr(unsafe.Pointer(tp)), 0, 0, 0)
	if e != 0 && e != unix.EINTR {
		return e
	}
	return nil
}

// wait is the loop's sleep: a raw ppoll when Options.RawWait, else the
// runtime's.
func (s *shaper) wait(fds []unix.PollFd, tp, scratch *unix.Timespec) error {
	if s.b.opts.RawWait {
		return rawPpoll(fds, tp, scratch)
	}
	if _, err := unix.Ppoll(fds, tp, nil); err != nil && err != unix.EINTR {
		return err
	}
	return nil
}
