package offload

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/qosplane/qosplane/model"
)

// compileNIC plans a NIC with hardware queues: classes onto TCs of an
// mqprio channel-mode layout, flows into flower rules.
func (cc *compiler) compileNIC() {
	tp := cc.tp
	if use, why := cc.htbChoice(); use {
		cc.compileHTB(why)
		return
	} else if why != "" {
		cc.notef("%s", why)
	}
	groups := cc.assignTCs()
	for _, cl := range cc.classes {
		tp.Classes = append(tp.Classes, cc.classPlan(cl))
	}
	layout := &QueueLayout{NumTC: len(groups), Where: Where{Placement: Hardware}}
	counts := cc.tcQueueCounts(len(groups))
	var off uint16
	for i, g := range groups {
		n := counts[i]
		tc := TC{Index: i, Count: n, Offset: off}
		off += n
		for _, cl := range g {
			tc.Classes = append(tc.Classes, cl.Name)
			cp := &tp.Classes[cc.classIndex(cl.Name)]
			cp.TC, cp.SkbPriority = i, uint32(i)
		}
		cc.tcRates(&tc, g)
		layout.TCs = append(layout.TCs, tc)
	}
	// skb priority i selects TC i; every other priority goes to TC 0.
	for i := range layout.PrioTC {
		if i < len(groups) {
			layout.PrioTC[i] = uint8(i)
		}
	}
	cc.checkMinRates(layout)
	cc.checkMaxRateSum(layout)
	tp.Queues = layout
	for i := range tp.Classes {
		cc.placeClass(&tp.Classes[i])
	}
	cc.nicRules()
	cc.dcbAndRoCE()
}

// assignTCs groups the target's classes into at most TrafficClasses groups,
// lowest priority first (TC 0 is the lowest). With enough TCs every class has
// its own; otherwise classes of one priority level share, and if the levels
// still do not fit, the lowest levels are merged. Merges are noted.
func (cc *compiler) assignTCs() [][]*model.Class {
	sorted := slices.Clone(cc.classes)
	slices.SortStableFunc(sorted, func(a, b *model.Class) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	n := cc.caps.TrafficClasses
	if len(sorted) <= n {
		out := make([][]*model.Class, len(sorted))
		for i, cl := range sorted {
			out[i] = []*model.Class{cl}
		}
		return out
	}
	var levels [][]*model.Class
	for _, cl := range sorted {
		if k := len(levels); k > 0 && levels[k-1][0].Priority == cl.Priority {
			levels[k-1] = append(levels[k-1], cl)
		} else {
			levels = append(levels, []*model.Class{cl})
		}
	}
	for len(levels) > n {
		levels[1] = append(levels[0], levels[1]...)
		levels = levels[1:]
	}
	for i, g := range levels {
		if len(g) > 1 {
			names := make([]string, len(g))
			for j, cl := range g {
				names[j] = cl.Name
			}
			cc.notef("classes %s share TC %d: %s has %d traffic classes for %d classes; their rates are enforced together",
				strings.Join(names, ", "), i, cc.caps.Profile, n, len(cc.classes))
		}
	}
	return levels
}

// tcQueueCounts splits the channels among n TCs, the first ones taking
// the remainder. A device that lays out its queues itself (rings-per-tc)
// gives every TC all channels, or its cap for n TCs (TCQueuesMax); one whose TC 0 needs a power of two gets the
// largest that fits, the rest going to TC 1.
func (cc *compiler) tcQueueCounts(n int) []uint16 {
	c := cc.caps
	channels := max(c.Channels, n)
	counts := make([]uint16, n)
	if c.QueueLayout == "rings-per-tc" {
		per := channels
		if n <= len(c.TCQueuesMax) {
			per = min(per, c.TCQueuesMax[n-1])
		}
		for i := range counts {
			counts[i] = uint16(per)
		}
		cc.notef("%s lays out the transmit queues itself (mqprio is taken as a TC count): each TC gets %d queues, TC i from queue i × %d", c.Profile, per, per)
		return counts
	}
	per, extra := channels/n, channels%n
	for i := range counts {
		counts[i] = uint16(per)
		if i < extra {
			counts[i]++
		}
	}
	if c.TC0QueuesPow2 && counts[0]&(counts[0]-1) != 0 {
		p := uint16(1)
		for p*2 <= counts[0] {
			p *= 2
		}
		if n > 1 {
			counts[1] += counts[0] - p
			cc.notef("TC 0: %s needs a power of two queues there: %d (not %d), TC 1 takes the other %d", c.Profile, p, counts[0], counts[0]-p)
		} else {
			cc.notef("TC 0: %s needs a power of two queues there: %d of %d channels used", c.Profile, p, counts[0])
		}
		counts[0] = p
	}
	return counts
}

// checkMaxRateSum drops the TCs' max rates when together they exceed the
// link on a device that refuses that (i40e, cxgb4), and notes TCs without
// a max rate on a device that programs those as 0 (cxgb4).
func (cc *compiler) checkMaxRateSum(l *QueueLayout) {
	c := cc.caps
	if c.MaxRateSumLink {
		limit, sum := cc.linkLimit(), model.Rate(0)
		for _, tc := range l.TCs {
			sum += tc.MaxRate
		}
		if limit != 0 && sum > limit {
			for i := range l.TCs {
				l.TCs[i].MaxRate = 0
			}
			cc.notef("max rates sum to %v, above the link %v, which %s refuses: no TC gets a max rate; the classes' rates are not enforced in hardware", sum, limit, c.Profile)
		}
	}
	if c.MaxRateUnsetIsZero && c.MaxRate {
		var unset []string
		for _, tc := range l.TCs {
			if tc.MaxRate == 0 {
				unset = append(unset, fmt.Sprint(tc.Index))
			}
		}
		if len(unset) > 0 {
			which := "TC " + unset[0] + " has"
			if len(unset) > 1 {
				which = "TCs " + strings.Join(unset, ", ") + " have"
			}
			cc.notef("%s no max rate: %s programs a TC without one with a max rate of 0, not unlimited (give its classes a rate or a peak)", which, c.Profile)
		}
	}
}

// ceiling is the most rate a class may use on a TC shaper: its rate when
// shaped, its peak (or the link) when it may borrow or is policed.
func ceiling(c *model.Class) model.Rate {
	if c.Rate == 0 {
		return 0
	}
	if c.NonConforming == model.Shape {
		return c.Rate
	}
	return c.Peak
}

// tcRates sets a TC's shaper rates from its classes, rounded to the device's
// granularity and limits, noting every rounding.
func (cc *compiler) tcRates(tc *TC, g []*model.Class) {
	var maxR, minR model.Rate
	unlimited := false
	for _, cl := range g {
		if r := ceiling(cl); r == 0 {
			unlimited = true
		} else {
			maxR += r
		}
		minR += cl.Rate
	}
	if unlimited {
		maxR = 0
	}
	if !cc.caps.MaxRate && maxR != 0 {
		cc.notef("TC %d: %s has no per-TC max rate; %v is not enforced in hardware", tc.Index, cc.caps.Profile, maxR)
		maxR = 0
	}
	if !cc.caps.MinRate {
		minR = 0
	}
	// The shaper may not exceed the device's per-TC limit, the policy's
	// capacity or the probed link speed, whichever is known and lowest.
	var limit model.Rate
	for _, l := range []model.Rate{cc.caps.MaxTCRate, cc.tp.Capacity, cc.caps.LinkSpeed} {
		if l != 0 && (limit == 0 || l < limit) {
			limit = l
		}
	}
	tc.MaxRate = cc.roundRate(tc.Index, "max", maxR, limit)
	tc.MinRate = cc.roundRate(tc.Index, "min", minR, limit)
}

func (cc *compiler) roundRate(tc int, which string, r, limit model.Rate) model.Rate {
	if r == 0 {
		return 0
	}
	out := roundTo(r, cc.caps.RateGranularity, limit)
	if out != r {
		cc.notef("TC %d: %s rate %v rounded to %v (%s granularity %v, limit %v)",
			tc, which, r, out, cc.caps.Profile, cc.caps.RateGranularity, limit)
	}
	return out
}

// checkMinRates drops min rates whose sum exceeds the link, which devices
// refuse; admission control already keeps reserved classes within it.
func (cc *compiler) checkMinRates(l *QueueLayout) {
	limit := cc.linkLimit()
	if limit == 0 {
		return
	}
	var sum model.Rate
	for _, tc := range l.TCs {
		sum += tc.MinRate
	}
	if sum > limit {
		for i := range l.TCs {
			l.TCs[i].MinRate = 0
		}
		cc.notef("min rates sum to %v, above the link %v: no TC gets a min rate", sum, limit)
	}
}

// linkLimit is the lower of the policy's capacity and the probed link
// speed, whichever are known; zero when neither is.
func (cc *compiler) linkLimit() model.Rate {
	var limit model.Rate
	for _, r := range []model.Rate{cc.tp.Capacity, cc.caps.LinkSpeed} {
		if r != 0 && (limit == 0 || r < limit) {
			limit = r
		}
	}
	return limit
}

// placeClass says where a class's treatment runs: the TC shaper is hardware;
// a policer (discard) or a demoting meter (borrow) runs where the egress rules
// run.
func (cc *compiler) placeClass(cp *ClassPlan) {
	if cp.Rate == 0 || cp.NonConforming == model.Shape {
		cp.Where = Where{Placement: Hardware}
		if cp.NonConforming == model.Shape && cp.Peak != 0 {
			shaper := "the TC shaper"
			if cc.tp.HTB != nil {
				shaper = "its HTB class (ceil = rate)"
			}
			cc.notef("class %s: %s is single-rate; peak %v is not enforced", cp.Name, shaper, cp.Peak)
		}
		return
	}
	need := []ActionKind{Police}
	if missing, ok := cc.caps.Offload[OnEgress].Has(nil, need); !ok {
		cp.Where = Where{Placement: Software, Reason: fmt.Sprintf("%s: its meter runs in the kernel's egress flower; %s cannot offload %s on egress",
			cp.NonConforming, cc.caps.Profile, missing)}
		return
	}
	cp.Where = Where{Placement: Hardware}
}

// nicRules plans the flower rules: egress classification, ingress steering,
// and representor rules in switchdev mode.
func (cc *compiler) nicRules() {
	tp, t, c := cc.tp, cc.t, cc.caps
	_, hasReps := c.Offload[OnRepresentor]
	if len(t.Representors) > 0 && !hasReps {
		cc.notef("target lists representors but profile %s offloads nothing on them (not switchdev): no representor rules", c.Profile)
	}
	hwCount := make(map[string]int)
	untagged := 0
	defer func() {
		if untagged > 0 {
			cc.notef("%d flows match no VLAN: their PCP is not rewritten on the NIC (tc vlan modify needs the VLAN id; match a vlan to rewrite PCP)", untagged)
		}
	}()
	for _, f := range cc.flows {
		cp := &tp.Classes[cc.classIndex(f.Class)]
		prec := precedence(&f.Match)
		if f.Direction.HasEgress() {
			r := Rule{ID: ruleID(f.Name, OnEgress, t.Interface), Flow: f.Name, Class: f.Class, Direction: OnEgress,
				Device: t.Interface, Precedence: prec, Match: f.Match}
			r.Actions = cc.egressActions(f, cp, f.Match.VLAN != 0)
			if f.Match.VLAN == 0 {
				untagged++
			}
			r.Where = cc.placeRule(OnEgress, &f.Match, r.Actions, hwCount, t.Interface)
			tp.Rules = append(tp.Rules, r)
		}
		if f.Direction.HasIngress() {
			r := Rule{ID: ruleID(f.Name, OnIngress, t.Interface), Flow: f.Name, Class: f.Class, Direction: OnIngress,
				Device: t.Interface, Precedence: prec, Match: f.Match,
				Actions: []Action{{Kind: SteerTC, TC: cp.TC}}}
			switch {
			case tp.HTB != nil:
				r.Actions = nil
				r.Where = Where{Placement: Unsupported, Reason: "offloaded HTB schedules transmitted traffic; receive steering (flower hw_tc) needs mqprio's TCs"}
			case cc.ntupleSteers():
				cc.placeNtuple(&r, cp)
			case cp.TC < c.MinHWTC:
				r.Where = Where{Placement: Unsupported, Reason: fmt.Sprintf("%s cannot steer to TC %d (hw_tc must be >= %d); received traffic lands there by default", c.Profile, cp.TC, c.MinHWTC)}
			default:
				r.Where = cc.placeRule(OnIngress, &f.Match, r.Actions, hwCount, t.Interface)
				if r.Where.Placement == Software {
					r.Where = Where{Placement: Unsupported, Reason: "receive steering into a TC exists only in hardware; " + r.Where.Reason}
				}
			}
			tp.Rules = append(tp.Rules, r)
		}
		if hasReps && f.Direction.HasEgress() {
			for _, rep := range t.Representors {
				r := Rule{ID: ruleID(f.Name, OnRepresentor, rep), Flow: f.Name, Class: f.Class, Direction: OnRepresentor,
					Device: rep, Precedence: prec, Match: f.Match}
				r.Actions = cc.egressActions(f, cp, f.Match.VLAN != 0)
				r.Where = cc.placeRule(OnRepresentor, &f.Match, r.Actions, hwCount, rep)
				tp.Rules = append(tp.Rules, r)
			}
		}
	}
}

// egressActions are a transmitted packet's actions: the class's meter (for
// discard and borrow), the flow's own policer, the skb priority that picks
// the TC, and the conforming marks. withPCP adds the PCP rewrite, which tc
// can do only for flows that match a VLAN id (vlan modify needs it).
func (cc *compiler) egressActions(f *model.Flow, cp *ClassPlan, withPCP bool) []Action {
	var acts []Action
	if cp.Rate != 0 && cp.NonConforming != model.Shape {
		meter := Action{Kind: Police, Rate: cp.Rate, Peak: cp.Peak, Burst: cp.Bucket, Shared: "class/" + cp.Name}
		if cp.EffectiveRate != 0 {
			meter.Rate = cp.EffectiveRate
		}
		if cp.NonConforming == model.Discard {
			meter.Exceed = &Exceed{Drop: true}
		} else {
			meter.Exceed = &Exceed{DSCP: cp.MarkNonConforming.DSCP, PCP: cp.MarkNonConforming.PCP, DemotePriority: 0}
		}
		acts = append(acts, meter)
	}
	if f.Police != nil {
		acts = append(acts, Action{Kind: Police, Rate: f.Police.Rate, Burst: f.Police.Burst, Exceed: &Exceed{Drop: true}})
	}
	dscp, pcp := flowMarks(f, cp)
	acts = append(acts, Action{Kind: SetPriority, Priority: cp.SkbPriority}, Action{Kind: SetDSCP, DSCP: dscp})
	if withPCP {
		acts = append(acts, Action{Kind: SetPCP, PCP: pcp})
	}
	return acts
}

// placeRule puts a rule in hardware when the direction offloads all its
// matches and actions and the device's rule table has room, else in the
// kernel's software path with the reason.
func (cc *compiler) placeRule(dir RuleDirection, m *model.Match, acts []Action, hwCount map[string]int, dev string) Where {
	c := cc.caps
	set, ok := c.Offload[dir]
	if !ok {
		return Where{Placement: Software, Reason: fmt.Sprintf("%s offloads no %s flower rules", c.Profile, dir)}
	}
	kinds := make([]ActionKind, 0, len(acts))
	for _, a := range acts {
		kinds = append(kinds, a.Kind)
		if a.Kind == Police && a.Peak != 0 {
			kinds = append(kinds, PolicePeak)
		}
	}
	if missing, ok := set.Has(matchFields(m), kinds); !ok {
		return Where{Placement: Software, Reason: fmt.Sprintf("%s cannot offload %s on %s", c.Profile, missing, dir)}
	}
	if why := set.Refuses(m); why != "" {
		return Where{Placement: Software, Reason: fmt.Sprintf("%s cannot offload %s on %s", c.Profile, why, dir)}
	}
	if c.MaxRules > 0 && hwCount[dev] >= c.MaxRules {
		return Where{Placement: Software, Reason: fmt.Sprintf("%s: hardware rule table of %s is full (%d rules)", c.Profile, dev, c.MaxRules)}
	}
	hwCount[dev]++
	return Where{Placement: Hardware}
}

// dcbAndRoCE plans DCB (only when a class asks for PFC or RoCE, since DCB
// ETS and mqprio channel mode both drive the same scheduler) and the RDMA
// default ToS.
func (cc *compiler) dcbAndRoCE() {
	tp, c := cc.tp, cc.caps
	needDCB := false
	for _, cp := range tp.Classes {
		needDCB = needDCB || cp.PFC || cp.RoCE
	}
	if !needDCB {
		return
	}
	if !c.DCB {
		cc.notef("profile %s has no DCB: PFC and the DSCP->priority table are not configured", c.Profile)
	} else {
		d := &DCB{}
		lowest := tp.Classes[0].Priority
		for _, cp := range tp.Classes {
			lowest = min(lowest, cp.Priority)
		}
		weights := make(map[int]uint32)
		strict := make(map[int]bool)
		for _, cp := range tp.Classes {
			if cp.TC > 7 {
				continue
			}
			d.PrioTC[cp.Mark.PCP] = uint8(cp.TC)
			if cp.Priority > lowest {
				strict[cp.TC] = true
			} else {
				weights[cp.TC] += cp.Weight
			}
			if cp.PFC && !slices.Contains(d.PFC, cp.Mark.PCP) {
				d.PFC = append(d.PFC, cp.Mark.PCP)
			}
			d.App = append(d.App, DSCPPrio{DSCP: cp.Mark.DSCP, Priority: cp.Mark.PCP})
		}
		var total uint32
		for tc, w := range weights {
			if !strict[tc] {
				total += w
			}
		}
		left := 100
		var ets []int
		for tc := range 8 {
			if strict[tc] {
				d.Strict = append(d.Strict, tc)
			} else if weights[tc] > 0 {
				ets = append(ets, tc)
			}
		}
		for i, tc := range ets {
			share := int(uint64(weights[tc]) * 100 / uint64(total))
			if i == len(ets)-1 {
				share = left
			}
			d.Bandwidth[tc] = uint8(share)
			left -= share
		}
		for _, tc := range tp.Queues.TCs {
			if tc.Index < 8 {
				d.MaxRate[tc.Index] = uint64(tc.MaxRate)
			}
		}
		slices.Sort(d.PFC)
		slices.SortFunc(d.App, func(a, b DSCPPrio) int { return cmp.Compare(a.DSCP, b.DSCP) })
		d.App = slices.CompactFunc(d.App, func(a, b DSCPPrio) bool { return a.DSCP == b.DSCP })
		tp.DCB = d
	}
	for _, cp := range tp.Classes {
		if !cp.RoCE {
			continue
		}
		if !c.RoCE {
			cc.notef("class %s: profile %s has no RDMA function; its RoCE default ToS is not set", cp.Name, c.Profile)
			continue
		}
		tp.RoCE = append(tp.RoCE, RoCE{Class: cp.Name, TOS: cp.Mark.DSCP << 2})
	}
	if len(tp.RoCE) > 1 {
		cc.notef("several RoCE classes: the RDMA device has one default ToS; %s's is used", tp.RoCE[0].Class)
		tp.RoCE = tp.RoCE[:1]
	}
}
