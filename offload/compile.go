package offload

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qosplane/qosplane/model"
)

// CapsFunc returns the capabilities to compile target t for: a named
// profile, a profile file, or what a driver probed.
type CapsFunc func(t *model.Target) (*Capabilities, error)

// Compile compiles every target of p. p must come from model.Parse or
// model.LoadFile (defaults applied, validated). The result depends only on p
// and the capabilities: the same inputs give the same plan, byte for byte.
func Compile(p *model.Policy, caps CapsFunc) (*Plan, error) {
	plan := &Plan{Policy: p.Name}
	order := p.Order()
	for i := range p.Targets {
		t := &p.Targets[i]
		c, err := caps(t)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", t.Name, err)
		}
		tp, err := CompileTarget(p, t, c, order)
		if err != nil {
			return nil, err
		}
		plan.Targets = append(plan.Targets, tp)
	}
	return plan, nil
}

// CompileTarget compiles p for one target with capabilities c. order is
// p.Order(), passed in so that compiling many targets sorts once.
func CompileTarget(p *model.Policy, t *model.Target, c *Capabilities, order []int) (*TargetPlan, error) {
	tp := &TargetPlan{
		Target:   t.Name,
		Kind:     t.Kind,
		Owner:    "qosplane-" + p.Name,
		Profile:  c.Profile,
		Device:   DeviceOf(t),
		Capacity: t.Capacity,
		Classes:  []ClassPlan{},
		Rules:    []Rule{},
	}
	if tp.Capacity == 0 {
		tp.Capacity = c.LinkSpeed
	}
	if tp.Capacity != 0 {
		if err := model.Admit(p, t, tp.Capacity); err != nil {
			return nil, err
		}
	}
	classes := p.TargetClasses(t)
	onTarget := make(map[string]bool, len(classes))
	for _, cl := range classes {
		onTarget[cl.Name] = true
	}
	var flows, sockFlows []*model.Flow
	for _, i := range order {
		if f := &p.Flows[i]; onTarget[f.Class] {
			if f.Match.Cgroup != "" {
				sockFlows = append(sockFlows, f)
			} else {
				flows = append(flows, f)
			}
		}
	}
	cc := &compiler{p: p, t: t, caps: c, tp: tp, classes: classes, flows: flows, sockFlows: sockFlows}
	switch {
	case t.Kind == model.Switch && c.Kind != "switch":
		return nil, fmt.Errorf("target %q is a switch but profile %q is for a %s", t.Name, c.Profile, c.Kind)
	case t.Kind == model.NIC && c.Kind == "switch":
		return nil, fmt.Errorf("target %q is a nic but profile %q is for a switch", t.Name, c.Profile)
	case t.Kind == model.Switch:
		cc.compileSwitch()
	case c.TrafficClasses == 0:
		cc.compilePacer(fmt.Sprintf("profile %s has no hardware queues", c.Profile))
	default:
		cc.compileNIC()
	}
	cc.socketRules()
	if t.Kind == model.NIC {
		cc.compileSRIOV()
	}
	slices.SortStableFunc(tp.Rules, func(a, b Rule) int {
		if c := cmp.Compare(a.Precedence, b.Precedence); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return tp, nil
}

// DeviceOf returns how to reach target t.
func DeviceOf(t *model.Target) Device {
	return Device{
		Interface: t.Interface, PCI: t.PCI, Representors: t.Representors,
		Address: t.Address, Interfaces: t.Interfaces, TLS: t.TLS, Credentials: t.Credentials,
	}
}

// compiler holds one target's compilation.
type compiler struct {
	p       *model.Policy
	t       *model.Target
	caps    *Capabilities
	tp      *TargetPlan
	classes []*model.Class
	flows   []*model.Flow // on this target, most specific first, no cgroup match
	// sockFlows are the target's flows with a cgroup match, most specific
	// first: they become socket rules (compile_socket.go).
	sockFlows []*model.Flow
}

func (cc *compiler) notef(format string, args ...any) {
	cc.tp.Notes = append(cc.tp.Notes, fmt.Sprintf(format, args...))
}

// noteOnce is notef for a note that may come up once per rule: the plan
// says it once.
func (cc *compiler) noteOnce(format string, args ...any) {
	if n := fmt.Sprintf(format, args...); !slices.Contains(cc.tp.Notes, n) {
		cc.tp.Notes = append(cc.tp.Notes, n)
	}
}

// precedence maps a match's specificity to a tc filter pref: more specific
// is lower. It depends on the match alone, so it is stable when flows are
// added or removed.
func precedence(m *model.Match) uint16 {
	s := m.Specificity()
	return uint16(1 + (model.MaxSpecificityBits-s.Bits)*9 + (8 - s.Fields))
}

// classPlan returns the target-independent part of a class's plan.
func (cc *compiler) classPlan(c *model.Class) ClassPlan {
	cp := ClassPlan{
		Name: c.Name, Service: c.Service, Priority: c.Priority, Weight: c.Weight, TC: -1,
		Rate: c.Rate, Peak: c.Peak, Bucket: c.Bucket, MinPoliced: c.MinPoliced, MaxSDU: c.MaxSDU,
		NonConforming:     c.NonConforming,
		Mark:              Mark{DSCP: *c.Mark.DSCP, PCP: *c.Mark.PCP},
		MarkNonConforming: Mark{DSCP: *c.MarkNonConforming.DSCP, PCP: *c.MarkNonConforming.PCP},
		RoCE:              c.RoCE, PFC: c.PFC,
		Where: Where{Placement: Hardware},
	}
	if c.MinPoliced > 0 && c.Rate > 0 {
		cp.Overhead = cc.overhead(c.Name)
		cp.EffectiveRate = c.Rate + model.Rate(uint64(c.Rate)*uint64(cp.Overhead)/uint64(c.MinPoliced))
	}
	return cp
}

// overhead is the per-packet protocol overhead of the class's flows: 40
// bytes (IP + TCP) when any flow may be TCP, 28 (IP + UDP) when all are UDP.
func (cc *compiler) overhead(class string) model.Size {
	udpOnly, any := true, false
	for _, f := range slices.Concat(cc.flows, cc.sockFlows) {
		if f.Class == class {
			any = true
			if f.Match.Protocol != model.UDP {
				udpOnly = false
			}
		}
	}
	if any && udpOnly {
		return 28
	}
	return 40
}

// flowMarks returns the conforming DSCP and PCP a flow's packets get: its
// own remark where it has one, else its class's marking.
func flowMarks(f *model.Flow, cp *ClassPlan) (dscp, pcp uint8) {
	dscp, pcp = cp.Mark.DSCP, cp.Mark.PCP
	if f.Remark.DSCP != nil {
		dscp = *f.Remark.DSCP
	}
	if f.Remark.PCP != nil {
		pcp = *f.Remark.PCP
	}
	return dscp, pcp
}

func (cc *compiler) classIndex(name string) int {
	for i := range cc.tp.Classes {
		if cc.tp.Classes[i].Name == name {
			return i
		}
	}
	panic("offload: class " + name + " not on target")
}

func ruleID(flow string, dir RuleDirection, device string) string {
	return flow + "/" + string(dir) + "/" + device
}

// compilePacer places the whole target on the software pacer.
func (cc *compiler) compilePacer(reason string) {
	tp, t := cc.tp, cc.t
	tp.Pacer = &PacerPlan{
		Mode: t.Fallback.Mode, Interface: t.Interface, Peer: t.Fallback.Peer,
		PortRate: tp.Capacity, Reason: reason,
	}
	if t.Fallback.Mode == "bridge" {
		tp.Pacer.OnFailure = t.Fallback.OnFailure
	}
	tp.Pacer.SlowLink = cc.slowLink(tp.Capacity, t.Fallback.SlowLink)
	if tp.Capacity == 0 {
		cc.notef("no capacity given or probed: the pacer enforces class rates but no port rate")
	}
	if t.Fallback.Mode == "bridge" {
		cc.notef("software fallback: %s; qosplane's pacer shapes, schedules and marks frames from %s to %s", reason, t.Interface, t.Fallback.Peer)
	} else {
		cc.notef("software fallback: %s; qosplane's pacer shapes, schedules and marks %s's egress", reason, t.Interface)
	}
	for _, c := range cc.classes {
		cp := cc.classPlan(c)
		cp.SkbPriority = uint32(c.Priority)
		cp.Where = Where{Placement: Pacer, Reason: reason}
		tp.Classes = append(tp.Classes, cp)
	}
	for _, f := range cc.flows {
		cp := &tp.Classes[cc.classIndex(f.Class)]
		r := Rule{
			ID: ruleID(f.Name, OnEgress, t.Interface), Flow: f.Name, Class: f.Class,
			Direction: OnEgress, Device: t.Interface, Precedence: precedence(&f.Match), Match: f.Match,
			Where: Where{Placement: Pacer, Reason: reason},
		}
		if !f.Direction.HasEgress() {
			r.ID = ruleID(f.Name, OnIngress, t.Interface)
			r.Direction = OnIngress
			r.Where = Where{Placement: Unsupported, Reason: "the software pacer shapes transmitted traffic only"}
		}
		dscp, pcp := flowMarks(f, cp)
		r.Actions = append(r.Actions, Action{Kind: SetClass}, Action{Kind: SetDSCP, DSCP: dscp}, Action{Kind: SetPCP, PCP: pcp})
		if f.Police != nil {
			r.Actions = append(r.Actions, Action{Kind: Police, Rate: f.Police.Rate, Burst: f.Police.Burst, Exceed: &Exceed{Drop: true}})
		}
		tp.Rules = append(tp.Rules, r)
	}
}
