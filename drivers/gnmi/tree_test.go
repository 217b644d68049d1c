package gnmi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openconfig/ygot/ygot"

	"github.com/qosplane/qosplane/drivers/gnmi/oc"
	"github.com/qosplane/qosplane/offload"
)

func TestBuildTreeLab(t *testing.T) {
	tr, err := BuildTree(labPlan())
	if err != nil {
		t.Fatal(err)
	}
	q := tr.Root.Qos
	if got := len(q.Queue); got != 4 {
		t.Errorf("queues = %d, want 4 (the unsupported class is skipped)", got)
	}
	if got := v(q.Queue["qosplane-lab--voice"].QueueId); got != 5 {
		t.Errorf("voice queue-id = %d, want 5", got)
	}
	if got := v(q.ForwardingGroup["qosplane-lab--video"].OutputQueue); got != "qosplane-lab--video" {
		t.Errorf("video output-queue = %q", got)
	}
	pol := q.SchedulerPolicy["qosplane-lab"]
	if pol == nil {
		t.Fatal("no scheduler policy")
	}
	// Levels: voice(5) strict, video(4) strict, level 0: scavenger has a
	// rate -> own scheduler (3), bulk the unmetered one (2).
	if got := len(pol.Scheduler); got != 4 {
		t.Fatalf("schedulers = %d, want 4", got)
	}
	s0 := pol.Scheduler[0]
	if s0.Priority != oc.OpenconfigQos_Scheduler_Priority_STRICT || s0.Input["qosplane-lab--voice"] == nil {
		t.Errorf("scheduler 0 = %+v, want strict voice", s0)
	}
	if v(s0.OneRateTwoColor.Cir) != 10_000_000 || v(s0.OneRateTwoColor.Bc) != 12_500 || s0.OneRateTwoColor.QueuingBehavior != oc.OpenconfigQos_QueueBehavior_SHAPE {
		t.Errorf("voice shaper = %+v", s0.OneRateTwoColor)
	}
	s1 := pol.Scheduler[1].TwoRateThreeColor
	if v(s1.Cir) != 50_000_000 || v(s1.Pir) != 80_000_000 || v(s1.ExceedAction.SetDscp) != 8 || v(s1.ExceedAction.SetDot1P) != 1 || !v(s1.ViolateAction.Drop) {
		t.Errorf("video policer = %+v exceed %+v", s1, s1.ExceedAction)
	}
	for _, seq := range []uint32{2, 3} {
		s := pol.Scheduler[seq]
		if s.Priority == oc.OpenconfigQos_Scheduler_Priority_STRICT {
			t.Errorf("scheduler %d of a shared level is strict", seq)
		}
	}
	if w := v(pol.Scheduler[2].Input["qosplane-lab--bulk"].Weight); w != 3 {
		t.Errorf("bulk weight = %d, want 3", w)
	}
	if !v(pol.Scheduler[3].OneRateTwoColor.ExceedAction.Drop) {
		t.Errorf("scavenger policer does not drop")
	}

	v4 := q.Classifier["qosplane-lab--ipv4"]
	if v4 == nil || v4.Type != oc.OpenconfigQos_Qos_Classifier_Type_IPV4 || len(v4.Term) != 3 {
		t.Fatalf("ipv4 classifier = %+v", v4)
	}
	cams := v4.Term["00020-cams"]
	if got := cams.Conditions.Transport.DestinationPort; got != oc.UnionString("8000..8100") {
		t.Errorf("cams dst port = %v", got)
	}
	if got := v(cams.Conditions.Ipv4.DestinationAddress); got != "10.1.0.0/16" {
		t.Errorf("cams dst = %q", got)
	}
	sip := v4.Term["00010-sip"]
	if v(sip.Actions.TargetGroup) != "qosplane-lab--voice" || v(sip.Actions.Remark.SetDscp) != 46 || v(sip.Actions.Remark.SetDot1P) != 5 {
		t.Errorf("sip actions = %+v", sip.Actions)
	}
	if got := v(v4.Term["00030-ef"].Conditions.Ipv4.Dscp); got != 46 {
		t.Errorf("ef dscp = %d", got)
	}
	if v(q.Classifier["qosplane-lab--ipv6"].Term["00040-backup6"].Conditions.Ipv6.SourceAddress) != "2001:db8::/32" {
		t.Errorf("ipv6 term wrong")
	}
	eth := q.Interface["Ethernet1"]
	if v(eth.Input.Classifier[oc.OpenconfigQos_Input_Classifier_Type_IPV6].Name) != "qosplane-lab--ipv6" ||
		v(eth.Output.SchedulerPolicy.Name) != "qosplane-lab" || len(eth.Output.Queue) != 4 {
		t.Errorf("Ethernet1 bindings = %+v", eth)
	}
	if len(tr.Skipped) != 2 {
		t.Errorf("skipped = %v, want the unsupported class and rule", tr.Skipped)
	}
}

func TestProfilesShapeTheTree(t *testing.T) {
	// srlinux: dscp-set, no set-dot1p, no policers.
	tp := labPlan()
	tp.Profile = "srlinux"
	_, err := BuildTree(tp)
	if err == nil || !strings.Contains(err.Error(), "one-rate-two-color") {
		t.Fatalf("srlinux with a shaper: err = %v", err)
	}
	for i := range tp.Classes {
		tp.Classes[i].Rate = 0
	}
	if _, err = BuildTree(tp); err == nil || !strings.Contains(err.Error(), "set-dot1p") {
		t.Fatalf("srlinux with set-dot1p: err = %v", err)
	}
	tp.Rules[0].Actions = tp.Rules[0].Actions[:2]
	tr, err := BuildTree(tp)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Root.Qos.Classifier["qosplane-lab--ipv4"].Term["00030-ef"].Conditions.Ipv4.DscpSet; len(got) != 1 || got[0] != 46 {
		t.Errorf("srlinux dscp-set = %v", got)
	}
	// arista: DSCP-only, no queue-id.
	tp = labPlan()
	tp.Profile = "arista"
	if _, err := BuildTree(tp); err == nil {
		t.Errorf("arista with port match and borrow remark accepted")
	}
	tp.Classes = tp.Classes[:1] // voice: shaped
	tp.Rules = tp.Rules[2:3]    // ef: DSCP only, no remark
	tr, err = BuildTree(tp)
	if err != nil {
		t.Fatalf("arista DSCP-only plan: %v", err)
	}
	if q := tr.Root.Qos.Queue["qosplane-lab--voice"]; q == nil || q.QueueId != nil {
		t.Errorf("arista queue = %+v, want no queue-id", q)
	}
	// juniper: weight bound.
	tp = labPlan()
	tp.Profile = "juniper"
	tp.Classes[2].Weight = 500
	if _, err := BuildTree(tp); err == nil || !strings.Contains(err.Error(), "weight 500") {
		t.Errorf("juniper weight 500: err = %v", err)
	}
}

func TestBadInputRefused(t *testing.T) {
	cases := map[string]func(*offload.TargetPlan){
		"dscp 64 remark": func(tp *offload.TargetPlan) { tp.Rules[0].Actions[1].DSCP = 64 },
		"pcp 8 remark":   func(tp *offload.TargetPlan) { tp.Rules[0].Actions[2].PCP = 8 },
		"nc mark":        func(tp *offload.TargetPlan) { tp.Classes[1].MarkNonConforming.DSCP = 70 },
		"unknown class":  func(tp *offload.TargetPlan) { tp.Rules[0].Class = "nope" },
		"foreign name":   func(tp *offload.TargetPlan) { tp.Rules[0].Device = "other-ipv4" },
		"v6 in v4":       func(tp *offload.TargetPlan) { tp.Rules[1].Match.Dst = prefix("2001:db8::/48") },
		"no owner":       func(tp *offload.TargetPlan) { tp.Owner = "" },
		"dup queue id":   func(tp *offload.TargetPlan) { tp.Classes[1].QueueID = 5 },
		"no set-class":   func(tp *offload.TargetPlan) { tp.Rules[2].Actions = nil },
		"peak < rate":    func(tp *offload.TargetPlan) { tp.Classes[1].Peak = 1 },
	}
	for name, mut := range cases {
		tp := labPlan()
		mut(tp)
		if _, err := BuildTree(tp); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestRenderJSONIETF(t *testing.T) {
	b, err := RenderJSONIETF(labPlan())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	qos, ok := doc["openconfig-qos:qos"].(map[string]any)
	if !ok || len(doc) != 1 {
		t.Fatalf("root keys = %v", doc)
	}
	for _, k := range []string{"classifiers", "forwarding-groups", "queues", "scheduler-policies", "interfaces"} {
		if _, ok := qos[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	s := string(b)
	// 64-bit values are strings in JSON_IETF.
	if !strings.Contains(s, `"cir": "10000000"`) || !strings.Contains(s, `"weight": "3"`) {
		t.Errorf("64-bit values not rendered as strings:\n%s", s)
	}
	if !strings.Contains(s, `"openconfig-qos-types:ONE_RATE_TWO_COLOR"`) {
		t.Errorf("identityref not module-qualified")
	}
	// Deterministic.
	b2, _ := RenderJSONIETF(labPlan())
	if string(b2) != s {
		t.Errorf("render is not deterministic")
	}
}

// v dereferences a leaf pointer; a nil pointer yields the zero value.
func v[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestCounterValue(t *testing.T) {
	for in, want := range map[string]uint64{`"18446744073709551615"`: 1<<64 - 1, `42`: 42, ` "7" `: 7} {
		if got, ok := jsonCounter([]byte(in)); !ok || got != want {
			t.Errorf("jsonCounter(%s) = %d, %v", in, got, ok)
		}
	}
	if _, ok := jsonCounter([]byte(`"x"`)); ok {
		t.Error("jsonCounter accepted a non-number")
	}
}

// TestLeafrefsAgreeWithYgot breaks each kind of reference the driver
// writes and checks that both ygot's full leafref validation and the
// driver's own check refuse it, and that both accept the intact tree.
func TestLeafrefsAgreeWithYgot(t *testing.T) {
	breakers := map[string]func(*oc.Qos){
		"intact":       func(*oc.Qos) {},
		"target-group": func(q *oc.Qos) { delete(q.ForwardingGroup, "qosplane-lab--video") },
		"output-queue": func(q *oc.Qos) { q.ForwardingGroup["qosplane-lab--bulk"].OutputQueue = ygot.String("nope") },
		"sched input": func(q *oc.Qos) {
			q.SchedulerPolicy["qosplane-lab"].Scheduler[0].Input["qosplane-lab--voice"].Queue = ygot.String("nope")
		},
		"if classifier": func(q *oc.Qos) {
			q.Interface["Ethernet1"].Input.Classifier[oc.OpenconfigQos_Input_Classifier_Type_IPV4].Name = ygot.String("nope")
		},
		"if policy": func(q *oc.Qos) { q.Interface["Ethernet2"].Output.SchedulerPolicy.Name = ygot.String("nope") },
		"if queue":  func(q *oc.Qos) { q.Interface["Ethernet2"].Output.GetOrCreateQueue("nope") },
	}
	for name, br := range breakers {
		tr, err := BuildTree(labPlan())
		if err != nil {
			t.Fatal(err)
		}
		br(tr.Root.Qos)
		full := tr.Root.Validate()
		own := checkLeafrefs(tr.Root.Qos)
		if name == "if queue" {
			// Not a leafref in openconfig-qos 2.2.0; the driver refuses
			// it anyway (it only ever binds its own queues).
			full = own
		}
		if (full == nil) != (own == nil) || (name == "intact") != (own == nil) {
			t.Errorf("%s: ygot says %v, driver says %v", name, full, own)
		}
	}
}
