package agent

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Status is what the status API serves.
type Status struct {
	Policy      string         `json:"policy"`
	PolicyPath  string         `json:"policy_path"`
	LoadedAt    time.Time      `json:"loaded_at"`
	PolicyError string         `json:"policy_error,omitempty"`
	Targets     []TargetStatus `json:"targets"`
}

// TargetStatus is one target's last result and what runs where.
type TargetStatus struct {
	Name          string           `json:"name"`
	Kind          model.TargetKind `json:"kind"`
	Profile       string           `json:"profile,omitempty"`
	LastAttempt   time.Time        `json:"last_attempt"`
	LastSuccess   time.Time        `json:"last_success"`
	Duration      time.Duration    `json:"duration_ns"`
	LastError     string           `json:"last_error,omitempty"`
	LastErrorTime time.Time        `json:"last_error_time"`
	// LastOps is how many operations the last successful reconcile applied
	// (0: the device already held the plan); Applies counts reconciles
	// that changed something.
	LastOps             int       `json:"last_ops"`
	Applies             int       `json:"applies"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	NextAttempt         time.Time `json:"next_attempt"`
	// Pacer says the target runs on the software pacer, and why.
	Pacer string `json:"pacer,omitempty"`
	// FailSafe says how that pacer fails open when the agent dies or
	// hangs (the attach mode's steering, the bridge's bypass or block).
	FailSafe    string        `json:"fail_safe,omitempty"`
	Hardware    int           `json:"hardware"`
	Software    int           `json:"software"`
	PacerCount  int           `json:"pacer_count"`
	Unsupported int           `json:"unsupported"`
	Classes     []ClassStatus `json:"classes"`
	Rules       []RuleStatus  `json:"rules,omitempty"`
	// Sockets counts the sockets classified per cgroup flow (socket
	// rules) since the agent started.
	Sockets    map[string]uint64 `json:"sockets,omitempty"`
	Notes      []string          `json:"notes,omitempty"`
	CountersAt time.Time         `json:"counters_at"`
	// SlowLink is what the pacer did on a slow link; nil elsewhere.
	SlowLink *offload.SlowLinkCounters `json:"slow_link,omitempty"`
}

// ClassStatus is a class's placement, configured and achieved rate, and
// counters.
type ClassStatus struct {
	Name       string                `json:"name"`
	Placement  offload.Placement     `json:"placement"`
	Reason     string                `json:"reason,omitempty"`
	Configured model.Rate            `json:"configured_rate"`
	Achieved   model.Rate            `json:"achieved_rate"`
	Mark       offload.Mark          `json:"mark"`
	Counters   offload.ClassCounters `json:"counters"`
}

// RuleStatus is a rule's placement and counters.
type RuleStatus struct {
	ID        string               `json:"id"`
	Placement offload.Placement    `json:"placement"`
	Reason    string               `json:"reason,omitempty"`
	Counters  offload.RuleCounters `json:"counters"`
}

func (st *TargetStatus) setPlan(tp *offload.TargetPlan) {
	st.Profile = tp.Profile
	st.Pacer = ""
	if tp.Pacer != nil {
		st.Pacer = tp.Pacer.Reason
	}
	st.Hardware, st.Software, st.PacerCount, st.Unsupported = tp.Placements()
	old := st.Classes
	st.Classes = st.Classes[:0:0]
	for _, c := range tp.Classes {
		cs := ClassStatus{Name: c.Name, Placement: c.Where.Placement, Reason: c.Where.Reason, Configured: c.Rate, Mark: c.Mark}
		if i := slices.IndexFunc(old, func(o ClassStatus) bool { return o.Name == c.Name }); i >= 0 {
			cs.Achieved, cs.Counters = old[i].Achieved, old[i].Counters
		}
		st.Classes = append(st.Classes, cs)
	}
	st.Rules = st.Rules[:0:0]
	for _, r := range tp.Rules {
		st.Rules = append(st.Rules, RuleStatus{ID: r.ID, Placement: r.Where.Placement, Reason: r.Where.Reason})
	}
	st.Notes = slices.Clone(tp.Notes)
}

func (st *TargetStatus) setCounters(c *offload.Counters, rates map[string]model.Rate) {
	st.CountersAt = c.Time
	st.SlowLink = c.SlowLink
	for i := range st.Classes {
		cs := &st.Classes[i]
		if cc, ok := c.Classes[cs.Name]; ok {
			cs.Counters = cc
			cs.Achieved = rates[cs.Name]
		}
	}
	for i := range st.Rules {
		if rc, ok := c.Rules[st.Rules[i].ID]; ok {
			st.Rules[i].Counters = rc
		}
	}
}

// Status returns a snapshot of the agent's status.
func (a *Agent) Status() Status {
	a.mu.Lock()
	s := Status{PolicyPath: a.src.String(), LoadedAt: a.loadedAt}
	if a.policy != nil {
		s.Policy = a.policy.Name
	}
	if a.policyErr != nil {
		s.PolicyError = a.policyErr.Error()
	}
	workers := make([]*worker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		w.mu.Lock()
		st := w.st
		st.Classes = slices.Clone(st.Classes)
		st.Rules = slices.Clone(st.Rules)
		st.Sockets = maps.Clone(st.Sockets)
		w.mu.Unlock()
		s.Targets = append(s.Targets, st)
	}
	slices.SortFunc(s.Targets, func(a, b TargetStatus) int { return strings.Compare(a.Name, b.Name) })
	return s
}
