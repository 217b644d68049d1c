package kube

import (
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
)

func parsePolicy(t *testing.T, name, body string) *model.Policy {
	t.Helper()
	p, err := model.Parse(name, []byte("name: "+name+"\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMergePolicies(t *testing.T) {
	a := parsePolicy(t, "a", "classes: [{name: gold, rate: 10Mbit}]\ntargets: [{name: nic-a, kind: nic, interface: eth0}]\n")
	b := parsePolicy(t, "b", "classes: [{name: silver, rate: 5Mbit}]\ntargets: [{name: nic-b, kind: nic, interface: eth1}]\n")
	clash := parsePolicy(t, "c", "classes: [{name: gold}]\ntargets: [{name: nic-c, kind: nic, interface: eth2}]\n")
	results := func(names ...string) map[string]*PolicyResult {
		m := map[string]*PolicyResult{}
		for _, n := range names {
			m[n] = &PolicyResult{Name: n}
		}
		return m
	}

	// Two policies merge; each target keeps its own classes.
	res := results("a", "b")
	merged, run := mergePolicies([]nodeCandidate{{"a", 1, a, 1}, {"b", 4, b, 1}}, nil, res)
	if len(merged.Classes) != 2 || len(merged.Targets) != 2 || len(run) != 2 {
		t.Fatalf("merged %+v", merged)
	}
	if got := merged.Targets[0].Classes; len(got) != 1 || got[0] != "gold" {
		t.Errorf("nic-a classes %v", got)
	}
	if res["b"].Generation != 4 {
		t.Errorf("b runs generation %d", res["b"].Generation)
	}

	// A clash refuses both: a falls back to the generation it ran, the
	// new c is not applied; both carry the error.
	res = results("a", "c")
	a2 := parsePolicy(t, "a", "classes: [{name: gold, rate: 20Mbit}]\ntargets: [{name: nic-a, kind: nic, interface: eth0}]\n")
	merged, _ = mergePolicies([]nodeCandidate{{"a", 2, a2, 1}, {"c", 1, clash, 1}}, run, res)
	if len(merged.Classes) != 1 || merged.Classes[0].Rate != 10e6 || res["a"].Generation != 1 || res["c"].Generation != 0 {
		t.Errorf("after the clash: classes %+v, a at %d, c at %d", merged.Classes, res["a"].Generation, res["c"].Generation)
	}
	for _, n := range []string{"a", "c"} {
		if len(res[n].Errors) != 1 || res[n].Errors[0].Field != "spec.classes[0].name" || !strings.Contains(res[n].Errors[0].Message, `class "gold" is also defined`) {
			t.Errorf("%s errors %+v", n, res[n].Errors)
		}
	}

	// Two targets on one interface clash too.
	d := parsePolicy(t, "d", "classes: [{name: bronze}]\ntargets: [{name: nic-d, kind: nic, interface: eth0}]\n")
	res = results("a", "d")
	merged, _ = mergePolicies([]nodeCandidate{{"a", 1, a, 1}, {"d", 1, d, 1}}, nil, res)
	if len(merged.Targets) != 0 || len(res["d"].Errors) != 1 || res["d"].Errors[0].Field != "spec.nics[0].interface" {
		t.Errorf("interface clash: targets %d, d errors %+v", len(merged.Targets), res["d"].Errors)
	}
}
