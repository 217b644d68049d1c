package datapath

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/fallback"
)

// Liveness timing. The shaping loop beats at least every BeatEvery; each
// beat moves the deadline to LiveGrace ahead. A pacer that misses beats for
// LiveGrace (killed, SIGSTOPped, a stuck loop) is dead to the kernel
// programs that consult the deadline, which then fail open (attach mode:
// the host's egress leaves unshaped; bridge mode with bypass: the kernel
// forwards between the two interfaces).
const (
	BeatEvery = 10 * time.Millisecond
	LiveGrace = 50 * time.Millisecond
	// beatMin is the least time between two writes of the deadline: the
	// page is read by every CPU's softirq, so the loop does not rewrite it
	// on every iteration.
	beatMin = time.Millisecond
)

// guard is the pacer's liveness word: a one-entry BPF array (qp_live,
// BPF_F_MMAPABLE) whose 8-byte value is the deadline, in CLOCK_MONOTONIC
// ns (the clock of bpf_ktime_get_ns), until which the pacer counts as
// alive. The process writes it through a shared mapping (no syscall per
// beat); the kernel programs read it with a direct map value load. A
// deadline of 0 is "dead": a new guard starts dead, so the programs it is
// handed to fail open until the first beat.
//
// beat and stale are called by one goroutine (the shaping loop); open and
// close by the owner after that goroutine has ended or concurrently with it
// (the word is written atomically).
type guard struct {
	live  *ebpf.Map
	mem   []byte
	word  *uint64 // the deadline, in mem
	off   int64   // CLOCK_MONOTONIC ns minus fallback.Now()
	grace int64   // ns
	last  int64   // fallback.Now() of the last beat
}

// newGuard creates the liveness map, dead.
func newGuard(grace time.Duration) (*guard, error) {
	if grace <= 0 {
		grace = LiveGrace
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "qp_live", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1,
		Flags: unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return nil, fmt.Errorf("liveness map: %w", err)
	}
	mem, err := unix.Mmap(m.FD(), 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("liveness map: mmap: %w", err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		_ = unix.Munmap(mem)
		m.Close()
		return nil, fmt.Errorf("liveness map: clock: %w", err)
	}
	// The runtime's monotonic clock (fallback.Now) is CLOCK_MONOTONIC on
	// Linux: the offset is fixed.
	g := &guard{live: m, mem: mem, word: (*uint64)(unsafe.Pointer(&mem[0])), grace: int64(grace)}
	now := fallback.Now()
	g.off = ts.Nano() - now
	g.last = now - int64(beatMin) // the first beat writes, and is no stall
	return g, nil
}

// fd is the map's descriptor for the programs that read it.
func (g *guard) fd() int { return g.live.FD() }

// beat moves the deadline to now+grace (now from fallback.Now), at most
// once per beatMin. It reports the gap since the previous beat, in ns (0
// when it did not write).
func (g *guard) beat(now int64) (gap int64) {
	if now-g.last < int64(beatMin) {
		return 0
	}
	gap = now - g.last
	atomic.StoreUint64(g.word, uint64(now+g.off+g.grace))
	g.last = now
	return gap
}

// missed reports whether a gap between beats was long enough for the
// kernel to have taken the pacer for dead.
func (g *guard) missed(gap int64) bool { return gap >= g.grace }

// open makes the pacer dead now: the programs fail open at once (a clean
// stop hands the path to the kernel without waiting out the grace).
func (g *guard) open() { atomic.StoreUint64(g.word, 0) }

// close unmaps the word and closes the map; programs still attached keep
// the map alive, dead.
func (g *guard) close() {
	if g.mem != nil {
		g.open()
		_ = unix.Munmap(g.mem)
		g.mem, g.word = nil, nil
	}
	g.live.Close()
}

// alive reports whether the deadline is still ahead of CLOCK_MONOTONIC.
func (g *guard) alive() bool {
	if g.word == nil {
		return false
	}
	return int64(atomic.LoadUint64(g.word)) >= fallback.Now()+g.off
}
