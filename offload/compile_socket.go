package offload

import "github.com/qosplane/qosplane/model"

// socketRules plans the flows that match a cgroup: BPF programs on the
// host's cgroups set each socket's priority and DSCP once, when it is
// created or connects (drivers/cgroup). On a NIC with hardware queues the
// priority is the class's skb priority, which mqprio's prio->TC map turns
// into the class's TC; without queues (the pacer) the packets carry the
// marking and the pacer classifies them by its own rules. A switch sees
// only the DSCP: there the flows are noted, not placed.
func (cc *compiler) socketRules() {
	tp, t := cc.tp, cc.t
	if len(cc.sockFlows) == 0 {
		return
	}
	if t.Kind == model.Switch {
		for _, f := range cc.sockFlows {
			cc.notef("flow %s matches cgroup %s: its hosts mark its sockets; this switch sees their DSCP only", f.Name, f.Match.Cgroup)
		}
		return
	}
	for _, f := range cc.sockFlows {
		cp := &tp.Classes[cc.classIndex(f.Class)]
		dscp, _ := flowMarks(f, cp)
		r := Rule{
			ID: ruleID(f.Name, OnSocket, t.Interface), Flow: f.Name, Class: f.Class,
			Direction: OnSocket, Device: t.Interface, Precedence: precedence(&f.Match), Match: f.Match,
			Actions: []Action{{Kind: SetPriority, Priority: cp.SkbPriority}, {Kind: SetDSCP, DSCP: dscp}},
			Where:   Where{Placement: Socket, Reason: "set once per socket, when it is created or connects"},
		}
		tp.Rules = append(tp.Rules, r)
		switch q := tp.Queues; {
		case tp.HTB != nil:
			cc.notef("flow %s (cgroup %s): socket priority %x:%x selects HTB class %s; DSCP %d carries the class to the switches",
				f.Name, f.Match.Cgroup, cp.SkbPriority>>16, cp.SkbPriority&0xffff, f.Class, dscp)
		case q != nil && cp.SkbPriority < uint32(len(q.PrioTC)):
			cc.notef("flow %s (cgroup %s): socket priority %d selects TC %d through mqprio's map; DSCP %d carries the class to the switches",
				f.Name, f.Match.Cgroup, cp.SkbPriority, q.PrioTC[cp.SkbPriority], dscp)
		case tp.Pacer != nil:
			cc.notef("flow %s (cgroup %s): sockets get priority %d and DSCP %d; the pacer classifies their packets by its rules like any others",
				f.Name, f.Match.Cgroup, cp.SkbPriority, dscp)
		default:
			cc.notef("flow %s (cgroup %s): priority %d reaches no hardware queue on this target", f.Name, f.Match.Cgroup, cp.SkbPriority)
		}
	}
}
