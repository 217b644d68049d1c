// Package vethlab builds a three-namespace veth lab for the software pacer
// and measures traffic through it:
//
//	app (senders) app0 <-> pa [pacer] pb <-> peer0 (receivers) peer
//
// In bridge mode the pacer namespace holds no addresses and a bump in the
// wire (package fallback/datapath) forwards between pa and pb; in route
// mode the pacer namespace routes between two subnets with the kernel, and
// kernel qdiscs (HTB, TBF) on pb can be measured as the peer baseline.
//
// The lab needs root. Namespace names are unique per run and everything is
// deleted by Close, which tests register with t.Cleanup.
//
// The traffic generator (Lab.Send) writes crafted Ethernet/IPv4/UDP frames
// with an AF_PACKET socket in app; the receiver (Lab.StartReceiver) counts
// them at peer0 with kernel timestamps and PACKET_AUXDATA (VLAN PCP), per
// flow and 1 s window. The pacer runs as a separate process (StartPacer
// re-executes the current binary, which must call RoleMain first), so its
// CPU time can be measured. With Lab.Realtime the generator and receiver
// threads run SCHED_FIFO, which keeps timing measurements stable on a
// machine busy with other work.
//
// Units: rates in bit/s, sizes in bytes (L2 frame, no FCS, VLAN tag
// included), times in ns.
package vethlab
