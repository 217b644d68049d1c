package offload

import "slices"

// OpKind is what an operation does.
type OpKind string

// Operation kinds.
const (
	Add    OpKind = "add"
	Change OpKind = "change"
	Delete OpKind = "delete"
)

// Object is the kind of thing an operation acts on.
type Object string

// Objects, in the order their adds are applied.
const (
	ObjQueues Object = "queues" // the QueueLayout (mqprio)
	// ObjHTB is the offloaded HTB tree (HTBPlan). A device holds it or an
	// mqprio, never both: its delete comes before the queues' op, its add
	// or change after.
	ObjHTB   Object = "htb"
	ObjDCB   Object = "dcb"
	ObjRoCE  Object = "roce"
	ObjPacer Object = "pacer"
	ObjClass Object = "class"
	ObjRule  Object = "rule"
	// ObjVFGroup is a rate group of the PF's VFs (devlink rate node);
	// ObjVF one VF's QoS (SR-IOV).
	ObjVFGroup Object = "vf-group"
	ObjVF      Object = "vf"
)

// Op is one operation of a diff. For Add and Change, New holds the wanted
// object; for Change and Delete, Old holds the current one. Exactly one of
// the typed pointers pairs is set, matching Object.
type Op struct {
	Kind   OpKind `json:"op"`
	Object Object `json:"object"`
	ID     string `json:"id"`

	OldRule, NewRule       *Rule        `json:"-"`
	OldClass, NewClass     *ClassPlan   `json:"-"`
	OldQueues, NewQueues   *QueueLayout `json:"-"`
	OldHTB, NewHTB         *HTBPlan     `json:"-"`
	OldDCB, NewDCB         *DCB         `json:"-"`
	OldRoCE, NewRoCE       *RoCE        `json:"-"`
	OldPacer, NewPacer     *PacerPlan   `json:"-"`
	OldVF, NewVF           *VFPlan      `json:"-"`
	OldVFGroup, NewVFGroup *VFGroupPlan `json:"-"`
	// SRIOVMode is the SR-IOV mode of a VF or group op: the wanted one,
	// the current one for a delete.
	SRIOVMode string `json:"sriov_mode,omitempty"`
}

// Diff returns the operations that take a device from current to want, in
// the order a driver applies them: rules that go or change are deleted
// first (least specific first), then classes that go, then the queue layout
// (an HTB tree that goes before it, one that comes or changes after it),
// DCB, RoCE and pacer settings, then classes that come or change, then
// changed and new rules (most specific first, so that a packet never meets a
// less specific rule before its more specific one exists). Objects are
// compared by Fingerprint; equal plans give no operations. A nil current is
// an empty device. Rules placed on sockets are not the device's (the host's
// socket marker holds them) and give no operations.
func Diff(current, want *TargetPlan) []Op {
	if current == nil {
		current = &TargetPlan{}
	}
	if want == nil {
		want = &TargetPlan{}
	}
	var ops []Op

	curList, wantList := deviceRules(current.Rules), deviceRules(want.Rules)
	curRules := indexRules(curList)
	wantRules := indexRules(wantList)
	// Rule deletes and the delete half of rule changes, least specific first.
	for i := len(curList) - 1; i >= 0; i-- {
		r := &curList[i]
		if w, ok := wantRules[r.ID]; !ok {
			ops = append(ops, Op{Kind: Delete, Object: ObjRule, ID: r.ID, OldRule: r})
		} else if !ruleEqual(r, w) {
			ops = append(ops, Op{Kind: Change, Object: ObjRule, ID: r.ID, OldRule: r, NewRule: w})
		}
	}
	// Changes are applied after the layout they may depend on: move them.
	var changes []Op
	ops = slices.DeleteFunc(ops, func(o Op) bool {
		if o.Kind == Change {
			changes = append(changes, o)
			return true
		}
		return false
	})
	slices.Reverse(changes)

	curClasses := indexClasses(current.Classes)
	wantClasses := indexClasses(want.Classes)
	for i := range current.Classes {
		c := &current.Classes[i]
		if _, ok := wantClasses[c.Name]; !ok {
			ops = append(ops, Op{Kind: Delete, Object: ObjClass, ID: c.Name, OldClass: c})
		}
	}
	setHTB := func(o *Op, a, b *HTBPlan) { o.OldHTB, o.NewHTB = a, b }
	if want.HTB == nil {
		ops = appendSingle(ops, ObjHTB, "htb", current.HTB, nil, setHTB)
	}
	ops = appendSingle(ops, ObjQueues, "queues", current.Queues, want.Queues, func(o *Op, a, b *QueueLayout) { o.OldQueues, o.NewQueues = a, b })
	if want.HTB != nil {
		ops = appendSingle(ops, ObjHTB, "htb", current.HTB, want.HTB, setHTB)
	}
	ops = appendSingle(ops, ObjDCB, "dcb", current.DCB, want.DCB, func(o *Op, a, b *DCB) { o.OldDCB, o.NewDCB = a, b })
	ops = appendSingle(ops, ObjRoCE, "roce", firstRoCE(current.RoCE), firstRoCE(want.RoCE), func(o *Op, a, b *RoCE) { o.OldRoCE, o.NewRoCE = a, b })
	ops = appendSingle(ops, ObjPacer, "pacer", current.Pacer, want.Pacer, func(o *Op, a, b *PacerPlan) { o.OldPacer, o.NewPacer = a, b })
	ops = diffSRIOV(ops, current.SRIOV, want.SRIOV)
	for i := range want.Classes {
		w := &want.Classes[i]
		if c, ok := curClasses[w.Name]; !ok {
			ops = append(ops, Op{Kind: Add, Object: ObjClass, ID: w.Name, NewClass: w})
		} else if Fingerprint(c) != Fingerprint(w) {
			ops = append(ops, Op{Kind: Change, Object: ObjClass, ID: w.Name, OldClass: c, NewClass: w})
		}
	}
	ops = append(ops, changes...)
	for i := range wantList {
		w := &wantList[i]
		if _, ok := curRules[w.ID]; !ok {
			ops = append(ops, Op{Kind: Add, Object: ObjRule, ID: w.ID, NewRule: w})
		}
	}
	return ops
}

// deviceRules is rs without the rules placed on sockets.
func deviceRules(rs []Rule) []Rule {
	if !slices.ContainsFunc(rs, func(r Rule) bool { return r.Where.Placement == Socket }) {
		return rs
	}
	return slices.DeleteFunc(slices.Clone(rs), func(r Rule) bool { return r.Where.Placement == Socket })
}

// ruleEqual compares a current rule with a wanted one: by the fingerprint
// the driver read back when it has one, else by content.
func ruleEqual(cur, want *Rule) bool {
	if cur.Stored != "" {
		return cur.Stored == RuleFingerprint(want)
	}
	return cur.Equal(want)
}

func indexRules(rs []Rule) map[string]*Rule {
	m := make(map[string]*Rule, len(rs))
	for i := range rs {
		m[rs[i].ID] = &rs[i]
	}
	return m
}

func indexClasses(cs []ClassPlan) map[string]*ClassPlan {
	m := make(map[string]*ClassPlan, len(cs))
	for i := range cs {
		m[cs[i].Name] = &cs[i]
	}
	return m
}

func firstRoCE(r []RoCE) *RoCE {
	if len(r) == 0 {
		return nil
	}
	return &r[0]
}

// appendSingle diffs an object of which a target has at most one.
func appendSingle[T any](ops []Op, obj Object, id string, cur, want *T, set func(*Op, *T, *T)) []Op {
	var o Op
	switch {
	case cur == nil && want == nil:
		return ops
	case cur == nil:
		o = Op{Kind: Add, Object: obj, ID: id}
	case want == nil:
		o = Op{Kind: Delete, Object: obj, ID: id}
	case Fingerprint(cur) == Fingerprint(want):
		return ops
	default:
		o = Op{Kind: Change, Object: obj, ID: id}
	}
	set(&o, cur, want)
	return append(ops, o)
}
