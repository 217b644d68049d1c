package kube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	mkube "github.com/qosplane/qosplane/model/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	"github.com/qosplane/qosplane/offload"
)

// NodeStateWriter publishes the node agent's QoSNodeState: one object per
// node, named after it, owned by its Node. It is the only writer of that
// object.
//
// Invariants:
//   - It writes only when the desired status differs semantically from the
//     last one written (timestamps aside): a reconcile, a relist or an
//     apiserver restart that changes nothing writes nothing.
//   - The object carries no live traffic counters (bytes, packets, rates):
//     they move on every read and would make every agent write all the
//     time. Counters stay on the agent's status socket and metrics; the
//     object has placement counts, which move only with the plan.
//   - Conditions keep their lastTransitionTime while their status holds
//     (meta.SetStatusCondition).
type NodeStateWriter struct {
	// Clients reach the apiserver.
	Clients *Clients
	// Node is the node's name, and the object's.
	Node string
	// Source gives the per-policy results and the Node's UID.
	Source *NodeSource
	// Status is the agent's status (agent.Agent.Status).
	Status func() agent.Status
	// Debounce coalesces bursts of notifications (200ms).
	Debounce time.Duration
	Log      *slog.Logger

	kick chan struct{}
	// writes counts Create and UpdateStatus calls.
	writes atomic.Int64

	// Owned by Run.
	obj  *unstructured.Unstructured // as last read or written
	last *v1alpha1.QoSNodeStateStatus
}

// Writes returns how many Create and UpdateStatus calls the writer made.
func (w *NodeStateWriter) Writes() int64 { return w.writes.Load() }

// Notify asks the writer to compare and publish; it never blocks. It is
// what agent.Config.OnChange calls.
func (w *NodeStateWriter) Notify() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Init prepares the writer; call it before Notify.
func (w *NodeStateWriter) Init() {
	if w.kick == nil {
		w.kick = make(chan struct{}, 1)
	}
	if w.Debounce <= 0 {
		w.Debounce = 200 * time.Millisecond
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
}

// Run publishes until ctx ends. A failed write is retried with backoff; an
// unreachable apiserver only delays publishing.
func (w *NodeStateWriter) Run(ctx context.Context) {
	w.Init()
	backoff := time.Second
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-retry.C:
		}
		sleepCtx(ctx, w.Debounce)
		select {
		case <-w.kick: // coalesced into this round
		default:
		}
		if err := w.publish(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.Log.Warn("QoSNodeState not written; retrying", "node", w.Node, "err", err, "retry_in", backoff)
			retry.Reset(backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
	}
}

// publish writes the desired status if it differs from the last written.
func (w *NodeStateWriter) publish(ctx context.Context) error {
	res := w.Clients.Dynamic.Resource(NodeStateGVR)
	if w.obj == nil {
		u, err := res.Get(ctx, w.Node, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if u, err = w.create(ctx); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("get %s %s: %w", GroupResource(NodeStateGVR), w.Node, err)
		}
		ns := new(v1alpha1.QoSNodeState)
		if err := FromUnstructured(u, ns); err != nil {
			return err
		}
		w.obj, w.last = u, &ns.Status
	}
	want := w.desired(w.last)
	if sameStatus(want, w.last) {
		return nil
	}
	ns := new(v1alpha1.QoSNodeState)
	if err := FromUnstructured(w.obj, ns); err != nil {
		return err
	}
	ns.Status = *want
	u, err := ToUnstructured(ns, "QoSNodeState")
	if err != nil {
		return err
	}
	w.writes.Add(1)
	out, err := res.UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: "qosplane-agent"})
	if err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			w.obj = nil // read it again next round
		}
		return fmt.Errorf("update %s %s status: %w", GroupResource(NodeStateGVR), w.Node, err)
	}
	w.obj, w.last = out, want
	w.Log.Debug("QoSNodeState written", "node", w.Node, "writes", w.writes.Load())
	return nil
}

// create makes the node's QoSNodeState, owned by its Node.
func (w *NodeStateWriter) create(ctx context.Context) (*unstructured.Unstructured, error) {
	uid := w.Source.NodeUID()
	if uid == "" {
		return nil, fmt.Errorf("node %s: no Node object to own its QoSNodeState", w.Node)
	}
	ns := &v1alpha1.QoSNodeState{
		ObjectMeta: metav1.ObjectMeta{Name: w.Node, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Node", Name: w.Node, UID: uid,
		}}},
		Spec: v1alpha1.QoSNodeStateSpec{NodeName: w.Node},
	}
	u, err := ToUnstructured(ns, "QoSNodeState")
	if err != nil {
		return nil, err
	}
	w.writes.Add(1)
	out, err := w.Clients.Dynamic.Resource(NodeStateGVR).Create(ctx, u, metav1.CreateOptions{FieldManager: "qosplane-agent"})
	if apierrors.IsAlreadyExists(err) {
		return w.Clients.Dynamic.Resource(NodeStateGVR).Get(ctx, w.Node, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create %s %s: %w", GroupResource(NodeStateGVR), w.Node, err)
	}
	return out, nil
}

// maxReasons is TargetResult.Reasons' schema bound.
const maxReasons = 64

// desired builds the status from the agent and the source; prev lends the
// timestamps of what did not change.
func (w *NodeStateWriter) desired(prev *v1alpha1.QoSNodeStateStatus) *v1alpha1.QoSNodeStateStatus {
	results, nodeErr := w.Source.Results()
	ast := w.Status()
	now := metav1.Now()
	st := &v1alpha1.QoSNodeStateStatus{}
	gens := map[string]int64{}
	var problems []string
	for _, r := range results {
		st.Policies = append(st.Policies, v1alpha1.AppliedPolicy{Name: r.Name, Generation: r.Generation, ObservedGeneration: r.ObservedGeneration})
		gens[r.Name] = r.Generation
		for _, e := range r.Errors {
			problems = append(problems, fmt.Sprintf("qospolicy/%s: %s: %s", r.Name, e.Field, e.Message))
		}
	}
	if nodeErr != "" {
		problems = append(problems, nodeErr)
	}
	if ast.PolicyError != "" {
		problems = append(problems, ast.PolicyError)
	}
	var fps []string
	failing, degraded, pending := 0, 0, 0
	// A target whose last success predates the policy load has not run
	// the newest generation yet: it, and its policy, keep reporting the
	// generation they reported before.
	stale := map[string]bool{}
	prevGen := func(pol, target string) int64 {
		if prev == nil {
			return 0
		}
		for _, p := range prev.Targets {
			if p.Policy == pol && string(p.Name) == target {
				return p.AppliedGeneration
			}
		}
		return 0
	}
	for _, t := range ast.Targets {
		pol := w.Source.TargetPolicy(t.Name)
		if pol == "" {
			continue // leaving the policy
		}
		if t.LastSuccess.Before(ast.LoadedAt) {
			pending++
			stale[pol] = true
		}
		if t.LastAttempt.IsZero() {
			continue // not reconciled yet
		}
		ts := v1alpha1.TargetState{Policy: pol, Name: v1alpha1.Name(t.Name), Kind: v1alpha1.TargetKind(t.Kind)}
		ts.Interface, ts.PCI = w.Source.targetInterface(t.Name)
		ts.Counts = v1alpha1.PlacementCounts{Hardware: int32(t.Hardware), Software: int32(t.Software), Pacer: int32(t.PacerCount), Unsupported: int32(t.Unsupported)}
		ts.Placement = ts.Counts.Least()
		ts.Reasons = targetReasons(&t)
		ts.AppliedGeneration = gens[pol]
		if stale[pol] && t.LastSuccess.Before(ast.LoadedAt) {
			ts.AppliedGeneration = prevGen(pol, t.Name)
		}
		ts.PlanFingerprint = targetFingerprint(&t)
		ts.LastError = mkube.Truncate(t.LastError, nodeMaxMessage)
		if t.LastError != "" {
			failing++
		}
		if ts.Placement != v1alpha1.PlacementHardware && ts.Placement != "" {
			degraded++
		}
		fps = append(fps, t.Name+"="+ts.PlanFingerprint)
		st.Summary.Counts.Add(ts.Counts)
		st.Targets = append(st.Targets, ts)
	}
	for i := range st.Policies {
		p := &st.Policies[i]
		if !stale[p.Name] {
			continue
		}
		p.Generation = 0
		if prev != nil {
			for _, q := range prev.Policies {
				if q.Name == p.Name {
					p.Generation = q.Generation
				}
			}
		}
	}
	st.Summary.Targets = int32(len(st.Targets))
	st.Summary.Placement = st.Summary.Counts.String()
	if len(fps) > 0 {
		st.PlanFingerprint = offload.Fingerprint(fps)
	}
	if len(problems) > 0 {
		st.LastError = mkube.Truncate(strings.Join(problems, "; "), 4096)
	}
	// Timestamps come from prev while what they date is unchanged.
	if prev != nil {
		if st.LastError != "" && st.LastError == prev.LastError {
			st.LastErrorTime = prev.LastErrorTime
		}
		for i := range st.Targets {
			t := &st.Targets[i]
			if j := slices.IndexFunc(prev.Targets, func(p v1alpha1.TargetState) bool { return p.Policy == t.Policy && p.Name == t.Name }); j >= 0 {
				old := prev.Targets[j]
				cmpOld, cmpNew := old, *t
				cmpOld.LastUpdateTime, cmpNew.LastUpdateTime = nil, nil
				if equality.Semantic.DeepEqual(cmpOld, cmpNew) {
					t.LastUpdateTime = old.LastUpdateTime
				}
			}
		}
		st.Conditions = slices.Clone(prev.Conditions)
	}
	if st.LastError != "" && st.LastErrorTime == nil {
		st.LastErrorTime = &now
	}
	for i := range st.Targets {
		if st.Targets[i].LastUpdateTime == nil {
			st.Targets[i].LastUpdateTime = &now
		}
	}
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonApplied,
		Message: fmt.Sprintf("%d targets of %d policies applied", len(st.Targets), len(results))}
	switch {
	case len(problems) > 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, mkube.Truncate(st.LastError, 1024)
	case failing > 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, v1alpha1.ReasonApplyFailed, fmt.Sprintf("%d of %d targets failed", failing, len(st.Targets))
	case pending > 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, v1alpha1.ReasonApplying, fmt.Sprintf("%d targets not reconciled yet", pending)
	}
	deg := metav1.Condition{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonApplied, Message: "every class and rule runs in hardware"}
	switch {
	case len(problems) > 0:
		deg.Status, deg.Reason, deg.Message = metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, mkube.Truncate(st.LastError, 1024)
	case failing > 0:
		deg.Status, deg.Reason, deg.Message = metav1.ConditionTrue, v1alpha1.ReasonApplyFailed, fmt.Sprintf("%d of %d targets failed", failing, len(st.Targets))
	case degraded > 0:
		deg.Status, deg.Reason, deg.Message = metav1.ConditionTrue, v1alpha1.ReasonPartialOffload, st.Summary.Placement
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	meta.SetStatusCondition(&st.Conditions, deg)
	return st
}

// targetReasons are why a target's classes and rules are not in hardware,
// each once, in order, at most maxReasons.
func targetReasons(t *agent.TargetStatus) []string {
	var out []string
	add := func(r string) {
		if r != "" && len(out) < maxReasons && !slices.Contains(out, r) {
			out = append(out, mkube.Truncate(r, nodeMaxMessage))
		}
	}
	add(t.Pacer)
	for _, c := range t.Classes {
		add(c.Reason)
	}
	for _, r := range t.Rules {
		add(r.Reason)
	}
	return out
}

// targetFingerprint fingerprints what the target runs: its placements and
// configured classes and rules (never counters).
func targetFingerprint(t *agent.TargetStatus) string {
	type class struct {
		Name, Placement, Reason string
		Rate                    float64
		Mark                    offload.Mark
	}
	type rule struct{ ID, Placement, Reason string }
	v := struct {
		Profile, Pacer string
		Classes        []class
		Rules          []rule
	}{Profile: t.Profile, Pacer: t.Pacer}
	for _, c := range t.Classes {
		v.Classes = append(v.Classes, class{c.Name, string(c.Placement), c.Reason, float64(c.Configured), c.Mark})
	}
	for _, r := range t.Rules {
		v.Rules = append(v.Rules, rule{r.ID, string(r.Placement), r.Reason})
	}
	return offload.Fingerprint(v)
}

// sameStatus compares two statuses without their timestamps.
func sameStatus(a, b *v1alpha1.QoSNodeStateStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	strip := func(s *v1alpha1.QoSNodeStateStatus) *v1alpha1.QoSNodeStateStatus {
		c := s.DeepCopy()
		c.LastErrorTime = nil
		for i := range c.Targets {
			c.Targets[i].LastUpdateTime = nil
		}
		for i := range c.Conditions {
			c.Conditions[i].LastTransitionTime = metav1.Time{}
			c.Conditions[i].ObservedGeneration = 0
		}
		return c
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

// nodeMaxMessage is the longest message a status string holds here.
const nodeMaxMessage = 1024
