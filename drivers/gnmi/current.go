package gnmi

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/openconfig/ygot/ygot"

	"github.com/qosplane/qosplane/drivers/gnmi/oc"
	"github.com/qosplane/qosplane/offload"
)

// driftReason marks a plan item whose units differ on the device, so that
// its fingerprint differs from the compiled one and a diff asks to change
// it.
const driftReason = "differs on the device"

// Current reads the device's /qos and reports it against the reference
// plan: a class is present when its queue, forwarding group and the
// scheduler policy are; a rule when its term is. Items whose units differ
// from what the plan renders carry Where.Reason "differs on the device";
// owned units the plan does not explain appear as extra classes or rules
// named after their path, placed unsupported, so that a diff deletes them.
// Unsupported items of the plan are reported as they are.
func (d *Driver) Current(ctx context.Context) (*offload.TargetPlan, error) {
	ref := d.plan
	t, err := BuildTree(ref)
	if err != nil {
		return nil, err
	}
	qos, err := d.rd.readQos(ctx)
	if err != nil {
		return nil, fmt.Errorf("target %q: read /qos: %w", ref.Target, err)
	}
	cur := &offload.TargetPlan{
		Target: ref.Target, Kind: ref.Kind, Owner: ref.Owner, Profile: ref.Profile,
		Device: ref.Device, Capacity: ref.Capacity,
	}
	want := t.Root.Qos
	_, policyOK := sameUnit(qos.SchedulerPolicy[policyName(ref)], want.SchedulerPolicy[policyName(ref)])
	for _, c := range ref.Classes {
		if c.Where.Placement == offload.Unsupported {
			cur.Classes = append(cur.Classes, c)
			continue
		}
		qn, gn := queueName(ref, &c), groupName(ref, c.Name)
		qp, qe := sameUnit(qos.Queue[qn], want.Queue[qn])
		gp, ge := sameUnit(qos.ForwardingGroup[gn], want.ForwardingGroup[gn])
		if !qp || !gp {
			continue
		}
		if !qe || !ge || !policyOK {
			c.Where.Reason = driftReason
		}
		cur.Classes = append(cur.Classes, c)
	}
	for _, r := range ref.Rules {
		if r.Where.Placement == offload.Unsupported {
			cur.Rules = append(cur.Rules, r)
			continue
		}
		id := termID(&r)
		cl := qos.Classifier[r.Device]
		if cl == nil || cl.Term[id] == nil {
			continue
		}
		_, e := sameUnit(cl.Term[id], want.Classifier[r.Device].Term[id])
		if !e || cl.Type != want.Classifier[r.Device].Type {
			r.Where.Reason = driftReason
		}
		cur.Rules = append(cur.Rules, r)
	}
	// Owned units the plan does not explain.
	extra := func(kind, name string) string { return "device:" + kind + "/" + name }
	for _, name := range slices.Sorted(maps.Keys(qos.Queue)) {
		if owned(ref.Owner, name) && want.Queue[name] == nil {
			cur.Classes = append(cur.Classes, offload.ClassPlan{Name: extra("queue", name), Queue: name, Where: offload.Where{Placement: offload.Unsupported, Reason: "owned but not in the plan"}})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(qos.Classifier)) {
		if !owned(ref.Owner, name) {
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(qos.Classifier[name].Term)) {
			if w := want.Classifier[name]; w == nil || w.Term[id] == nil {
				cur.Rules = append(cur.Rules, offload.Rule{ID: extra("term", name+"/"+id), Direction: offload.OnClassifier, Device: name, Where: offload.Where{Placement: offload.Unsupported, Reason: "owned but not in the plan"}})
			}
		}
	}
	// Interface bindings that drifted make every class differ.
	if !bindingsEqual(qos, want, ref.Owner) {
		for i := range cur.Classes {
			if cur.Classes[i].Where.Placement != offload.Unsupported && !strings.HasPrefix(cur.Classes[i].Name, "device:") {
				cur.Classes[i].Where.Reason = driftReason
			}
		}
	}
	return cur, nil
}

// bindingsEqual compares the owned interface binding units of two trees.
func bindingsEqual(cur, want *oc.Qos, owner string) bool {
	pick := func(q *oc.Qos) map[string]subtree {
		m := ownedSubtrees(q, owner)
		maps.DeleteFunc(m, func(k string, _ subtree) bool { return !strings.HasPrefix(k, "/qos/interfaces/") })
		return m
	}
	ch, err := diffSubtrees(pick(cur), pick(want))
	return err == nil && ch.empty()
}

// sameUnit reports whether the device unit cur exists and whether it
// equals the wanted unit want (nil pointers are absent units).
func sameUnit[T interface {
	comparable
	ygot.GoStruct
}](cur, want T) (present, equal bool) {
	var zero T
	if cur == zero {
		return false, false
	}
	if want == zero {
		return true, false
	}
	cj, err1 := canonical(cur)
	wj, err2 := canonical(want)
	return true, err1 == nil && err2 == nil && cj == wj
}
