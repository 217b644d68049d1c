package gnmi

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/openconfig/ygot/ygot"

	"github.com/qosplane/qosplane/drivers/gnmi/oc"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Tree is the openconfig-qos configuration qosplane owns on one switch,
// built mechanically from a plan, with the maps that turn the switch's
// counters back into class and rule names.
type Tree struct {
	// Root holds only Qos: the owned classifiers, forwarding groups,
	// queues, scheduler policy and interface bindings.
	Root *oc.Device
	// Owner is the plan's owner prefix.
	Owner string
	// QueueClass maps an owned queue name to its class.
	QueueClass map[string]string
	// MeterClass maps the sequence of a scheduler that meters one class
	// (a class with a rate) to that class.
	MeterClass map[uint32]string
	// TermRule maps "<classifier>/<term id>" to the rule's ID.
	TermRule map[string]string
	// Classifiers maps a classifier type (IPV4, IPV6) to the owned
	// classifier of that family.
	Classifiers map[string]string
	// Interfaces are the interface ids the plan binds.
	Interfaces []string
	// Skipped lists what the plan placed as unsupported, with the reason.
	Skipped []string
}

// BuildTree builds and validates the owned openconfig-qos tree of a
// switch plan, using the switch profile tp.Profile names.
func BuildTree(tp *offload.TargetPlan) (*Tree, error) {
	sc, err := switchCaps(tp)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", tp.Target, err)
	}
	t, err := buildTree(tp, sc)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", tp.Target, err)
	}
	return t, nil
}

func buildTree(tp *offload.TargetPlan, sc *offload.SwitchCaps) (*Tree, error) {
	if tp.Kind != model.Switch {
		return nil, fmt.Errorf("plan is of kind %q, not %q", tp.Kind, model.Switch)
	}
	if tp.Owner == "" {
		return nil, fmt.Errorf("plan has no owner prefix")
	}
	t := &Tree{
		Root:       &oc.Device{},
		Owner:      tp.Owner,
		QueueClass: make(map[string]string),
		TermRule:   make(map[string]string),
		MeterClass: make(map[uint32]string),

		Classifiers: make(map[string]string),
	}
	qos := t.Root.GetOrCreateQos()

	// Classes: a forwarding group and an output queue each.
	var classes []*offload.ClassPlan
	byName := make(map[string]*offload.ClassPlan)
	queueIDs := make(map[uint8]string)
	for i := range tp.Classes {
		c := &tp.Classes[i]
		if c.Where.Placement == offload.Unsupported {
			t.Skipped = append(t.Skipped, fmt.Sprintf("class %q: %s", c.Name, c.Where.Reason))
			continue
		}
		if err := checkMark("class "+c.Name+" mark", c.Mark); err != nil {
			return nil, err
		}
		if err := checkMark("class "+c.Name+" non-conforming mark", c.MarkNonConforming); err != nil {
			return nil, err
		}
		qn := queueName(tp, c)
		if other, dup := t.QueueClass[qn]; dup {
			return nil, fmt.Errorf("class %q: queue %q is also class %q's", c.Name, qn, other)
		}
		t.QueueClass[qn] = c.Name
		byName[c.Name] = c
		classes = append(classes, c)

		q, err := qos.NewQueue(qn)
		if err != nil {
			return nil, fmt.Errorf("class %q: %w", c.Name, err)
		}
		if sc.QueueID {
			if other, dup := queueIDs[c.QueueID]; dup {
				return nil, fmt.Errorf("class %q: queue-id %d is also class %q's", c.Name, c.QueueID, other)
			}
			queueIDs[c.QueueID] = c.Name
			q.QueueId = ygot.Uint8(c.QueueID)
		}
		fg, err := qos.NewForwardingGroup(groupName(tp, c.Name))
		if err != nil {
			return nil, fmt.Errorf("class %q: %w", c.Name, err)
		}
		fg.OutputQueue = ygot.String(qn)
	}
	if sc.Queues > 0 && len(classes) > sc.Queues {
		return nil, fmt.Errorf("%d classes need %d output queues; the switch has %d", len(classes), len(classes), sc.Queues)
	}
	if len(classes) > 0 {
		if err := buildScheduler(qos, tp, sc, classes, t.MeterClass); err != nil {
			return nil, err
		}
	}

	// Rules: terms of the per-family classifiers.
	families := make(map[oc.E_OpenconfigQos_Input_Classifier_Type]string)
	for i := range tp.Rules {
		r := &tp.Rules[i]
		if r.Where.Placement == offload.Unsupported {
			t.Skipped = append(t.Skipped, fmt.Sprintf("rule %q: %s", r.ID, r.Where.Reason))
			continue
		}
		if r.Direction != offload.OnClassifier {
			return nil, fmt.Errorf("rule %q: direction %q on a switch (want %q)", r.ID, r.Direction, offload.OnClassifier)
		}
		if _, ok := byName[r.Class]; !ok {
			if slices.ContainsFunc(tp.Classes, func(c offload.ClassPlan) bool { return c.Name == r.Class }) {
				t.Skipped = append(t.Skipped, fmt.Sprintf("rule %q: its class %q is unsupported", r.ID, r.Class))
				continue
			}
			return nil, fmt.Errorf("rule %q: unknown class %q", r.ID, r.Class)
		}
		if !owned(tp.Owner, r.Device) {
			return nil, fmt.Errorf("rule %q: classifier %q does not carry the owner prefix %q", r.ID, r.Device, tp.Owner)
		}
		fam, err := ruleFamily(r)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.ID, err)
		}
		if prev, ok := families[fam]; ok && prev != r.Device {
			return nil, fmt.Errorf("rule %q: classifier %q and %q are both %v classifiers", r.ID, prev, r.Device, fam)
		}
		families[fam] = r.Device
		t.Classifiers[fam.String()] = r.Device
		cl := qos.GetOrCreateClassifier(r.Device)
		cl.Type = classifierType(fam)
		id := termID(r)
		if _, dup := cl.Term[id]; dup {
			return nil, fmt.Errorf("rule %q: term %q already exists in classifier %q", r.ID, id, r.Device)
		}
		term, err := cl.NewTerm(id)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.ID, err)
		}
		if err := buildTerm(term, tp, sc, r, fam); err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.ID, err)
		}
		t.TermRule[r.Device+"/"+id] = r.ID
	}

	// Interface bindings, when there is anything to bind.
	for _, ifname := range tp.Device.Interfaces {
		if len(families) == 0 && len(classes) == 0 {
			break
		}
		if ifname == "" {
			return nil, fmt.Errorf("empty interface name in device interfaces")
		}
		if _, dup := qos.Interface[ifname]; dup {
			return nil, fmt.Errorf("interface %q is listed twice", ifname)
		}
		in, err := qos.NewInterface(ifname)
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", ifname, err)
		}
		t.Interfaces = append(t.Interfaces, ifname)
		for fam, name := range families {
			c := in.GetOrCreateInput().GetOrCreateClassifier(fam)
			c.Name = ygot.String(name)
		}
		if len(classes) > 0 {
			out := in.GetOrCreateOutput()
			out.GetOrCreateSchedulerPolicy().Name = ygot.String(policyName(tp))
			for qn := range t.QueueClass {
				out.GetOrCreateQueue(qn)
			}
		}
	}

	if err := validateTree(t.Root); err != nil {
		return nil, err
	}
	return t, nil
}

// checkMark enforces the ranges the schema leaves to the implementation:
// set-dscp is a plain uint8 (0-63 valid), set-dot1p too (0-7 valid).
func checkMark(what string, m offload.Mark) error {
	if m.DSCP > 63 {
		return fmt.Errorf("%s: DSCP %d is out of range 0-63", what, m.DSCP)
	}
	if m.PCP > 7 {
		return fmt.Errorf("%s: 802.1p %d is out of range 0-7", what, m.PCP)
	}
	return nil
}

// ruleFamily is the address family of a rule's classifier: the classifier
// name's "-ipv6" suffix, checked against the match.
func ruleFamily(r *offload.Rule) (oc.E_OpenconfigQos_Input_Classifier_Type, error) {
	fam := oc.OpenconfigQos_Input_Classifier_Type_IPV4
	if strings.HasSuffix(r.Device, "-ipv6") {
		fam = oc.OpenconfigQos_Input_Classifier_Type_IPV6
	}
	switch f := r.Match.Family(); {
	case f == 4 && fam != oc.OpenconfigQos_Input_Classifier_Type_IPV4,
		f == 6 && fam != oc.OpenconfigQos_Input_Classifier_Type_IPV6:
		return 0, fmt.Errorf("an IPv%d match in classifier %q", f, r.Device)
	}
	return fam, nil
}

func classifierType(fam oc.E_OpenconfigQos_Input_Classifier_Type) oc.E_OpenconfigQos_Qos_Classifier_Type {
	if fam == oc.OpenconfigQos_Input_Classifier_Type_IPV6 {
		return oc.OpenconfigQos_Qos_Classifier_Type_IPV6
	}
	return oc.OpenconfigQos_Qos_Classifier_Type_IPV4
}

// buildTerm fills a term's conditions and actions from a rule.
func buildTerm(term *oc.Qos_Classifier_Term, tp *offload.TargetPlan, sc *offload.SwitchCaps, r *offload.Rule, fam oc.E_OpenconfigQos_Input_Classifier_Type) error {
	m := &r.Match
	need := func(cond string) error {
		if !hasCondition(sc, cond) {
			return fmt.Errorf("the switch profile does not take a %s condition", cond)
		}
		return nil
	}
	if m.VLAN != 0 {
		return fmt.Errorf("openconfig-qos classifiers cannot match a VLAN id")
	}
	if m.Interface != "" {
		return fmt.Errorf("openconfig-qos classifiers cannot match an interface (bind the classifier instead)")
	}
	type ipConds struct {
		dscp     **uint8
		dscpSet  *[]uint8
		src, dst **string
	}
	var ip ipConds
	var setProto func(uint8)
	// protocol names TCP, UDP and ICMP by their openconfig identities, as
	// switches and featureprofiles expect; other numbers stay numbers.
	protocol := func(p uint8) protoUnion {
		switch model.Protocol(p) {
		case model.TCP:
			return oc.OpenconfigPacketMatchTypes_IP_PROTOCOL_IP_TCP
		case model.UDP:
			return oc.OpenconfigPacketMatchTypes_IP_PROTOCOL_IP_UDP
		case model.ICMP:
			return oc.OpenconfigPacketMatchTypes_IP_PROTOCOL_IP_ICMP
		}
		return oc.UnionUint8(p)
	}
	cond := term.GetOrCreateConditions()
	if fam == oc.OpenconfigQos_Input_Classifier_Type_IPV6 {
		v6 := cond.GetOrCreateIpv6()
		ip = ipConds{&v6.Dscp, &v6.DscpSet, &v6.SourceAddress, &v6.DestinationAddress}
		setProto = func(p uint8) { v6.Protocol = protocol(p) }
	} else {
		v4 := cond.GetOrCreateIpv4()
		ip = ipConds{&v4.Dscp, &v4.DscpSet, &v4.SourceAddress, &v4.DestinationAddress}
		setProto = func(p uint8) { v4.Protocol = protocol(p) }
	}
	if m.DSCP != nil {
		if err := need("dscp"); err != nil {
			return err
		}
		if *m.DSCP > 63 {
			return fmt.Errorf("match DSCP %d is out of range 0-63", *m.DSCP)
		}
		if sc.DSCPSet {
			*ip.dscpSet = []uint8{*m.DSCP}
		} else {
			*ip.dscp = ygot.Uint8(*m.DSCP)
		}
	}
	if m.Src.IsValid() {
		if err := need("src"); err != nil {
			return err
		}
		*ip.src = ygot.String(m.Src.String())
	}
	if m.Dst.IsValid() {
		if err := need("dst"); err != nil {
			return err
		}
		*ip.dst = ygot.String(m.Dst.String())
	}
	if m.Protocol != 0 {
		if err := need("protocol"); err != nil {
			return err
		}
		setProto(uint8(m.Protocol))
	}
	if !m.SrcPort.IsZero() || !m.DstPort.IsZero() {
		tr := cond.GetOrCreateTransport()
		if !m.SrcPort.IsZero() {
			if err := need("src-port"); err != nil {
				return err
			}
			if !m.SrcPort.Exact() {
				if err := need("port-range"); err != nil {
					return err
				}
				tr.SourcePort = oc.UnionString(fmt.Sprintf("%d..%d", m.SrcPort.Lo, m.SrcPort.Hi))
			} else {
				tr.SourcePort = oc.UnionUint16(m.SrcPort.Lo)
			}
		}
		if !m.DstPort.IsZero() {
			if err := need("dst-port"); err != nil {
				return err
			}
			if !m.DstPort.Exact() {
				if err := need("port-range"); err != nil {
					return err
				}
				tr.DestinationPort = oc.UnionString(fmt.Sprintf("%d..%d", m.DstPort.Lo, m.DstPort.Hi))
			} else {
				tr.DestinationPort = oc.UnionUint16(m.DstPort.Lo)
			}
		}
	}

	act := term.GetOrCreateActions()
	for _, a := range r.Actions {
		switch a.Kind {
		case offload.SetClass:
			act.TargetGroup = ygot.String(groupName(tp, r.Class))
		case offload.SetDSCP:
			if !hasRemark(sc, "set-dscp") {
				return fmt.Errorf("the switch profile does not take remark set-dscp")
			}
			if a.DSCP > 63 {
				return fmt.Errorf("set-dscp %d is out of range 0-63", a.DSCP)
			}
			act.GetOrCreateRemark().SetDscp = ygot.Uint8(a.DSCP)
		case offload.SetPCP:
			if !hasRemark(sc, "set-dot1p") {
				return fmt.Errorf("the switch profile does not take remark set-dot1p")
			}
			if a.PCP > 7 {
				return fmt.Errorf("set-dot1p %d is out of range 0-7", a.PCP)
			}
			act.GetOrCreateRemark().SetDot1P = ygot.Uint8(a.PCP)
		default:
			return fmt.Errorf("action %q has no openconfig-qos classifier form", a.Kind)
		}
	}
	if act.TargetGroup == nil {
		return fmt.Errorf("no %s action: a switch term must name its forwarding group", offload.SetClass)
	}
	return nil
}

// buildScheduler builds the scheduler policy: one scheduler per strict
// priority level, highest first (sequence 0, 1, ...). A level holding one
// class is served STRICT; classes sharing a level share one scheduler with
// weighted inputs (WRR, no priority). A class with a rate gets a scheduler of
// its own at its level carrying its meter: a one-rate-two-color SHAPE
// shaper for shape, a policer (two-rate-three-color when a peak is set and
// the switch has one, else one-rate-two-color POLICE) whose exceed action
// drops (discard) or remarks to the non-conforming marking (borrow).
func buildScheduler(qos *oc.Qos, tp *offload.TargetPlan, sc *offload.SwitchCaps, classes []*offload.ClassPlan, meters map[uint32]string) error {
	pol, err := qos.NewSchedulerPolicy(policyName(tp))
	if err != nil {
		return err
	}
	levels := slices.Clone(classes)
	slices.SortStableFunc(levels, func(a, b *offload.ClassPlan) int { return cmp.Compare(b.Priority, a.Priority) })
	var seq uint32
	newSched := func() *oc.Qos_SchedulerPolicy_Scheduler {
		s := pol.GetOrCreateScheduler(seq)
		seq++
		return s
	}
	addInput := func(s *oc.Qos_SchedulerPolicy_Scheduler, c *offload.ClassPlan) error {
		if sc.MaxWeight > 0 && c.Weight > sc.MaxWeight {
			return fmt.Errorf("class %q: weight %d is above the switch's maximum %d", c.Name, c.Weight, sc.MaxWeight)
		}
		in := s.GetOrCreateInput(queueName(tp, c))
		in.InputType = oc.OpenconfigQos_Input_InputType_QUEUE
		in.Queue = ygot.String(queueName(tp, c))
		if c.Weight > 0 {
			in.Weight = ygot.Uint64(uint64(c.Weight))
		}
		return nil
	}
	for i := 0; i < len(levels); {
		j := i
		for j < len(levels) && levels[j].Priority == levels[i].Priority {
			j++
		}
		level := levels[i:j]
		var shared *oc.Qos_SchedulerPolicy_Scheduler
		for _, c := range level {
			var s *oc.Qos_SchedulerPolicy_Scheduler
			if c.Rate > 0 {
				meters[seq] = c.Name
				s = newSched()
				if err := buildMeter(s, sc, c); err != nil {
					return fmt.Errorf("class %q: %w", c.Name, err)
				}
			} else {
				if shared == nil {
					shared = newSched()
				}
				s = shared
			}
			if len(level) == 1 {
				s.Priority = oc.OpenconfigQos_Scheduler_Priority_STRICT
			}
			if err := addInput(s, c); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// buildMeter sets a class's shaper or policer on its scheduler. The plan's
// Scheduler field ("one-rate-two-color", "two-rate-three-color") picks the
// kind; a plan without it (hand-built) gets a two-rate-three-color policer
// when it has a peak, the switch has one and the class does not shape,
// else a one-rate-two-color one.
func buildMeter(s *oc.Qos_SchedulerPolicy_Scheduler, sc *offload.SwitchCaps, c *offload.ClassPlan) error {
	if c.Bucket > math.MaxUint32 {
		return fmt.Errorf("bucket %d bytes does not fit openconfig bc (uint32)", c.Bucket)
	}
	var bc *uint32
	if c.Bucket > 0 {
		bc = ygot.Uint32(uint32(c.Bucket))
	}
	cir := ygot.Uint64(uint64(c.Rate))
	kind := c.Scheduler
	if kind == "" {
		kind = oneRate
		if c.Peak > 0 && sc.TwoRateThreeColor && c.NonConforming != model.Shape {
			kind = twoRate
		}
	}
	// What exceeding traffic gets: shape -> queued (SHAPE), discard ->
	// dropped, borrow -> remarked to the non-conforming marking where the
	// switch can remark (else passed unmarked, as the compiler notes).
	var drop *bool
	var dscp, dot1p *uint8
	switch c.NonConforming {
	case model.Shape:
	case model.Discard:
		drop = ygot.Bool(true)
	case model.Borrow:
		if hasRemark(sc, "set-dscp") {
			dscp = ygot.Uint8(c.MarkNonConforming.DSCP)
		}
		if hasRemark(sc, "set-dot1p") {
			dot1p = ygot.Uint8(c.MarkNonConforming.PCP)
		}
	default:
		return fmt.Errorf("unknown non-conforming mode %q", c.NonConforming)
	}
	switch kind {
	case oneRate:
		if !sc.OneRateTwoColor {
			return fmt.Errorf("rate %d bit/s needs a one-rate-two-color scheduler, which the switch profile lacks", c.Rate)
		}
		s.Type = oc.OpenconfigQosTypes_QOS_SCHEDULER_TYPE_ONE_RATE_TWO_COLOR
		m := s.GetOrCreateOneRateTwoColor()
		m.Cir, m.Bc = cir, bc
		if c.NonConforming == model.Shape {
			m.QueuingBehavior = oc.OpenconfigQos_QueueBehavior_SHAPE
			return nil
		}
		m.QueuingBehavior = oc.OpenconfigQos_QueueBehavior_POLICE
		if drop != nil || dscp != nil || dot1p != nil {
			ex := m.GetOrCreateExceedAction()
			ex.Drop, ex.SetDscp, ex.SetDot1P = drop, dscp, dot1p
		}
	case twoRate:
		if !sc.TwoRateThreeColor {
			return fmt.Errorf("rate %d bit/s needs a two-rate-three-color policer, which the switch profile lacks", c.Rate)
		}
		if c.Peak < c.Rate {
			return fmt.Errorf("peak %d bit/s is below the rate %d bit/s", c.Peak, c.Rate)
		}
		s.Type = oc.OpenconfigQosTypes_QOS_SCHEDULER_TYPE_TWO_RATE_THREE_COLOR
		m := s.GetOrCreateTwoRateThreeColor()
		m.Cir, m.Pir, m.Bc, m.Be = cir, ygot.Uint64(uint64(c.Peak)), bc, bc
		if drop != nil || dscp != nil || dot1p != nil {
			ex := m.GetOrCreateExceedAction()
			ex.Drop, ex.SetDscp, ex.SetDot1P = drop, dscp, dot1p
		}
		// Above the peak: dropped in every mode.
		m.GetOrCreateViolateAction().Drop = ygot.Bool(true)
	default:
		return fmt.Errorf("unknown scheduler kind %q", kind)
	}
	return nil
}

// Scheduler kinds of offload.ClassPlan.Scheduler.
const (
	oneRate = "one-rate-two-color"
	twoRate = "two-rate-three-color"
)

// protoUnion is a protocol value for either family's protocol leaf.
type protoUnion interface {
	oc.Qos_Classifier_Term_Conditions_Ipv4_Protocol_Union
	oc.Qos_Classifier_Term_Conditions_Ipv6_Protocol_Union
}
