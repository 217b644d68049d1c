package agent

import (
	"fmt"
	"slices"
	"sync"

	"github.com/qosplane/qosplane/drivers/cgroup"
	"github.com/qosplane/qosplane/offload"
)

// Sockets marks the sockets of the host's cgroups (drivers/cgroup.Driver):
// one per host, shared by the NIC targets. Apply replaces every rule;
// Rescan re-resolves the rules' cgroups (those created since).
type Sockets interface {
	Apply(rules []cgroup.Rule) error
	Rescan() error
	Counts() (map[string]uint64, error)
}

// socketRules keeps each target's socket rules and hands their merge to
// the host's Sockets. Each reconcile of a target calls set: the merged
// rules are applied when they changed, and otherwise the cgroup tree is
// rescanned, so a cgroup created since is matched within one reconcile even
// if the tree watch missed it.
type socketRules struct {
	mu      sync.Mutex
	s       Sockets
	targets map[string][]cgroup.Rule
	applied []cgroup.Rule
	ok      bool // applied is what the driver holds
}

// set records target's socket rules from its plan (nil when the target
// left) and brings the driver in line. It returns notes for the target's
// status.
func (sr *socketRules) set(target string, tp *offload.TargetPlan) ([]string, error) {
	var rules []cgroup.Rule
	if tp != nil {
		rules = cgroup.FromPlan(tp)
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.s == nil {
		if len(rules) > 0 {
			return []string{"no socket marker in this process (the agent holds one where cgroup2 and BPF are available): cgroup flows are not applied"}, nil
		}
		return nil, nil
	}
	if sr.targets == nil {
		sr.targets = map[string][]cgroup.Rule{}
	}
	if len(rules) == 0 {
		delete(sr.targets, target)
	} else {
		sr.targets[target] = rules
	}
	names := make([]string, 0, len(sr.targets))
	for n := range sr.targets {
		names = append(names, n)
	}
	slices.Sort(names)
	sets := make([][]cgroup.Rule, len(names))
	for i, n := range names {
		sets[i] = sr.targets[n]
	}
	merged, dropped := cgroup.Merge(sets...)
	var notes []string
	for _, d := range dropped {
		notes = append(notes, fmt.Sprintf("flow %s: another target's socket marking (priority, DSCP) is applied; a socket has only one", d.Flow))
	}
	if sr.ok && slices.Equal(merged, sr.applied) {
		if len(merged) == 0 {
			return notes, nil
		}
		return notes, sr.s.Rescan()
	}
	sr.ok = false
	if err := sr.s.Apply(merged); err != nil {
		return notes, fmt.Errorf("socket marking: %w", err)
	}
	sr.applied, sr.ok = merged, true
	return notes, nil
}

// counts returns the sockets classified for the flows of rules.
func (sr *socketRules) counts(flows []string) map[string]uint64 {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.s == nil || len(flows) == 0 {
		return nil
	}
	all, err := sr.s.Counts()
	if err != nil {
		return nil
	}
	out := make(map[string]uint64, len(flows))
	for _, f := range flows {
		out[f] = all[f]
	}
	return out
}
