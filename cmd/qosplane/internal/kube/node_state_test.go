package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	"github.com/qosplane/qosplane/offload"
)

// TestNodeStateDesired checks the status the writer builds: placement and
// generations per target, conditions, and that an unchanged agent gives a
// status sameStatus finds equal (so nothing is written), with the
// conditions' transition times kept.
func TestNodeStateDesired(t *testing.T) {
	src := NewNodeSource(nil, "node-1", nil, nil)
	src.results = []PolicyResult{{Name: "p", Generation: 3, ObservedGeneration: 3}}
	src.targets = map[string]string{"nic0": "p"}
	src.ifaces = map[string][2]string{"nic0": {"eth0", "0000:3b:00.0"}}
	loaded := time.Now().Add(-time.Minute)
	st := agent.Status{LoadedAt: loaded, Targets: []agent.TargetStatus{{
		Name: "nic0", Kind: "nic", LastAttempt: loaded.Add(time.Second), LastSuccess: loaded.Add(time.Second),
		Hardware: 3, PacerCount: 0, Software: 1,
		Classes: []agent.ClassStatus{{Name: "gold", Placement: offload.Hardware}, {Name: "bulk", Placement: offload.Software, Reason: "ice offloads no borrow"}},
	}}}
	w := &NodeStateWriter{Node: "node-1", Source: src, Status: func() agent.Status { return st }}
	first := w.desired(nil)
	if len(first.Targets) != 1 || first.Targets[0].AppliedGeneration != 3 || first.Targets[0].Interface != "eth0" ||
		first.Targets[0].Placement != v1alpha1.PlacementSoftware || first.Targets[0].Reasons[0] != "ice offloads no borrow" {
		t.Fatalf("targets %+v", first.Targets)
	}
	if first.Policies[0].Generation != 3 || first.Summary.Placement != "hardware 3, software 1, pacer 0, unsupported 0" {
		t.Errorf("policies %+v summary %+v", first.Policies, first.Summary)
	}
	time.Sleep(1100 * time.Millisecond) // metav1.Time has second resolution
	again := w.desired(first)
	if !sameStatus(first, again) {
		t.Errorf("an unchanged agent gives a different status:\n%+v\n%+v", first, again)
	}
	for i := range again.Conditions {
		if !again.Conditions[i].LastTransitionTime.Equal(&first.Conditions[i].LastTransitionTime) {
			t.Errorf("condition %s moved its transition time", again.Conditions[i].Type)
		}
	}

	// A newer load the target has not run yet keeps the generation it
	// reported; a refused generation shows its errors.
	st.LoadedAt = time.Now()
	src.results = []PolicyResult{{Name: "p", Generation: 4, ObservedGeneration: 5,
		Errors: []v1alpha1.ValidationError{{Field: "spec.flows[0].class", Message: `class "x" is not defined`}}}}
	next := w.desired(again)
	if next.Targets[0].AppliedGeneration != 3 || next.Policies[0].Generation != 3 || next.Policies[0].ObservedGeneration != 5 {
		t.Errorf("pending target: %+v %+v", next.Targets[0], next.Policies)
	}
	if !strings.Contains(next.LastError, "qospolicy/p: spec.flows[0].class: ") || sameStatus(again, next) {
		t.Errorf("lastError %q", next.LastError)
	}
}
