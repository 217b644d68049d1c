package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/fallback"
)

// fastPath is the in-kernel forwarder of the flows the pacer passes
// straight through (fallback.FastFlow), and of the whole reverse
// direction: tc BPF programs redirect those frames from one veth to the
// other without a copy into the pacer (see fastprog.go).
//
// The shaping loop inserts a flow after it has sent the batch that held the
// flow's first frames, so later frames cannot overtake those; frames of the
// flow already waiting in the receive socket at that moment may still
// leave after the first redirected ones (one short reordering per flow).
// A sweeper reads the flows' counters every sweepEvery, credits them to
// the pacer the flow came from (fallback.Pacer.AddFast) and removes flows
// idle longer than the pacer's flow cache keeps an entry (plus a second),
// so that the next frame of such a flow misses the cache and is offered
// again.
type fastPath struct {
	log      *slog.Logger
	flows    *ebpf.Map // fastKey -> fastVal
	verdicts *ebpf.Map // per CPU: the socket filter's last verdict (fastprog.go)
	rev      *ebpf.Map // reverse counters; nil without Reverse
	progs    []*ebpf.Program
	links    []link.Link
	inRx     int // socket with the flow filter attached
	outRx    int // socket with the drop-all filter attached, -1 none
	idle     time.Duration
	shaped   *DirStats
	reverse  *DirStats
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex // guards known and failures
	known    map[fastKey]*fastFlow
	failures uint64 // inserts the kernel refused (map full)
}

// fastFlow is the sweeper's record of one flow in the map.
type fastFlow struct {
	p           *fallback.Pacer
	class, rule int
	pkts, bytes uint64    // counts already credited
	changed     time.Time // when the counts last moved (or the insert)
}

// fastKey is the flow map's key (layout in fastprog.go).
type fastKey [fastKeyLen]byte

// fastVal is the flow map's value.
type fastVal struct {
	Pkts, Bytes   uint64
	Mark, Rewrite uint8
	_             [6]byte
}

// revVal is the reverse counters' value.
type revVal struct{ Pkts, Bytes uint64 }

// sweepEvery is how often the sweeper reads the flow counters.
const sweepEvery = time.Second

func keyOf(f *fallback.FastFlow) fastKey {
	var k fastKey
	copy(k[keySrc:keySrc+16], f.Src[:])
	copy(k[keyDst:keyDst+16], f.Dst[:])
	binary.BigEndian.PutUint16(k[keySport:], f.SrcPort)
	binary.BigEndian.PutUint16(k[keyDport:], f.DstPort)
	k[keyProto], k[keyDSCP], k[keyFamily] = f.Proto, f.DSCP, f.Family
	return k
}

// openFastPath loads the programs and attaches them: the flow programs to
// in (tcx ingress and its receive socket), and with reverse the reverse
// program to out's tcx ingress and a drop-all filter to out's receive
// socket. entries bounds the flow map; idle is the pacer's flow cache idle
// time; liveFD, when >= 0, is the guard's map: the socket filters then drop
// every frame while the pacer is dead, as liveSockProg does. On error
// nothing stays attached.
func openFastPath(in, out *port, reverse bool, entries int, idle time.Duration, liveFD int, shaped, rev *DirStats, log *slog.Logger) (fp *fastPath, err error) {
	fp = &fastPath{
		log: log, inRx: -1, outRx: -1, idle: idle + sweepEvery, shaped: shaped, reverse: rev,
		known: make(map[fastKey]*fastFlow), stop: make(chan struct{}), done: make(chan struct{}),
	}
	self := fp // the error returns below set fp to nil
	defer func() {
		if err != nil {
			self.detach()
			self.closeObjects()
		}
	}()
	fp.flows, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "qp_fast_flows", Type: ebpf.Hash, KeySize: fastKeyLen, ValueSize: fastValLen, MaxEntries: uint32(entries),
	})
	if err != nil {
		return nil, fmt.Errorf("flow map: %w", err)
	}
	fp.verdicts, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "qp_fast_verdict", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: verdictLen, MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("verdict map: %w", err)
	}
	tc, err := fp.load("qp_fast_tc", ebpf.SchedCLS, flowTCProg(fp.flows.FD(), fp.verdicts.FD(), out.ifindex))
	if err != nil {
		return nil, err
	}
	sock, err := fp.load("qp_fast_sock", ebpf.SocketFilter, flowSockProg(fp.flows.FD(), fp.verdicts.FD(), liveFD))
	if err != nil {
		return nil, err
	}
	var revProg *ebpf.Program
	if reverse {
		fp.rev, err = ebpf.NewMap(&ebpf.MapSpec{Name: "qp_fast_rev", Type: ebpf.Array, KeySize: 4, ValueSize: revValLen, MaxEntries: 1})
		if err != nil {
			return nil, fmt.Errorf("reverse counters: %w", err)
		}
		if revProg, err = fp.load("qp_fast_rev", ebpf.SchedCLS, reverseTCProg(fp.rev.FD(), in.ifindex)); err != nil {
			return nil, err
		}
	}
	// The socket filter first: with the map empty it keeps every frame.
	if err := unix.SetsockoptInt(in.rx, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, sock.FD()); err != nil {
		return nil, fmt.Errorf("iface %q: attach socket filter: %w", in.name, err)
	}
	fp.inRx = in.rx
	l, err := link.AttachTCX(link.TCXOptions{Interface: in.ifindex, Program: tc, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return nil, fmt.Errorf("iface %q: attach tcx ingress: %w", in.name, err)
	}
	fp.links = append(fp.links, l)
	if reverse {
		if l, err = link.AttachTCX(link.TCXOptions{Interface: out.ifindex, Program: revProg, Attach: ebpf.AttachTCXIngress}); err != nil {
			return nil, fmt.Errorf("iface %q: attach tcx ingress: %w", out.name, err)
		}
		fp.links = append(fp.links, l)
		// The program forwards every frame now: the receive socket must
		// not queue copies nobody reads.
		drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
		if err := unix.SetsockoptSockFprog(out.rx, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop[0]}); err != nil {
			return nil, fmt.Errorf("iface %q: attach drop filter: %w", out.name, err)
		}
		fp.outRx = out.rx
	}
	go fp.sweeper()
	return fp, nil
}

func (fp *fastPath) load(name string, typ ebpf.ProgramType, ins asm.Instructions) (*ebpf.Program, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: typ, Instructions: ins, License: "Dual MIT/GPL"})
	if err != nil {
		// A verifier error's %+v carries the verifier's log.
		return nil, fmt.Errorf("load %s: %+v", name, err)
	}
	fp.progs = append(fp.progs, p)
	return p, nil
}

// insert adds flows offered by p. A flow already in the map keeps its
// entry (and counts).
func (fp *fastPath) insert(p *fallback.Pacer, flows []fallback.FastFlow) {
	now := time.Now()
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for i := range flows {
		f := &flows[i]
		k := keyOf(f)
		if _, ok := fp.known[k]; ok {
			continue
		}
		v := fastVal{Mark: f.Mark}
		if f.Rewrite {
			v.Rewrite = 1
		}
		if err := fp.flows.Update(k, v, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			if fp.failures++; fp.failures == 1 {
				fp.log.Warn("fast path: flow not added; it stays in the pacer", "err", err)
			}
			continue
		}
		fp.known[k] = &fastFlow{p: p, class: f.Class, rule: f.Rule, changed: now}
	}
}

// sweeper credits counts and expires idle flows every sweepEvery.
func (fp *fastPath) sweeper() {
	defer close(fp.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-fp.stop:
			return
		case now := <-t.C:
			fp.sweep(now, false)
		}
	}
}

// sweep credits what the flows forwarded since the last sweep; flows idle
// for fp.idle are removed (all flows when all is set). The counters are
// read in batches before taking the lock, so that the shaping loop's
// inserts never wait for a read of the whole map; with no flow known there
// is nothing to read, and removing all reads each flow as it goes.
func (fp *fastPath) sweep(now time.Time, all bool) {
	var snap map[fastKey]fastVal
	if !all {
		fp.mu.Lock()
		idle := len(fp.known) == 0
		fp.mu.Unlock()
		if idle {
			return // a flow inserted meanwhile waits for the next sweep
		}
		snap = fp.snapshot()
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for k, f := range fp.known {
		v, ok := snap[k]
		if !ok && !all {
			continue // inserted after the snapshot
		}
		if all || v.Pkts == f.pkts && now.Sub(f.changed) >= fp.idle {
			// LookupAndDelete takes the last counts with the entry.
			if err := fp.flows.LookupAndDelete(k, &v); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				fp.log.Warn("fast path: remove flow", "err", err)
				continue
			}
			delete(fp.known, k)
		}
		if v.Pkts > f.pkts {
			dp, db := v.Pkts-f.pkts, v.Bytes-f.bytes
			f.p.AddFast(f.class, f.rule, dp, db)
			fp.shaped.FastPackets.Add(dp)
			fp.shaped.FastBytes.Add(db)
			f.pkts, f.bytes, f.changed = v.Pkts, v.Bytes, now
		}
	}
}

// snapshot reads every flow's counters, in batches where the kernel
// supports it.
func (fp *fastPath) snapshot() map[fastKey]fastVal {
	snap := make(map[fastKey]fastVal)
	keys, vals := make([]fastKey, 256), make([]fastVal, 256)
	var cur ebpf.MapBatchCursor
	for {
		n, err := fp.flows.BatchLookup(&cur, keys, vals, nil)
		for i := range n {
			snap[keys[i]] = vals[i]
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return snap // the end of the map
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			break
		}
		if err != nil {
			fp.log.Warn("fast path: read counters", "err", err)
			return snap
		}
	}
	var k fastKey
	var v fastVal
	it := fp.flows.Iterate()
	for it.Next(&k, &v) {
		snap[k] = v
	}
	return snap
}

// reset credits and removes every flow (the pacer was replaced: its
// classes and marks no longer hold).
func (fp *fastPath) reset() { fp.sweep(time.Now(), true) }

// readReverse stores the reverse program's counters into fp.reverse.
func (fp *fastPath) readReverse() {
	if fp.rev == nil {
		return
	}
	var v revVal
	if err := fp.rev.Lookup(uint32(0), &v); err == nil {
		fp.reverse.FastPackets.Store(v.Pkts)
		fp.reverse.FastBytes.Store(v.Bytes)
	}
}

// close detaches the programs (frames flow through the pacer's sockets
// again), credits the last counts and frees everything.
func (fp *fastPath) close() {
	close(fp.stop)
	<-fp.done
	fp.detach()
	fp.sweep(time.Now(), true)
	fp.readReverse()
	fp.closeObjects()
}

func (fp *fastPath) detach() {
	for _, l := range fp.links {
		if err := l.Close(); err != nil {
			fp.log.Warn("fast path: detach", "err", err)
		}
	}
	fp.links = nil
	if fp.inRx >= 0 {
		_ = unix.SetsockoptInt(fp.inRx, unix.SOL_SOCKET, unix.SO_DETACH_BPF, 0)
		fp.inRx = -1
	}
	if fp.outRx >= 0 {
		_ = unix.SetsockoptInt(fp.outRx, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
		fp.outRx = -1
	}
}

func (fp *fastPath) closeObjects() {
	for _, p := range fp.progs {
		p.Close()
	}
	fp.progs = nil
	if fp.flows != nil {
		fp.flows.Close()
	}
	if fp.rev != nil {
		fp.rev.Close()
	}
	if fp.verdicts != nil {
		fp.verdicts.Close()
	}
}
