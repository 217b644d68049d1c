package offload

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/qosplane/qosplane/model"
)

// compileSwitch plans an openconfig-qos switch: one output queue and
// forwarding group per class, one classifier per address family with a term
// per flow, and what the switch's profile cannot express marked unsupported
// with the reason.
func (cc *compiler) compileSwitch() {
	tp, sc := cc.tp, cc.caps.Switch
	tp.Switch = sc
	sorted := slices.Clone(cc.classes)
	slices.SortStableFunc(sorted, func(a, b *model.Class) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	queueID := make(map[string]int, len(sorted))
	for i, cl := range sorted {
		queueID[cl.Name] = i
	}
	for _, cl := range cc.classes {
		cp := cc.classPlan(cl)
		cp.Queue = tp.Owner + "--" + cl.Name
		if id := queueID[cl.Name]; id < sc.Queues {
			if sc.QueueID {
				cp.QueueID = uint8(id)
			}
			cc.switchScheduler(&cp)
		} else {
			cp.Where = Where{Placement: Unsupported, Reason: fmt.Sprintf("%s has %d output queues for %d classes", cc.caps.Profile, sc.Queues, len(sorted))}
		}
		tp.Classes = append(tp.Classes, cp)
	}
	if sc.MaxWeight > 0 {
		for i := range tp.Classes {
			if w := tp.Classes[i].Weight; w > sc.MaxWeight {
				cc.notef("class %s: weight %d above %s's limit %d, capped", tp.Classes[i].Name, w, cc.caps.Profile, sc.MaxWeight)
				tp.Classes[i].Weight = sc.MaxWeight
			}
		}
	}
	for _, f := range cc.flows {
		cc.switchRules(f)
	}
}

// switchScheduler picks how the switch enforces a class's rate.
func (cc *compiler) switchScheduler(cp *ClassPlan) {
	sc, prof := cc.caps.Switch, cc.caps.Profile
	if cp.Rate == 0 {
		return
	}
	switch {
	case cp.NonConforming == model.Discard && cp.Peak != 0 && sc.TwoRateThreeColor:
		cp.Scheduler = "two-rate-three-color"
	case sc.OneRateTwoColor:
		cp.Scheduler = "one-rate-two-color"
		if cp.Peak != 0 {
			cc.notef("class %s: %s enforces one rate here; peak %v is not enforced", cp.Name, prof, cp.Peak)
		}
		if cp.NonConforming == model.Borrow && !slices.Contains(sc.Remark, "set-dscp") {
			cc.notef("class %s: %s cannot remark exceeding traffic; borrow sends it unmarked", cp.Name, prof)
		}
	default:
		cp.Where = Where{Placement: Unsupported, Reason: fmt.Sprintf("%s has no shapers or policers: rate %v is not enforced", prof, cp.Rate)}
	}
}

// switchRules plans the classifier terms of one flow: one per address
// family it can match.
func (cc *compiler) switchRules(f *model.Flow) {
	tp, sc, prof := cc.tp, cc.caps.Switch, cc.caps.Profile
	cp := &tp.Classes[cc.classIndex(f.Class)]
	fams := []int{4, 6}
	if fam := f.Match.Family(); fam != 0 {
		fams = []int{fam}
	}
	var unsupported []string
	m := &f.Match
	if m.VLAN != 0 {
		unsupported = append(unsupported, "openconfig-qos has no VLAN condition")
	}
	if m.Interface != "" {
		unsupported = append(unsupported, "openconfig-qos classifiers have no interface condition")
	}
	for _, field := range matchFields(m) {
		if field == "vlan" || field == "interface" {
			continue
		}
		if !slices.Contains(sc.Conditions, field) {
			unsupported = append(unsupported, fmt.Sprintf("%s cannot classify on %s", prof, field))
		}
	}
	if cp.Where.Placement == Unsupported {
		unsupported = append(unsupported, "class "+cp.Name+": "+cp.Where.Reason)
	}
	if f.Police != nil {
		cc.notef("flow %s: openconfig-qos classifier terms have no policer; its police %v is not applied on %s", f.Name, f.Police.Rate, tp.Target)
	}
	dscp, pcp := flowMarks(f, cp)
	acts := []Action{{Kind: SetClass}}
	if slices.Contains(sc.Remark, "set-dscp") {
		acts = append(acts, Action{Kind: SetDSCP, DSCP: dscp})
	} else if f.Remark.DSCP != nil {
		cc.notef("flow %s: %s cannot remark DSCP; remark %d is not applied", f.Name, prof, dscp)
	}
	if slices.Contains(sc.Remark, "set-dot1p") {
		acts = append(acts, Action{Kind: SetPCP, PCP: pcp})
	} else if f.Remark.PCP != nil {
		cc.notef("flow %s: %s cannot set 802.1p; remark %d is not applied", f.Name, prof, pcp)
	}
	for _, fam := range fams {
		dev := fmt.Sprintf("%s--ipv%d", tp.Owner, fam)
		r := Rule{ID: ruleID(f.Name, OnClassifier, dev), Flow: f.Name, Class: f.Class, Direction: OnClassifier,
			Device: dev, Precedence: precedence(m), Match: *m, Actions: slices.Clone(acts), Where: Where{Placement: Hardware}}
		if len(unsupported) > 0 {
			r.Where = Where{Placement: Unsupported, Reason: "unsupported on this switch: " + strings.Join(unsupported, "; ")}
		}
		tp.Rules = append(tp.Rules, r)
	}
}
