// Package htb encodes and decodes the TCA_OPTIONS of tc's htb qdisc and
// classes as qosplane sends them for offloaded HTB (`tc qdisc ... htb
// offload`), apart from the NIC driver (drivers/nic, htbtree.go), with
// byte tests written from the uapi structs.
package htb

import (
	"fmt"
	"math"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
)

var native = nla.Native

// HTB wire format (include/uapi/linux/pkt_sched.h; net/sched/sch_htb.c;
// iproute2 tc/q_htb.c). vishvananda/netlink has no TCA_HTB_OFFLOAD, so the
// qdisc and class options are encoded here.
//
//	struct tc_htb_glob  20 bytes: version@0 (TC_HTB_PROTOVER 3) rate2quantum@4 defcls@8 debug@12 direct_pkts@16
//	struct tc_ratespec  12 bytes: cell_log@0 linklayer@1 overhead@2 cell_align@4 mpu@6 rate@8 (u32 bytes/s)
//	struct tc_htb_opt   44 bytes: rate@0 ceil@12 buffer@24 cbuffer@28 quantum@32 level@36 prio@40
//
// Offloaded HTB (sch_htb.c htb_init, Linux 5.12+) must be the root qdisc,
// needs hw-tc-offload, and htb_change_class refuses overhead, mpu, quantum
// and prio on its classes (6.1: "HTB offload doesn't support the prio
// parameter"): an offloaded class is rate and ceil only. Rates above
// 2^32-1 bytes/s go in TCA_HTB_RATE64/CEIL64 with the u32 saturated, as
// iproute2 sends them. buffer and cbuffer are in psched ticks of 64 ns
// (PSCHED_TICKS2NS: ticks << PSCHED_SHIFT 6).
const (
	tcaHTBParms     = 1
	tcaHTBInit      = 2
	tcaHTBRate64    = 6
	tcaHTBCeil64    = 7
	tcaHTBOffload   = 9
	htbProtoVersion = 3  // TC_HTB_PROTOVER
	htbRate2Quantum = 10 // iproute2's default r2q
	sizeofHTBGlob   = 20
	sizeofHTBOpt    = 44
	linkLayerEther  = 1 // TC_LINKLAYER_ETHERNET: no rate table needed
	pschedShift     = 6
)

// QdiscOptions returns the TCA_OPTIONS payload of
// `tc qdisc add ... htb [offload] default <defcls>`: TCA_HTB_INIT, then the
// TCA_HTB_OFFLOAD flag.
func QdiscOptions(defcls uint32, offload bool) []byte {
	g := make([]byte, sizeofHTBGlob)
	native.PutUint32(g[0:], htbProtoVersion)
	native.PutUint32(g[4:], htbRate2Quantum)
	native.PutUint32(g[8:], defcls)
	var a nla.Builder
	a.Raw(tcaHTBInit, g)
	if offload {
		a.Raw(tcaHTBOffload, nil)
	}
	return a.B
}

// Class is one HTB class in the kernel's units: rates in bytes/s, bursts
// in bytes.
type Class struct {
	RateBytes, CeilBytes    uint64
	BurstBytes, CBurstBytes uint32
}

// burstTicks is the time to send burst bytes at rate bytes/s, in psched
// ticks (what tc_calc_xmittime gives, with the kernel's fixed 64 ns tick).
func burstTicks(burst uint32, rate uint64) uint32 {
	if rate == 0 {
		return 0
	}
	ns := float64(burst) * 1e9 / float64(rate)
	return uint32(min(ns/(1<<pschedShift), math.MaxUint32))
}

// Encode returns the class's TCA_OPTIONS payload: TCA_HTB_RATE64 and
// TCA_HTB_CEIL64 when a rate does not fit in 32 bits, then TCA_HTB_PARMS
// (ethernet link layer, no overhead, mpu, quantum or prio).
func (c Class) Encode() ([]byte, error) {
	if c.RateBytes == 0 || c.CeilBytes == 0 {
		return nil, fmt.Errorf("htb class: rate %d and ceil %d bytes/s must both be set", c.RateBytes, c.CeilBytes)
	}
	if c.CeilBytes < c.RateBytes {
		return nil, fmt.Errorf("htb class: ceil %d below rate %d bytes/s", c.CeilBytes, c.RateBytes)
	}
	var a nla.Builder
	if c.RateBytes > math.MaxUint32 {
		a.U64(tcaHTBRate64, c.RateBytes)
	}
	if c.CeilBytes > math.MaxUint32 {
		a.U64(tcaHTBCeil64, c.CeilBytes)
	}
	o := make([]byte, sizeofHTBOpt)
	o[1], o[12+1] = linkLayerEther, linkLayerEther
	native.PutUint32(o[8:], uint32(min(c.RateBytes, math.MaxUint32)))
	native.PutUint32(o[12+8:], uint32(min(c.CeilBytes, math.MaxUint32)))
	native.PutUint32(o[24:], burstTicks(c.BurstBytes, c.RateBytes))
	native.PutUint32(o[28:], burstTicks(c.CBurstBytes, c.CeilBytes))
	a.Raw(tcaHTBParms, o)
	return a.B, nil
}

// DecodeClass reads a dumped class's TCA_OPTIONS: rate and ceil in
// bytes/s (the 64-bit attributes when present).
func DecodeClass(opts []byte) (Class, error) {
	m, err := nla.Map(opts)
	if err != nil {
		return Class{}, fmt.Errorf("htb class: %w", err)
	}
	p := m[tcaHTBParms]
	if len(p) < sizeofHTBOpt {
		return Class{}, fmt.Errorf("htb class: TCA_HTB_PARMS of %d bytes (want %d)", len(p), sizeofHTBOpt)
	}
	c := Class{RateBytes: uint64(native.Uint32(p[8:])), CeilBytes: uint64(native.Uint32(p[12+8:]))}
	if v := m[tcaHTBRate64]; len(v) == 8 {
		c.RateBytes = native.Uint64(v)
	}
	if v := m[tcaHTBCeil64]; len(v) == 8 {
		c.CeilBytes = native.Uint64(v)
	}
	return c, nil
}

// Offloaded reports whether a dumped htb qdisc's options carry the
// TCA_HTB_OFFLOAD flag (sch_htb.c htb_dump puts it when offloaded).
func Offloaded(opts []byte) bool {
	found := false
	nla.Each(opts, func(typ uint16, _ []byte) { found = found || typ == tcaHTBOffload })
	return found
}

// DefCls returns the default class (minor) of a dumped htb qdisc's
// options: tc_htb_glob's defcls in TCA_HTB_INIT.
func DefCls(opts []byte) (uint32, bool) {
	var g []byte
	nla.Each(opts, func(typ uint16, d []byte) {
		if typ == tcaHTBInit {
			g = d
		}
	})
	if len(g) < sizeofHTBGlob {
		return 0, false
	}
	return native.Uint32(g[8:]), true
}
