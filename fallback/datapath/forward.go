package datapath

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// forwarder moves frames from one port to another unchanged (except that a
// VLAN tag the kernel stripped is put back, and what edit rewrites). It
// owns its buffers.
type forwarder struct {
	from, to *port
	bufs     [][]byte
	vnets    [][vnetHdrLen]byte
	rx, tx   *mmsgBatch
	stats    *DirStats
	// edit, when set, may rewrite each frame in place (same length)
	// before it is sent: the reverse direction's MSS clamp.
	edit func(frame []byte, vnet *[vnetHdrLen]byte)
}

func newForwarder(from, to *port, batch, maxFrame int, stats *DirStats) *forwarder {
	f := &forwarder{
		from: from, to: to, stats: stats,
		bufs:  make([][]byte, batch),
		vnets: make([][vnetHdrLen]byte, batch),
		rx:    newBatch(batch, true),
		tx:    newBatch(batch, false),
	}
	for i := range f.bufs {
		f.bufs[i] = make([]byte, maxFrame+4) // +4: room to re-insert a VLAN tag
	}
	return f
}

// run forwards until stopFD becomes readable (or stopping is set) or a
// socket fails.
func (f *forwarder) run(stopFD int, stopping *atomic.Bool) error {
	fds := []unix.PollFd{{Fd: int32(f.from.rx), Events: unix.POLLIN}, {Fd: int32(stopFD), Events: unix.POLLIN}}
	batch := len(f.bufs)
	for {
		if stopping.Load() {
			return errStopped
		}
		for i := range batch {
			f.rx.set(i, &f.vnets[i], f.bufs[i][:len(f.bufs[i])-4])
		}
		n, err := f.rx.recv(f.from.rx, batch)
		if err != nil {
			return fmt.Errorf("iface %q: recvmmsg: %w", f.from.name, err)
		}
		if n == 0 {
			f.stats.RxEmpty.Add(1)
			f.stats.Waits.Add(1)
			if _, err := unix.Ppoll(fds, nil, nil); err != nil && err != unix.EINTR {
				return fmt.Errorf("ppoll: %w", err)
			}
			if fds[1].Revents != 0 {
				return errStopped
			}
			continue
		}
		f.stats.RxBatches.Add(1)
		k := 0
		var rxBytes uint64
		for i := range n {
			l := f.rx.frameLen(i)
			if l < 0 {
				f.stats.RxErrors.Add(1)
				continue
			}
			if tci, tpid, ok := f.rx.vlan(i); ok {
				l = insertVLAN(f.bufs[i], l, tpid, tci)
				shiftVnet(&f.vnets[i], 4)
			}
			rxBytes += uint64(l)
			if f.edit != nil {
				f.edit(f.bufs[i][:l], &f.vnets[i])
			}
			f.tx.set(k, &f.vnets[i], f.bufs[i][:l])
			k++
		}
		f.stats.RxPackets.Add(uint64(n))
		f.stats.RxBytes.Add(rxBytes)
		sent, bad, err := f.tx.send(f.to.tx, k)
		f.stats.TxBatches.Add(1)
		f.stats.TxPackets.Add(uint64(sent))
		f.stats.TxBytes.Add(rxBytes) // approximate on partial failure
		f.stats.TxErrors.Add(uint64(bad))
		if err != nil {
			return fmt.Errorf("iface %q: sendmmsg: %w", f.to.name, err)
		}
	}
}
