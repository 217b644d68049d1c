package datapath

import "sync/atomic"

// DirStats counts one direction of the bump. All counts are cumulative;
// bytes are L2 frame bytes as received (VLAN tag included).
type DirStats struct {
	RxPackets, RxBytes atomic.Uint64
	TxPackets, TxBytes atomic.Uint64
	// RxErrors: truncated or malformed frames. NoBuffer: frames read and
	// dropped because the packet pool was exhausted. TxErrors: frames the
	// kernel refused to send.
	RxErrors, NoBuffer, TxErrors atomic.Uint64
	// Waits counts sleeps in ppoll; Spins counts loop turns that found a
	// release time already due (no sleep); Deferred counts the sleeps that
	// left arrivals unread until the next release (Pacer.DeferArrivals);
	// Coalesced counts the sleeps that left them unread to read them in
	// one batch (Pacer.CoalesceArrivals, Options.NoCoalesce).
	Waits, Spins, Deferred, Coalesced atomic.Uint64
	// RxBatches counts receive calls that returned frames, RxEmpty those
	// that found none; TxBatches counts send batches (one sendmmsg each
	// unless the kernel took part of it).
	RxBatches, RxEmpty, TxBatches atomic.Uint64
	// KernelDrops counts frames the kernel dropped before the receive
	// socket (its buffer was full: the loop fell behind), from
	// PACKET_STATISTICS, updated when Stats is read.
	KernelDrops atomic.Uint64
	// FastPackets and FastBytes count what the in-kernel fast path
	// forwarded in this direction (frames; L2 bytes, in the shaped
	// direction each GSO segment with its headers). They are not in the
	// Rx and Tx counts, and are updated by the fast path's sweep (every
	// second) and when Stats is read.
	FastPackets, FastBytes atomic.Uint64
	// Stalls counts gaps between the shaping loop's liveness beats long
	// enough (LiveGrace) for the kernel to have failed open meanwhile.
	Stalls atomic.Uint64
}

// DirSnapshot is a plain copy of DirStats.
type DirSnapshot struct {
	RxPackets, RxBytes, TxPackets, TxBytes uint64
	RxErrors, NoBuffer, TxErrors           uint64
	Waits, Spins, Deferred, Coalesced      uint64
	RxBatches, RxEmpty, TxBatches          uint64
	KernelDrops                            uint64
	FastPackets, FastBytes                 uint64
	Stalls                                 uint64
}

// Snapshot reads the counters.
func (s *DirStats) Snapshot() DirSnapshot {
	return DirSnapshot{
		RxPackets: s.RxPackets.Load(), RxBytes: s.RxBytes.Load(),
		TxPackets: s.TxPackets.Load(), TxBytes: s.TxBytes.Load(),
		RxErrors: s.RxErrors.Load(), NoBuffer: s.NoBuffer.Load(), TxErrors: s.TxErrors.Load(),
		Waits: s.Waits.Load(), Spins: s.Spins.Load(), Deferred: s.Deferred.Load(), Coalesced: s.Coalesced.Load(), KernelDrops: s.KernelDrops.Load(),
		RxBatches: s.RxBatches.Load(), RxEmpty: s.RxEmpty.Load(), TxBatches: s.TxBatches.Load(),
		FastPackets: s.FastPackets.Load(), FastBytes: s.FastBytes.Load(),
		Stalls: s.Stalls.Load(),
	}
}
