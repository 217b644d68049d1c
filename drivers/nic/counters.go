package nic

import (
	"context"
	"fmt"
	"time"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// Counters reads rule counters from the flower filters' first action
// (software and hardware packets/bytes; a rule split into IPv4 and IPv6
// filters sums both) and class counters from the root mqprio's per-TC
// classes (a class sharing a TC reports the TC's counts).
func (d *Driver) Counters(ctx context.Context) (*offload.Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.reload(); err != nil {
		return nil, err
	}
	st := d.st
	s, err := d.scan(st)
	if err != nil {
		return nil, fmt.Errorf("nic %s: counters: %w", d.dev.Interface, err)
	}
	out := &offload.Counters{Time: time.Now(), Rules: make(map[string]offload.RuleCounters), Classes: make(map[string]offload.ClassCounters)}
	for id, rs := range st.Rules {
		var rc offload.RuleCounters
		rc.Where = rs.Rule.Where.Placement
		for _, ref := range rs.Filters {
			f, ok := s.filters[refKey(ref.Dev, ref.Hook, ref.Pref, ref.Handle)]
			if !ok {
				continue
			}
			rc.Packets += f.Packets
			rc.Bytes += f.Bytes
			rc.HardwarePackets += f.HWPackets
			rc.HardwareBytes += f.HWBytes
		}
		out.Rules[id] = rc
	}
	if s.root != nil && isOurMqprio(s.root) && st.Queues != nil {
		tcs, err := d.c.tcClassStats(s.rootIdx, s.root.Handle)
		if err != nil {
			return nil, fmt.Errorf("nic %s: counters: %w", d.dev.Interface, err)
		}
		for _, cp := range st.Classes {
			if cp.TC < 0 {
				continue
			}
			cs := tcs[cp.TC]
			cc := offload.ClassCounters{Packets: cs.packets, Bytes: cs.bytes, Drops: cs.drops, QueueDepth: cs.backlog, Where: cp.Where.Placement}
			if st.Queues != nil && cp.TC < len(st.Queues.TCs) {
				cc.ConfiguredRate = st.Queues.TCs[cp.TC].MaxRate
			}
			out.Classes[cp.Name] = cc
		}
	}
	if isOurHTB(s.root) && st.HTB != nil {
		// An offloaded leaf's counters are its send queue's
		// (sch_htb.c htb_offload_aggregate_stats).
		cls, err := d.c.classStats(s.rootIdx, s.root.Handle)
		if err != nil {
			return nil, fmt.Errorf("nic %s: counters: %w", d.dev.Interface, err)
		}
		for _, cp := range st.Classes {
			if hc := st.HTB.Class(cp.Name); hc != nil {
				cs := cls[uint32(hc.Minor)]
				out.Classes[cp.Name] = offload.ClassCounters{Packets: cs.packets, Bytes: cs.bytes, Drops: cs.drops, QueueDepth: cs.backlog,
					ConfiguredRate: hc.Ceil, Where: cp.Where.Placement}
			}
		}
	}
	return out, nil
}

// DeviceStats returns the interface's ethtool statistics (ethtool -S),
// which carry the NIC's own per-queue and per-priority counters.
func (d *Driver) DeviceStats() (map[string]uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	et, err := d.nfc()
	if err != nil {
		return nil, fmt.Errorf("ethtool: %w", err)
	}
	return et.Stats(d.dev.Interface)
}

type classStats struct{ bytes, packets, drops, backlog uint64 }

// tcClassStats dumps the mqprio's classes: the TC classes are
// <major>:ffe0+tc and carry the sum of their queues.
func (c *conn) tcClassStats(ifindex int, qdisc uint32) (map[int]classStats, error) {
	out := make(map[int]classStats)
	all, err := c.classStats(ifindex, qdisc)
	for minor, cs := range all {
		if minor >= tc.HMinPrio && minor <= tc.HMinPrio+15 {
			out[int(minor)-tc.HMinPrio] = cs
		}
	}
	return out, err
}

// classStats dumps the classes of root qdisc qdisc (its handle) and
// returns their counters by minor.
func (c *conn) classStats(ifindex int, qdisc uint32) (map[uint32]classStats, error) {
	out := make(map[uint32]classStats)
	err := c.dump(tc.RTMGetClass, tc.Msg(ifindex, 0, qdisc, 0), func(msg []byte) error {
		idx, h, _, _, rest, err := tc.ParseMsg(msg)
		if err != nil || idx != ifindex || h&0xFFFF0000 != qdisc {
			return err
		}
		minor := h & 0xFFFF
		m, err := nla.Map(rest)
		if err != nil {
			return err
		}
		var cs classStats
		if sm, err := nla.Map(m[tc.TCAStats2]); err == nil {
			cs.bytes, cs.packets, _, _ = tc.ParseStats(m[tc.TCAStats2])
			if q := sm[tc.TCAStatsQueue]; len(q) >= 20 {
				// struct gnet_stats_queue: qlen, backlog, drops, requeues, overlimits.
				cs.backlog = uint64(native.Uint32(q[4:]))
				cs.drops = uint64(native.Uint32(q[8:]))
			}
		}
		out[minor] = cs
		return nil
	})
	return out, err
}
