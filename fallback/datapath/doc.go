// Package datapath moves frames between two Linux interfaces through the
// software pacer (package fallback): a bump in the wire built on AF_PACKET
// sockets.
//
// Each interface gets a receive socket (ETH_P_ALL, PACKET_IGNORE_OUTGOING so
// it never reads its own or the host's sends, PACKET_AUXDATA to recover the
// VLAN tag the kernel stripped, PACKET_VNET_HDR so GSO frames arrive whole)
// and a transmit socket (PACKET_VNET_HDR, PACKET_QDISC_BYPASS so no qdisc
// shapes or reorders behind the pacer). Frames are moved in batches with
// recvmmsg/sendmmsg.
//
// One direction (In -> Out) goes through a fallback.Pacer in a single
// shaping goroutine: read a batch, read the clock once, Enqueue all, Dequeue
// what may leave, send, then wait in ppoll for the next frame or the next
// release time (rounded up to WakeQuantum). In sustained overload
// (fallback.Pacer.DeferArrivals) the wait ignores new frames and they are
// read at the release time, one wake-up per release batch. The other
// direction (Out -> In) is forwarded as is by a second goroutine with its
// own buffers.
//
// Units: sizes in bytes, rates in bit/s, times in nanoseconds of the
// monotonic clock (fallback.Now).
package datapath
