package nic

import (
	"fmt"
)

// qdiscInfo is one qdisc from an RTM_GETQDISC dump.
type qdiscInfo struct {
	Ifindex   int
	Handle    uint32
	Parent    uint32
	Kind      string
	Options   []byte
	HWOffload bool
}

// filterInfo is one filter from an RTM_GETTFILTER dump.
type dumpedFilter struct {
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
	// Stats of the first action: software+hardware and the hardware part.
	Bytes, Packets, HWBytes, HWPackets uint64
	// ActionKinds in order, for diagnostics.
	ActionKinds []string
}

func parseTcmsg(msg []byte) (ifindex int, handle, parent, info uint32, rest []byte, err error) {
	if len(msg) < sizeofTcmsg {
		return 0, 0, 0, 0, nil, fmt.Errorf("short tcmsg: %d bytes", len(msg))
	}
	return int(int32(native.Uint32(msg[4:]))), native.Uint32(msg[8:]), native.Uint32(msg[12:]), native.Uint32(msg[16:]), msg[sizeofTcmsg:], nil
}

func parseQdisc(msg []byte) (qdiscInfo, error) {
	var q qdiscInfo
	idx, h, p, _, rest, err := parseTcmsg(msg)
	if err != nil {
		return q, err
	}
	q.Ifindex, q.Handle, q.Parent = idx, h, p
	m, err := attrMap(rest)
	if err != nil {
		return q, fmt.Errorf("qdisc %x: %w", h, err)
	}
	q.Kind = cstring(m[tcaKind])
	q.Options = m[tcaOptions]
	if v := m[tcaHWOffload]; len(v) > 0 {
		q.HWOffload = v[0] != 0
	}
	return q, nil
}

func parseFilter(msg []byte) (ifindex int, f dumpedFilter, err error) {
	idx, h, p, info, rest, err := parseTcmsg(msg)
	if err != nil {
		return 0, f, err
	}
	f.Handle, f.Parent, f.Pref = h, p, uint16(info>>16)
	m, err := attrMap(rest)
	if err != nil {
		return idx, f, fmt.Errorf("filter %d/%x: %w", f.Pref, h, err)
	}
	f.Kind = cstring(m[tcaKind])
	f.Chain, _ = getU32(m, tcaChain)
	if f.Kind != "flower" || m[tcaOptions] == nil {
		return idx, f, nil
	}
	om, err := attrMap(m[tcaOptions])
	if err != nil {
		return idx, f, fmt.Errorf("flower %d/%x options: %w", f.Pref, h, err)
	}
	f.Flags, _ = getU32(om, tcaFlowerFlags)
	f.InHW, _ = getU32(om, tcaFlowerInHWCount)
	f.ClassID, _ = getU32(om, tcaFlowerClassid)
	if acts := om[tcaFlowerAct]; acts != nil {
		list, err := parseAttrs(acts)
		if err != nil {
			return idx, f, fmt.Errorf("flower %d/%x actions: %w", f.Pref, h, err)
		}
		for i, a := range list {
			am, err := attrMap(a.Data)
			if err != nil {
				return idx, f, fmt.Errorf("flower %d/%x action %d: %w", f.Pref, h, a.Type, err)
			}
			f.ActionKinds = append(f.ActionKinds, cstring(am[tcaActKind]))
			f.Cookies = append(f.Cookies, am[tcaActCookie])
			if i == 0 {
				f.Bytes, f.Packets, f.HWBytes, f.HWPackets = parseStats(am[tcaActStats])
			}
		}
	}
	return idx, f, nil
}

// parseStats reads TCA_STATS_BASIC (struct gnet_stats_basic: u64 bytes,
// u32 packets), TCA_STATS_PKT64 and TCA_STATS_BASIC_HW.
func parseStats(b []byte) (bytes, packets, hwBytes, hwPackets uint64) {
	m, err := attrMap(b)
	if err != nil {
		return
	}
	if v := m[tcaStatsBasic]; len(v) >= 12 {
		bytes, packets = native.Uint64(v), uint64(native.Uint32(v[8:]))
	}
	if v := m[tcaStatsPkt64]; len(v) >= 8 {
		packets = native.Uint64(v)
	}
	if v := m[tcaStatsBasicHW]; len(v) >= 12 {
		hwBytes, hwPackets = native.Uint64(v), uint64(native.Uint32(v[8:]))
	}
	return
}

// ourCookie returns the fingerprint from the first of f's cookies that
// belongs to owner tag.
func (f *dumpedFilter) ourCookie(tag [6]byte) (fp string, ok bool) {
	for _, c := range f.Cookies {
		if t, fp, ok := parseCookie(c); ok && t == tag {
			return fp, true
		}
	}
	return "", false
}

// qdiscs dumps the qdiscs of ifindex.
func (c *conn) qdiscs(ifindex int) ([]qdiscInfo, error) {
	var out []qdiscInfo
	err := c.dump(rtmGetQdisc, tcmsg(ifindex, 0, 0, 0), func(msg []byte) error {
		q, err := parseQdisc(msg)
		if err != nil {
			return err
		}
		if q.Ifindex == ifindex {
			out = append(out, q)
		}
		return nil
	})
	return out, err
}

// filters dumps the filters of ifindex under parent (a clsact hook).
func (c *conn) filters(ifindex int, parent uint32) ([]dumpedFilter, error) {
	var out []dumpedFilter
	err := c.dump(rtmGetFilter, tcmsg(ifindex, 0, parent, 0), func(msg []byte) error {
		idx, f, err := parseFilter(msg)
		if err != nil {
			return err
		}
		if idx == ifindex && f.Handle != 0 {
			out = append(out, f)
		}
		return nil
	})
	return out, err
}
