package cgroup

import "github.com/qosplane/qosplane/offload"

// FromPlan returns a target plan's socket rules (offload.Socket) as driver
// rules: the cgroup and the protocol and destination port it is matched
// with, and the priority and DSCP its actions set.
func FromPlan(tp *offload.TargetPlan) []Rule {
	var out []Rule
	for i := range tp.Rules {
		r := &tp.Rules[i]
		if r.Where.Placement != offload.Socket || r.Match.Cgroup == "" {
			continue
		}
		cr := Rule{Flow: r.Flow, Cgroup: r.Match.Cgroup, Protocol: uint8(r.Match.Protocol),
			PortLo: r.Match.DstPort.Lo, PortHi: r.Match.DstPort.Hi}
		for _, a := range r.Actions {
			switch a.Kind {
			case offload.SetPriority:
				cr.Priority = a.Priority
			case offload.SetDSCP:
				cr.DSCP = a.DSCP
			}
		}
		out = append(out, cr)
	}
	return out
}

// Merge joins the socket rules of several targets (in the order given) into
// the host's: a socket has one priority and one DSCP, so a flow keeps the
// rule of the first target that has it; differing rules of later targets
// are returned as dropped.
func Merge(sets ...[]Rule) (merged []Rule, dropped []Rule) {
	kept := map[string]Rule{}
	for _, set := range sets {
		for _, r := range set {
			if k, ok := kept[r.Flow]; ok {
				if k != r {
					dropped = append(dropped, r)
				}
				continue
			}
			kept[r.Flow] = r
			merged = append(merged, r)
		}
	}
	return merged, dropped
}
