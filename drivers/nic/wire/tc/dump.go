package tc

import (
	"bytes"
	"fmt"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
)

// Qdisc is one qdisc from an RTM_GETQDISC dump.
type Qdisc struct {
	Ifindex   int
	Handle    uint32
	Parent    uint32
	Kind      string
	Options   []byte
	HWOffload bool
}

// DumpedFilter is one filter from an RTM_GETTFILTER dump.
type DumpedFilter struct {
	Pref    uint16
	Handle  uint32
	Parent  uint32
	Kind    string
	Chain   uint32
	Flags   uint32
	InHW    uint32 // TCA_FLOWER_IN_HW_COUNT
	ClassID uint32
	// Cookies are the action cookies in action order (nil where none).
	Cookies [][]byte
	// Stats are the packets that entered the filter's action list
	// (software+hardware, and the hardware part); see entryStats.
	Bytes, Packets, HWBytes, HWPackets uint64
	// ActionKinds in order, for diagnostics.
	ActionKinds []string
}

func ParseMsg(msg []byte) (ifindex int, handle, parent, info uint32, rest []byte, err error) {
	if len(msg) < SizeofTcmsg {
		return 0, 0, 0, 0, nil, fmt.Errorf("short tcmsg: %d bytes", len(msg))
	}
	return int(int32(native.Uint32(msg[4:]))), native.Uint32(msg[8:]), native.Uint32(msg[12:]), native.Uint32(msg[16:]), msg[SizeofTcmsg:], nil
}

func ParseQdisc(msg []byte) (Qdisc, error) {
	var q Qdisc
	idx, h, p, _, rest, err := ParseMsg(msg)
	if err != nil {
		return q, err
	}
	q.Ifindex, q.Handle, q.Parent = idx, h, p
	m, err := nla.Map(rest)
	if err != nil {
		return q, fmt.Errorf("qdisc %x: %w", h, err)
	}
	q.Kind = nla.CString(m[TCAKind])
	// Copy: the message lives in the connection's receive buffer.
	q.Options = bytes.Clone(m[TCAOptions])
	if v := m[tcaHWOffload]; len(v) > 0 {
		q.HWOffload = v[0] != 0
	}
	return q, nil
}

func ParseFilter(msg []byte) (ifindex int, f DumpedFilter, err error) {
	idx, h, p, info, rest, err := ParseMsg(msg)
	if err != nil {
		return 0, f, err
	}
	f.Handle, f.Parent, f.Pref = h, p, uint16(info>>16)
	var opts []byte
	nla.Each(rest, func(t uint16, d []byte) {
		switch t {
		case TCAKind:
			f.Kind = nla.CString(d)
		case tcaChain:
			if len(d) >= 4 {
				f.Chain = native.Uint32(d)
			}
		case TCAOptions:
			opts = d
		}
	})
	if f.Kind != "flower" || opts == nil {
		return idx, f, nil
	}
	var acts []byte
	nla.Each(opts, func(t uint16, d []byte) {
		if len(d) < 4 && t != tcaFlowerAct {
			return
		}
		switch t {
		case tcaFlowerFlags:
			f.Flags = native.Uint32(d)
		case TCAFlowerInHWCount:
			f.InHW = native.Uint32(d)
		case tcaFlowerClassid:
			f.ClassID = native.Uint32(d)
		case tcaFlowerAct:
			acts = d
		}
	})
	var st []actStats
	var first firstPolice
	nla.Each(acts, func(_ uint16, a []byte) {
		var kind string
		var cookie, stats, aopts []byte
		nla.Each(a, func(t uint16, d []byte) {
			switch t {
			case tcaActKind:
				kind = nla.CString(d)
			case tcaActCookie:
				cookie = d
			case tcaActStats:
				stats = d
			case tcaActOptions:
				aopts = d
			}
		})
		f.ActionKinds = append(f.ActionKinds, kind)
		f.Cookies = append(f.Cookies, bytes.Clone(cookie)) // the buffer is reused
		var s actStats
		s.bytes, s.packets, s.hwBytes, s.hwPackets = ParseStats(stats)
		st = append(st, s)
		if len(st) == 1 && kind == "police" {
			first = parsePolice(aopts)
		}
	})
	f.Bytes, f.Packets, f.HWBytes, f.HWPackets = entryStats(st, first)
	return idx, f, nil
}

type actStats struct{ bytes, packets, hwBytes, hwPackets uint64 }

// firstPolice is what counting needs of a police action at the head of the
// list: whether it is a shared meter and its verdicts.
type firstPolice struct {
	ok               bool
	shared           bool
	conform, exceeds int32
}

func parsePolice(opts []byte) firstPolice {
	var p firstPolice
	nla.Each(opts, func(t uint16, d []byte) {
		switch {
		case t == tcaPoliceTbf && len(d) >= 8:
			p.ok = true
			p.shared = native.Uint32(d)&0xFF000000 == 0x51000000
			p.exceeds = int32(native.Uint32(d[4:]))
		case t == tcaPoliceResult && len(d) >= 4:
			p.conform = int32(native.Uint32(d))
		}
	})
	return p
}

// entryStats counts the packets that entered a filter's actions. The first
// action's counters do, unless it is a shared meter (whose counters are the
// whole class's): then the heads of the paths after it (the next action,
// and the targets of its jumps) are summed; packets a discarding meter
// drops are not counted there.
func entryStats(st []actStats, first firstPolice) (nbytes, packets, hwBytes, hwPackets uint64) {
	if len(st) == 0 {
		return
	}
	heads := []int{0}
	if first.ok && first.shared {
		heads = []int{1}
		for _, v := range []int32{first.conform, first.exceeds} {
			if v&^0x0FFFFFFF == ActJump {
				if n := int(v & 0xFF); n > 1 && n < len(st) {
					heads = append(heads, n)
				}
			}
		}
	}
	for _, i := range heads {
		if i < len(st) {
			nbytes += st[i].bytes
			packets += st[i].packets
			hwBytes += st[i].hwBytes
			hwPackets += st[i].hwPackets
		}
	}
	return
}

// ParseStats reads TCA_STATS_BASIC (struct gnet_stats_basic: u64 bytes,
// u32 packets), TCA_STATS_PKT64 and TCA_STATS_BASIC_HW.
func ParseStats(b []byte) (nbytes, packets, hwBytes, hwPackets uint64) {
	nla.Each(b, func(t uint16, v []byte) {
		switch {
		case t == tcaStatsBasic && len(v) >= 12:
			nbytes, packets = native.Uint64(v), uint64(native.Uint32(v[8:]))
		case t == tcaStatsPkt64 && len(v) >= 8:
			packets = native.Uint64(v)
		case t == tcaStatsBasicHW && len(v) >= 12:
			hwBytes, hwPackets = native.Uint64(v), uint64(native.Uint32(v[8:]))
		}
	})
	return
}
