package gnmi_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/ygot/ygot"

	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/drivers/gnmi/oc"
	"github.com/qosplane/qosplane/offload"
)

func qp(elems ...*gpb.PathElem) *gpb.Path {
	return &gpb.Path{Elem: append([]*gpb.PathElem{{Name: "qos"}}, elems...)}
}

func el(name string, kv ...string) *gpb.PathElem {
	e := &gpb.PathElem{Name: name}
	if len(kv) == 2 {
		e.Key = map[string]string{kv[0]: kv[1]}
	}
	return e
}

func jsonVal(t testing.TB, s ygot.GoStruct) *gpb.TypedValue {
	t.Helper()
	v, err := ygot.EncodeTypedValue(s, gpb.Encoding_JSON_IETF)
	mustf(t, err, "encode")
	return v
}

// TestInvalidRefused: a request with a term pointing at a missing
// forwarding group (a dangling leafref) is refused by the target and
// leaves it unchanged; an invalid plan is refused by the driver before
// anything is sent.
func TestInvalidRefused(t *testing.T) {
	tg, _, d, ctx := labApplied(t)
	c := tg.client(t)
	before := dump(t, c)

	// A dangling leafref, sent as a raw SetRequest (the driver would not
	// build it) together with a valid change: all or nothing.
	cl := &oc.Qos_Classifier{Name: ygot.String("qosplane-lab--ipv4"), Type: oc.OpenconfigQos_Qos_Classifier_Type_IPV4}
	term, _ := cl.NewTerm("00001-bad")
	term.GetOrCreateActions().TargetGroup = ygot.String("qosplane-lab--missing")
	q := &oc.Qos_Queue{Name: ygot.String("qosplane-lab--new")}
	_, err := c.Set(ctx, &gpb.SetRequest{Prefix: &gpb.Path{Origin: "openconfig"}, Replace: []*gpb.Update{
		{Path: qp(el("queues"), el("queue", "name", "qosplane-lab--new")), Val: jsonVal(t, q)},
		{Path: qp(el("classifiers"), el("classifier", "name", "qosplane-lab--ipv4")), Val: jsonVal(t, cl)},
	}})
	if err == nil {
		t.Fatal("target accepted a term whose target-group names no forwarding group")
	}
	t.Logf("target refused: %v", err)
	if after := dump(t, c); !maps.Equal(before, after) {
		t.Fatalf("refused request changed the target: %d -> %d leaves", len(before), len(after))
	}

	// An invalid plan: refused locally, nothing sent.
	sets := tg.sets.Load()
	bad := labPlan("leaf1", tg.addr, testPKI(t).caFile)
	bad.Rules[0].Actions[1].DSCP = 64
	if _, err := d.Sync(ctx, bad); err == nil || !strings.Contains(err.Error(), "0-63") {
		t.Fatalf("set-dscp 64: err = %v", err)
	}
	bad = labPlan("leaf1", tg.addr, testPKI(t).caFile)
	bad.Rules[1].Class = "nope"
	if _, err := d.Sync(ctx, bad); err == nil {
		t.Fatal("rule with unknown class accepted")
	}
	if tg.sets.Load() != sets {
		t.Fatalf("invalid plans sent %d Sets", tg.sets.Load()-sets)
	}
	if after := dump(t, c); !maps.Equal(before, after) {
		t.Fatal("invalid plans changed the target")
	}
}

// TestDriftRepaired: changes another client makes to owned configuration
// are reported by Current and undone by one Set; foreign additions stay.
func TestDriftRepaired(t *testing.T) {
	tg, tp, d, ctx := labApplied(t)
	c := tg.client(t)
	applied := dump(t, c)

	// Another client: changes the voice shaper's rate, deletes a term,
	// adds an owned-looking queue, and adds a foreign queue.
	_, err := c.Set(ctx, &gpb.SetRequest{Prefix: &gpb.Path{Origin: "openconfig"},
		Delete: []*gpb.Path{qp(el("classifiers"), el("classifier", "name", "qosplane-lab--ipv4"), el("terms"), el("term", "id", "00030-ef"))},
		Update: []*gpb.Update{
			{Path: qp(el("scheduler-policies"), el("scheduler-policy", "name", "qosplane-lab"), el("schedulers"), el("scheduler", "sequence", "0"),
				el("one-rate-two-color"), el("config"), el("cir")), Val: &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: 999}}},
			{Path: qp(el("queues"), el("queue", "name", "qosplane-lab--stale")), Val: jsonVal(t, &oc.Qos_Queue{Name: ygot.String("qosplane-lab--stale")})},
			{Path: qp(el("queues"), el("queue", "name", "ops-q")), Val: jsonVal(t, &oc.Qos_Queue{Name: ygot.String("ops-q")})},
		}})
	mustf(t, err, "inject drift")

	cur, err := d.Current(ctx)
	mustf(t, err, "current")
	var drifted, extra, missingRule int
	for _, cl := range cur.Classes {
		if cl.Where.Reason == "differs on the device" {
			drifted++
		}
		if strings.HasPrefix(cl.Name, "device:") {
			extra++
		}
	}
	missingRule = len(tp.Rules) - len(slices.DeleteFunc(slices.Clone(cur.Rules), func(r offload.Rule) bool { return strings.HasPrefix(r.ID, "device:") }))
	if drifted != len(tp.Classes) || extra != 1 || missingRule != 1 {
		t.Fatalf("current: drifted=%d extra=%d missing rules=%d, want %d/1/1", drifted, extra, missingRule, len(tp.Classes))
	}

	// The generic driver flow: Diff(Current, want) -> Apply.
	ops := offload.Diff(cur, tp)
	if len(ops) == 0 {
		t.Fatal("Diff of the drifted device against the plan is empty")
	}
	t.Logf("diff: %d ops", len(ops))
	sets := tg.sets.Load()
	mustf(t, d.Apply(ctx, tp, ops), "repair")
	if tg.sets.Load() != sets+1 {
		t.Fatalf("repair sent %d Sets, want 1", tg.sets.Load()-sets)
	}
	cur, err = d.Current(ctx)
	mustf(t, err, "current after repair")
	if ops := offload.Diff(cur, tp); len(ops) != 0 {
		t.Fatalf("after repair Diff still has %d ops: %+v", len(ops), ops[0])
	}
	got := dump(t, c)
	delete(got, "/qos/queues/queue[name=ops-q]/config/name")
	delete(got, "/qos/queues/queue[name=ops-q]/name")
	if !maps.Equal(got, applied) {
		for k, v := range got {
			if applied[k] != v {
				t.Errorf("after repair %s = %s, want %s", k, v, applied[k])
			}
		}
		for k := range applied {
			if _, ok := got[k]; !ok {
				t.Errorf("after repair %s missing", k)
			}
		}
	}
	if _, ok := dump(t, c)["/qos/queues/queue[name=ops-q]/config/name"]; !ok {
		t.Error("repair removed a foreign queue")
	}
	res, err := d.Sync(ctx, tp)
	mustf(t, err, "sync after repair")
	if res.Changed {
		t.Errorf("sync after repair changed %v", res.Paths)
	}
}

// TestRemoveOnlyOwned: Remove deletes exactly what qosplane owns; foreign
// configuration seeded before (another owner's classifier, queues,
// policy, and a foreign binding on one of our interfaces) stays.
func TestRemoveOnlyOwned(t *testing.T) {
	tg := startTarget(t, normal)
	c := tg.client(t)
	ctx := ctxT(t)

	seed := &oc.Device{}
	q := seed.GetOrCreateQos()
	q.GetOrCreateQueue("ops-be")
	q.GetOrCreateForwardingGroup("ops-be").OutputQueue = ygot.String("ops-be")
	mc := q.GetOrCreateClassifier("ops-mpls")
	mc.Type = oc.OpenconfigQos_Qos_Classifier_Type_MPLS
	mc.GetOrCreateTerm("1").GetOrCreateActions().TargetGroup = ygot.String("ops-be")
	sp := q.GetOrCreateSchedulerPolicy("ops")
	in := sp.GetOrCreateScheduler(0).GetOrCreateInput("ops-be")
	in.Queue, in.InputType = ygot.String("ops-be"), oc.OpenconfigQos_Input_InputType_QUEUE
	// A foreign binding on our interface, and a foreign interface.
	q.GetOrCreateInterface("Ethernet1").GetOrCreateInput().GetOrCreateClassifier(oc.OpenconfigQos_Input_Classifier_Type_MPLS).Name = ygot.String("ops-mpls")
	q.GetOrCreateInterface("Ethernet9").GetOrCreateOutput().GetOrCreateSchedulerPolicy().Name = ygot.String("ops")
	_, err := c.Set(ctx, &gpb.SetRequest{Prefix: &gpb.Path{Origin: "openconfig"},
		Update: []*gpb.Update{{Path: qp(), Val: jsonVal(t, q)}}})
	mustf(t, err, "seed foreign config")
	seeded := dump(t, c)
	if len(seeded) == 0 {
		t.Fatal("seed left nothing")
	}

	tp := labPlan("leaf1", tg.addr, testPKI(t).caFile)
	d, err := gnmidrv.Open(ctx, tp, testLog(t))
	mustf(t, err, "open")
	t.Cleanup(func() { d.Close() })
	_, err = d.Sync(ctx, tp)
	mustf(t, err, "apply")
	applied := dump(t, c)
	for k, v := range seeded {
		if applied[k] != v {
			t.Errorf("apply changed foreign %s: %s -> %s", k, v, applied[k])
		}
	}
	if len(applied) <= len(seeded) {
		t.Fatalf("apply added nothing: %d leaves", len(applied))
	}

	mustf(t, d.Remove(ctx), "remove")
	after := dump(t, c)
	// Key leaves of the Ethernet1 list entry stay with the foreign binding.
	if !maps.Equal(after, seeded) {
		for k, v := range after {
			if seeded[k] != v {
				t.Errorf("after remove: extra %s = %s", k, v)
			}
		}
		for k := range seeded {
			if _, ok := after[k]; !ok {
				t.Errorf("after remove: foreign %s is gone", k)
			}
		}
	}
	if n := countWith(after, "qosplane-lab"); n != 0 {
		t.Errorf("%d owned leaves left", n)
	}
}
