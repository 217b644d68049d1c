package datapath

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/fallback"
)

// Options configure a Bump.
type Options struct {
	// In and Out are the interfaces; frames arriving on In leave on Out
	// through the pacer.
	In, Out string
	// Reverse also forwards frames arriving on Out to In, unshaped (bridge
	// mode). Attach mode leaves it off: the host receives on its own.
	Reverse bool
	// Batch is the most frames per recvmmsg/sendmmsg; default 64.
	Batch int
	// MaxFrame is the largest frame in bytes, a whole GSO frame; default
	// 65535. It must not exceed the pacer's Config.MaxFrame.
	MaxFrame int
	// WakeQuantum is the shortest timed sleep of the shaping loop (see
	// WakeQuantum); 0 sleeps exactly until the next release time.
	WakeQuantum time.Duration
	// RawWait makes the shaping loop sleep in a raw ppoll that keeps its
	// scheduler P (capped at 2 ms per sleep): much cheaper per wake-up, but
	// it takes one P from the rest of the process, and a stop-the-world
	// waits up to 2 ms for it. The agent's driver sets it when GOMAXPROCS
	// leaves another P.
	RawWait bool
	// RealtimePriority, when 1-99, runs the loops' threads SCHED_FIFO at
	// that priority so that other load on the machine does not delay
	// releases (a userspace pacer late by more than a bucket's fill time
	// loses rate). 0 leaves the thread's policy alone.
	RealtimePriority int
	// FastPath forwards in the kernel what needs no pacer: the flows the
	// pacer offers (fallback.Config.FastPath, fallback.FastFlow) and, with
	// Reverse, the whole reverse direction, with tc BPF programs that
	// redirect between the two interfaces (see fastPath). It needs a pacer,
	// CAP_BPF and tcx (Linux 6.6); when the programs cannot be attached the
	// bump logs why and forwards everything itself (FastPath reports
	// which). Frames it redirects go through Out's qdisc and tc egress, so
	// it must not be used where Out's egress steers frames back to In
	// (attach mode).
	FastPath bool
	// NoCoalesce makes the shaping loop wake for every arrival. Otherwise,
	// while the pacer carries no traffic of a class that bounds delay
	// (fallback.Pacer.CoalesceArrivals), it reads arrivals in batches of
	// about half a Batch, leaving them in the receive socket for up to
	// MaxDeferQuantum: fewer wake-ups for best-effort traffic, at the cost
	// of that much added delay.
	NoCoalesce bool
	// LiveGrace is how long the shaping loop may miss its liveness beats
	// before the kernel programs that watch it (the attach mode's steering,
	// the bridge's bypass, the receive sockets' filters) take the pacer for
	// dead and fail open; default LiveGrace. The loop beats at least every
	// BeatEvery.
	LiveGrace time.Duration
	// DropWhileDead makes the receive sockets drop every frame while the
	// pacer is dead (see liveSockProg): set it where the kernel forwards
	// those frames meanwhile (the bridge's bypass), so that a pacer woken
	// from a stall does not send them a second time. Without it a stalled
	// pacer finds its arrivals queued in the sockets, late but not lost.
	DropWhileDead bool
	// Log receives the bump's events; default slog.Default().
	Log *slog.Logger
}

// Bump is a running bump in the wire between two interfaces.
type Bump struct {
	opts     Options
	in, out  *port
	stopFD   int
	wakeFD   int
	quantum  atomic.Int64 // ns, see Options.WakeQuantum
	stopping atomic.Bool  // set by Stop; loops that never sleep check it
	pending  atomic.Pointer[fallback.Pacer]
	cur      atomic.Pointer[fallback.Pacer]
	shaped   DirStats
	reverse  DirStats
	fast     *fastPath // nil: everything goes through the sockets
	guard    *guard    // the liveness word; nil for an unshaped bump
	wg       sync.WaitGroup
	statsMu  sync.Mutex // serialises PACKET_STATISTICS reads
	errMu    sync.Mutex
	err      error
	stopped  bool
}

// Start opens the sockets and starts forwarding: In -> Out through p (or
// unshaped when p is nil), and Out -> In unshaped when opts.Reverse.
func Start(opts Options, p *fallback.Pacer) (*Bump, error) {
	if opts.Batch <= 0 {
		opts.Batch = 64
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = fallback.DefaultMaxFrame
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	b := &Bump{opts: opts, stopFD: -1, wakeFD: -1}
	var err error
	if b.in, err = openPort(opts.In); err != nil {
		return nil, err
	}
	if b.out, err = openPort(opts.Out); err != nil {
		b.in.close()
		return nil, err
	}
	if b.stopFD, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err == nil {
		b.wakeFD, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	}
	if err != nil {
		b.closeFDs()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	b.cur.Store(p)
	b.quantum.Store(int64(opts.WakeQuantum))
	liveFD := -1
	if p != nil {
		if err := b.openGuard(); err != nil {
			b.closeFDs()
			return nil, err
		}
		// Alive from the start: the shaping loop takes over the beats
		// once it runs, well within the grace.
		b.guard.beat(fallback.Now())
		if opts.DropWhileDead {
			liveFD = b.guard.fd()
		}
	}
	if opts.FastPath && p != nil {
		// A pacer that clamps the reverse direction's SYNs
		// (ClampsReverse) needs its frames: the kernel does not forward
		// them.
		fastRev := opts.Reverse && !p.ClampsReverse()
		b.fast, err = openFastPath(b.in, b.out, fastRev, p.FlowEntries(), p.FlowIdle(), liveFD, &b.shaped, &b.reverse, opts.Log)
		if err != nil {
			opts.Log.Warn("pacer datapath: no fast path; the pacer forwards every frame", "err", err)
			b.fast = nil
		}
	}
	if liveFD >= 0 {
		// Sockets the fast path did not filter drop frames while the pacer
		// is dead (see liveSockProg).
		if b.fast == nil {
			if err := b.liveFilter(b.in.rx); err != nil {
				b.closeFDs()
				return nil, err
			}
		}
		if opts.Reverse && (b.fast == nil || b.fast.rev == nil) {
			if err := b.liveFilter(b.out.rx); err != nil {
				if b.fast != nil {
					b.fast.close()
				}
				b.closeFDs()
				return nil, err
			}
		}
	}
	if p == nil {
		f := newForwarder(b.in, b.out, opts.Batch, opts.MaxFrame, &b.shaped)
		b.goRun("forward "+opts.In+"->"+opts.Out, func() error { b.ownThread(); return f.run(b.stopFD, &b.stopping) })
	} else {
		s := newShaper(b, p)
		b.goRun("shape "+opts.In+"->"+opts.Out, s.run)
	}
	if opts.Reverse && (b.fast == nil || b.fast.rev == nil) {
		f := newForwarder(b.out, b.in, opts.Batch, opts.MaxFrame, &b.reverse)
		if p != nil && p.ClampsReverse() {
			f.edit = func(frame []byte, vnet *[vnetHdrLen]byte) {
				if cur := b.cur.Load(); cur != nil {
					cur.ClampReverse(frame, vnet)
				}
			}
		}
		b.goRun("forward "+opts.Out+"->"+opts.In, func() error { b.ownThread(); return f.run(b.stopFD, &b.stopping) })
	}
	opts.Log.Info("pacer datapath started", "in", opts.In, "out", opts.Out, "reverse", opts.Reverse, "shaped", p != nil, "fast_path", b.fast != nil)
	return b, nil
}

func (b *Bump) goRun(name string, f func() error) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		err := f()
		if err == nil || errors.Is(err, errStopped) {
			return
		}
		b.opts.Log.Error("pacer datapath loop failed", "loop", name, "err", err)
		b.errMu.Lock()
		if b.err == nil {
			b.err = fmt.Errorf("%s: %w", name, err)
		}
		b.errMu.Unlock()
	}()
}

// Swap hands the shaping loop a new pacer without closing the sockets.
// Frames already queued in the old pacer still leave on its schedule; new
// frames go to p. The bump must have been started with a pacer.
func (b *Bump) Swap(p *fallback.Pacer) error {
	if p == nil {
		return errors.New("swap: nil pacer")
	}
	if b.cur.Load() == nil {
		return errors.New("swap: the bump was started without a pacer")
	}
	b.pending.Store(p)
	b.cur.Store(p)
	var one [8]byte
	one[0] = 1
	if _, err := unix.Write(b.wakeFD, one[:]); err != nil {
		return fmt.Errorf("swap: wake: %w", err)
	}
	return nil
}

// SetWakeQuantum changes Options.WakeQuantum of the running bump (e.g.
// with Swap to a plan with other buckets).
func (b *Bump) SetWakeQuantum(d time.Duration) { b.quantum.Store(int64(d)) }

// FastPath reports whether the in-kernel fast path is attached (see
// Options.FastPath).
func (b *Bump) FastPath() bool { return b.fast != nil }

// Pacer returns the pacer new frames go to (nil when unshaped).
func (b *Bump) Pacer() *fallback.Pacer { return b.cur.Load() }

// Stats returns the counters of the shaped (In -> Out) and reverse
// directions.
func (b *Bump) Stats() (shaped, reverse DirSnapshot) {
	b.statsMu.Lock()
	if !b.stopped && b.fast != nil {
		b.fast.sweep(time.Now(), false)
		b.fast.readReverse()
	}
	if !b.stopped {
		// PACKET_STATISTICS resets on read: accumulate.
		if st, err := unix.GetsockoptTpacketStats(b.in.rx, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			b.shaped.KernelDrops.Add(uint64(st.Drops))
		}
		if st, err := unix.GetsockoptTpacketStats(b.out.rx, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			b.reverse.KernelDrops.Add(uint64(st.Drops))
		}
	}
	b.statsMu.Unlock()
	return b.shaped.Snapshot(), b.reverse.Snapshot()
}

// Err returns the first error a loop stopped with, if any.
func (b *Bump) Err() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// Stop ends the loops, waits for them and closes the sockets. Frames still
// queued in the pacer are discarded.
func (b *Bump) Stop() error {
	if b.stopped {
		return b.Err()
	}
	b.stopping.Store(true)
	b.Stats() // last read of the kernel's drop counters
	b.statsMu.Lock()
	b.stopped = true
	b.statsMu.Unlock()
	var one [8]byte
	one[0] = 1
	if _, err := unix.Write(b.stopFD, one[:]); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	b.wg.Wait()
	if b.fast != nil {
		b.fast.close()
	}
	b.closeFDs()
	b.opts.Log.Info("pacer datapath stopped", "in", b.opts.In, "out", b.opts.Out)
	return b.Err()
}

func (b *Bump) closeFDs() {
	if b.in != nil {
		b.in.close()
	}
	if b.out != nil {
		b.out.close()
	}
	for _, fd := range []int{b.stopFD, b.wakeFD} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	b.stopFD, b.wakeFD = -1, -1
	if b.guard != nil {
		b.guard.close()
		b.guard = nil
	}
}

// ownThread locks the calling loop to its OS thread and applies
// Options.RealtimePriority. The thread is never unlocked: its scheduling
// policy (and the shaper's timer slack) are changed, so the runtime must
// end it with the goroutine rather than reuse it.
func (b *Bump) ownThread() {
	runtime.LockOSThread()
	if prio := b.opts.RealtimePriority; prio > 0 {
		attr := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: uint32(min(prio, 99))}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			b.opts.Log.Warn("pacer datapath: no realtime priority", "priority", prio, "err", err)
		}
	}
}
