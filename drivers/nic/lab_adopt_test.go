package nic

import (
	"os"
	"testing"

	"github.com/qosplane/qosplane/offload"
)

// TestLabAdoptWithoutState: with the state file lost, a new driver given
// the plan (Reference) finds the rules on the device by their identity —
// the action cookie, or for the cookie-less hw_tc steering rule its
// ruleHandle — and the root mqprio by its layout; Current reports them
// with their fingerprints and a re-apply makes no netlink writes.
func TestLabAdoptWithoutState(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	ctx := t.Context()
	owner := "qosplane-adopt"
	dir := t.TempDir()
	d := labDriver(t, dev, owner, dir)
	removeAll(t, d)
	want := handPlan(dev, owner)
	converge(t, d, want)
	steer := d.st.Rules["voice-in/ingress/"+dev]
	if steer == nil || len(steer.Filters) != 1 || steer.Filters[0].Handle != ruleHandle(owner, steer.Fingerprint, steer.Filters[0].Family) {
		t.Fatalf("steering rule state %+v: want its filter at the rule's own handle", steer)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	d2 := labDriver(t, dev, owner, dir)
	removeAll(t, d2)
	d2.Reference(want)
	cur, err := d2.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Rules) != len(want.Rules) {
		t.Fatalf("Current without the state file reports %d rules, want %d", len(cur.Rules), len(want.Rules))
	}
	for i := range want.Rules {
		r := &want.Rules[i]
		found := false
		for _, c := range cur.Rules {
			if c.ID == r.ID {
				found = true
				if c.Stored != offload.RuleFingerprint(r) {
					t.Fatalf("rule %s: fingerprint %q, want %q", r.ID, c.Stored, offload.RuleFingerprint(r))
				}
			}
		}
		if !found {
			t.Fatalf("rule %s not reported", r.ID)
		}
	}
	if cur.Queues == nil {
		t.Fatal("the root mqprio was not recognised")
	}
	ops := offload.Diff(cur, want)
	for _, op := range ops {
		if op.Object != offload.ObjClass {
			t.Fatalf("op %s %s %q after losing the state file; only classes (recorded, not installed) may differ", op.Kind, op.Object, op.ID)
		}
	}
	before := d2.Writes()
	if err := d2.Apply(ctx, want, ops); err != nil {
		t.Fatal(err)
	}
	if w := d2.Writes() - before; w != 0 {
		t.Fatalf("re-apply made %d writes", w)
	}
	if !fileExists(d2.path) {
		t.Fatal("the re-apply wrote no state file")
	}
	assertConverged(t, d2, want)
}
