package tc

import (
	"bytes"
	"encoding/binary"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
)

// Msg returns struct tcmsg: family, pad, ifindex, handle, parent, info.
func Msg(ifindex int, handle, parent, info uint32) []byte {
	b := make([]byte, SizeofTcmsg)
	native.PutUint32(b[4:], uint32(int32(ifindex)))
	native.PutUint32(b[8:], handle)
	native.PutUint32(b[12:], parent)
	native.PutUint32(b[16:], info)
	return b
}

// FilterInfo is tcm_info for a filter: pref in the high 16 bits, the
// protocol (network byte order) in the low 16.
func FilterInfo(pref uint16) uint32 {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], ethPAll)
	return uint32(pref)<<16 | uint32(native.Uint16(p[:]))
}

// QdiscMsg returns an RTM_NEWQDISC / RTM_DELQDISC body.
func QdiscMsg(ifindex int, handle, parent uint32, kind string, opts []byte) []byte {
	a := nla.Builder{B: Msg(ifindex, handle, parent, 0)}
	a.Str(TCAKind, kind)
	if opts != nil {
		a.Raw(TCAOptions, opts)
	}
	return a.B
}

// RequestOptions turns a qdisc's dumped options into what a create
// request takes, where the two differ: HTB dumps its full version
// (HTB_VER 0x30011) but accepts only the major (3).
func RequestOptions(kind string, opts []byte) []byte {
	if kind != "htb" {
		return opts
	}
	out := bytes.Clone(opts)
	nla.Each(out, func(t uint16, d []byte) {
		if t == 2 && len(d) >= 4 { // TCA_HTB_INIT: struct tc_htb_glob, version first
			native.PutUint32(d, native.Uint32(d)>>16)
		}
	})
	return out
}
