package kube

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// MergedPolicyName is the name of the policy a node agent runs: the merge
// of every QoSPolicy selecting the node. It is constant so that what the
// agent installs keeps its owner as policies come and go.
const MergedPolicyName = "kube"

// PolicyResult is what the node made of one QoSPolicy that selects it.
type PolicyResult struct {
	// Name of the QoSPolicy.
	Name string
	// Generation is the generation the node runs (0: none runs).
	Generation int64
	// ObservedGeneration is the latest generation seen.
	ObservedGeneration int64
	// Errors are the problems of ObservedGeneration on this node, each at
	// its field path (model errors, unresolved templates, name clashes).
	Errors []v1alpha1.ValidationError
}

// nodeCandidate is one QoSPolicy's conversion on this node.
type nodeCandidate struct {
	name       string
	generation int64
	policy     *model.Policy
	nics       int // len(spec.nics): model targets after them are switches
}

// nodeApplied is a policy version the node runs: kept while later generations
// are refused, so a bad edit never tears down a running policy.
type nodeApplied struct {
	generation int64
	policy     *model.Policy
	nics       int
}

// mergePolicies merges the valid policies into the node's policy. newest
// holds, per selected policy, its newest generation's conversion (nil
// policy when it was refused, with the errors already in results); prev
// holds the versions the node ran so far. Names (classes, flows, NIC
// targets) and interfaces defined by two policies are refused on both:
// each then falls back to the version it ran before, if any, and a clash
// that remains drops both. It returns the merged policy and the versions it
// holds; results gains the clash errors and the generations that run.
//
// Only NIC targets are kept: switches are the controller's. Each NIC
// target is limited to its own policy's classes, so that policies merged on
// one node never mix their classes on a device.
func mergePolicies(newest []nodeCandidate, prev map[string]nodeApplied, results map[string]*PolicyResult) (*model.Policy, map[string]nodeApplied) {
	run := make(map[string]nodeApplied)
	for _, c := range newest {
		if c.policy != nil {
			run[c.name] = nodeApplied{generation: c.generation, policy: c.policy, nics: c.nics}
		} else if p, ok := prev[c.name]; ok {
			run[c.name] = p
		}
	}
	for pass := 0; pass < 2; pass++ {
		clashes := findClashes(run)
		if len(clashes) == 0 {
			break
		}
		for name, errs := range clashes {
			r := results[name]
			if pass == 0 {
				r.Errors = append(r.Errors, errs...)
			}
			if p, ok := prev[name]; ok && pass == 0 && p.generation != run[name].generation {
				run[name] = p
			} else {
				delete(run, name)
			}
		}
	}
	merged := &model.Policy{Name: MergedPolicyName, File: "qospolicies"}
	names := slices.Sorted(nodeMapKeys(run))
	for _, name := range names {
		p := run[name].policy
		results[name].Generation = run[name].generation
		if len(merged.Classes) == 0 {
			merged.Marking = p.Marking
		}
		merged.Classes = append(merged.Classes, p.Classes...)
		merged.Flows = append(merged.Flows, p.Flows...)
		own := make([]string, len(p.Classes))
		for i := range p.Classes {
			own[i] = p.Classes[i].Name
		}
		for _, t := range p.Targets {
			if t.Kind != model.NIC {
				continue
			}
			if len(t.Classes) == 0 {
				t.Classes = own
			}
			merged.Targets = append(merged.Targets, t)
		}
	}
	return merged, run
}

func nodeMapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// nodeDefinition is where a policy defines a name.
type nodeDefinition struct {
	policy, field string
}

// findClashes returns, per policy, the errors of the names and interfaces
// it shares with another policy of run.
func findClashes(run map[string]nodeApplied) map[string][]v1alpha1.ValidationError {
	seen := map[string][]nodeDefinition{} // "kind\x00name" -> definitions
	var keys []string
	add := func(kind, name string, d nodeDefinition) {
		k := kind + "\x00" + name
		if _, ok := seen[k]; !ok {
			keys = append(keys, k)
		}
		seen[k] = append(seen[k], d)
	}
	for _, pname := range slices.Sorted(nodeMapKeys(run)) {
		a := run[pname]
		p := a.policy
		for i, c := range p.Classes {
			add("class", c.Name, nodeDefinition{pname, fmt.Sprintf("spec.classes[%d].name", i)})
		}
		for i, f := range p.Flows {
			add("flow", f.Name, nodeDefinition{pname, fmt.Sprintf("spec.flows[%d].name", i)})
		}
		for i, t := range p.Targets {
			if t.Kind != model.NIC || i >= a.nics {
				continue
			}
			add("target", t.Name, nodeDefinition{pname, fmt.Sprintf("spec.nics[%d].name", i)})
			add("interface", t.Interface, nodeDefinition{pname, fmt.Sprintf("spec.nics[%d].interface", i)})
		}
	}
	out := map[string][]v1alpha1.ValidationError{}
	for _, k := range keys {
		defs := seen[k]
		if len(defs) < 2 {
			continue
		}
		kind, name, _ := strings.Cut(k, "\x00")
		for _, d := range defs {
			var others []string
			for _, o := range defs {
				if o.policy != d.policy {
					others = append(others, fmt.Sprintf("QoSPolicy %q (%s)", o.policy, o.field))
				}
			}
			if len(others) == 0 {
				continue
			}
			msg := fmt.Sprintf("%s %q is also defined by %s on this node: both are refused", kind, name, strings.Join(others, ", "))
			if kind == "interface" {
				msg = fmt.Sprintf("interface %q is also a target of %s on this node: both are refused", name, strings.Join(others, ", "))
			}
			out[d.policy] = append(out[d.policy], v1alpha1.ValidationError{Field: d.field, Message: msg})
		}
	}
	return out
}
