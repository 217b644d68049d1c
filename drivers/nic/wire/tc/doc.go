// Package tc encodes and decodes the rtnetlink traffic-control messages
// qosplane's NIC driver sends and dumps: struct tcmsg, qdiscs (mqprio in
// channel mode with bw_rlimit shapers, clsact; the options of HTB are
// package htb's), flower filters and their actions (skbedit, pedit dsfield, csum,
// vlan modify, police, gact), and the dump parsers for qdiscs, filters and
// action statistics. It knows bytes, not plans: rates are in bytes/s as
// the kernel takes them, sizes in bytes, times in psched ticks of 64 ns.
// Layouts are those of the Linux 6.1 uapi headers (linux/pkt_cls.h,
// pkt_sched.h, tc_act/*.h), checked byte for byte by the tests here and in
// package nic, and against the kernel in the lab.
package tc

import "github.com/qosplane/qosplane/drivers/nic/wire/nla"

// native is the host byte order netlink uses for u16/u32/u64 attributes.
var native = nla.Native
