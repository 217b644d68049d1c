package kube

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	mkube "github.com/qosplane/qosplane/model/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// reconcileAll reconciles every cached policy and forgets the switch
// rounds of deleted ones.
func (c *Controller) reconcileAll(ctx context.Context) {
	seen := make(map[string]bool)
	for _, u := range c.policies.list() {
		seen[u.GetName()] = true
		if err := c.reconcile(ctx, u); apierrors.IsConflict(err) {
			c.log.Debug("reconcile: stale cache; the watch brings the newer version", "policy", u.GetName(), "err", err)
		} else if err != nil {
			c.log.Warn("reconcile", "policy", u.GetName(), "err", err)
		}
	}
	for name := range c.applied {
		if !seen[name] {
			delete(c.applied, name)
		}
	}
}

// reconcile computes one policy's status and writes it only when it
// changed semantically (conditions keep their transition times through
// meta.SetStatusCondition, per-switch results their update times while
// unchanged), so an unchanged input makes no write. An invalid spec is
// reported (validationErrors with field paths, Degraded/InvalidSpec) and
// the switches are left as they are: the running state is kept.
func (c *Controller) reconcile(ctx context.Context, u *unstructured.Unstructured) error {
	var qp v1alpha1.QoSPolicy
	if err := FromUnstructured(u, &qp); err != nil {
		return err
	}
	want := qp.Status.DeepCopy()
	want.ObservedGeneration = qp.Generation
	c.aggregate(&qp, want)
	p, err := mkube.ToPolicy(&qp)
	if err != nil {
		want.ValidationErrors = mkube.StatusErrors(err)
		msg := fmt.Sprintf("spec is invalid (%d problems); first: %s: %s", len(want.ValidationErrors),
			want.ValidationErrors[0].Field, want.ValidationErrors[0].Message)
		ctlSetCondition(want, v1alpha1.ConditionReady, false, v1alpha1.ReasonInvalidSpec, "the running state is kept: "+msg, qp.Generation)
		ctlSetCondition(want, v1alpha1.ConditionDegraded, true, v1alpha1.ReasonInvalidSpec, msg, qp.Generation)
		ctlSetCondition(want, v1alpha1.ConditionProgressing, false, v1alpha1.ReasonInvalidSpec, "nothing to apply until the spec is fixed", qp.Generation)
	} else {
		want.ValidationErrors = nil
		want.ClassCount, want.FlowCount = int32(len(p.Classes)), int32(len(p.Flows))
		if sw := c.syncSwitches(ctx, &qp, p); sw != nil || len(qp.Spec.Switches) == 0 {
			want.Switches = keepTimes(qp.Status.Switches, sw)
		}
		ctlConditions(want, len(qp.Spec.Switches), qp.Generation)
	}
	if equality.Semantic.DeepEqual(qp.Status, *want) {
		return nil
	}
	return c.writeStatus(ctx, u, want)
}

// aggregate counts the nodes qp selects, and among them those whose agent
// reports qp at its current generation without errors (ready) or with
// errors (degraded).
func (c *Controller) aggregate(qp *v1alpha1.QoSPolicy, st *v1alpha1.QoSPolicyStatus) {
	sel := labels.Everything()
	if qp.Spec.NodeSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(qp.Spec.NodeSelector)
		if err != nil {
			sel = labels.Nothing()
		} else {
			sel = s
		}
	}
	matched := make(map[string]bool)
	for _, n := range c.nodes.list() {
		if sel.Matches(labels.Set(n.GetLabels())) {
			matched[n.GetName()] = true
		}
	}
	st.MatchedNodes, st.ReadyNodes, st.DegradedNodes = int32(len(matched)), 0, 0
	for _, u := range c.nodeStates.list() {
		var ns v1alpha1.QoSNodeState
		if FromUnstructured(u, &ns) != nil || !matched[ns.Spec.NodeName] {
			continue
		}
		switch ctlNodeVerdict(&ns, qp.Name, qp.Generation) {
		case ctlReady:
			st.ReadyNodes++
		case ctlDegraded:
			st.DegradedNodes++
		}
	}
}

type ctlVerdict int

const (
	ctlPending ctlVerdict = iota
	ctlReady
	ctlDegraded
)

// ctlNodeVerdict: ready when the node runs generation gen of policy and no
// error is reported for it; degraded when the node has seen gen but runs
// another generation or reports an error; pending otherwise.
func ctlNodeVerdict(ns *v1alpha1.QoSNodeState, policy string, gen int64) ctlVerdict {
	for _, ap := range ns.Status.Policies {
		if ap.Name != policy || ap.ObservedGeneration != gen {
			continue
		}
		bad := ap.Generation != gen || ns.Status.LastError != ""
		for _, t := range ns.Status.Targets {
			if t.Policy == policy && t.LastError != "" {
				bad = true
			}
		}
		if bad {
			return ctlDegraded
		}
		return ctlReady
	}
	return ctlPending
}

// ctlConditions sets Ready, Progressing and Degraded from the counts and the
// per-switch results; messages hold no times, so they repeat exactly.
func ctlConditions(st *v1alpha1.QoSPolicyStatus, switches int, gen int64) {
	applied, failed := 0, []string{}
	for _, s := range st.Switches {
		if s.Applied {
			applied++
		} else {
			failed = append(failed, string(s.Name))
		}
	}
	pendingSwitches := switches - applied - len(failed)
	pendingNodes := st.MatchedNodes - st.ReadyNodes - st.DegradedNodes
	var problems []string
	if st.DegradedNodes > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d nodes degraded", st.DegradedNodes, st.MatchedNodes))
	}
	if len(failed) > 0 {
		if len(failed) > 5 {
			failed = append(failed[:5], "...")
		}
		problems = append(problems, fmt.Sprintf("%d of %d switches failed (%s)", switches-applied, switches, strings.Join(failed, ", ")))
	}
	progress := fmt.Sprintf("%d of %d nodes and %d of %d switches at generation %d", st.ReadyNodes, st.MatchedNodes, applied, switches, gen)
	switch {
	case len(problems) > 0:
		msg := strings.Join(problems, "; ")
		ctlSetCondition(st, v1alpha1.ConditionDegraded, true, v1alpha1.ReasonApplyFailed, msg, gen)
		ctlSetCondition(st, v1alpha1.ConditionReady, false, v1alpha1.ReasonApplyFailed, msg, gen)
	case pendingNodes > 0 || pendingSwitches > 0:
		ctlSetCondition(st, v1alpha1.ConditionDegraded, false, v1alpha1.ReasonApplying, progress, gen)
		ctlSetCondition(st, v1alpha1.ConditionReady, false, v1alpha1.ReasonApplying, progress, gen)
	default:
		ctlSetCondition(st, v1alpha1.ConditionDegraded, false, v1alpha1.ReasonApplied, progress, gen)
		ctlSetCondition(st, v1alpha1.ConditionReady, true, v1alpha1.ReasonApplied, progress, gen)
	}
	if pendingNodes > 0 || pendingSwitches > 0 {
		ctlSetCondition(st, v1alpha1.ConditionProgressing, true, v1alpha1.ReasonApplying, progress, gen)
	} else {
		ctlSetCondition(st, v1alpha1.ConditionProgressing, false, v1alpha1.ReasonApplied, progress, gen)
	}
}

func ctlSetCondition(st *v1alpha1.QoSPolicyStatus, typ string, ok bool, reason, msg string, gen int64) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: mkube.Truncate(msg, 32768), ObservedGeneration: gen,
	})
}

// keepTimes sets each new result's LastUpdateTime: the old one when the
// result is otherwise unchanged, now when it changed.
func keepTimes(old, cur []v1alpha1.SwitchStatus) []v1alpha1.SwitchStatus {
	prev := make(map[v1alpha1.Name]v1alpha1.SwitchStatus, len(old))
	for _, s := range old {
		prev[s.Name] = s
	}
	now := metav1.Now()
	out := make([]v1alpha1.SwitchStatus, len(cur))
	for i, s := range cur {
		if p, ok := prev[s.Name]; ok {
			if !s.Applied && s.AppliedGeneration == 0 {
				s.AppliedGeneration = p.AppliedGeneration
			}
			s.LastUpdateTime = p.LastUpdateTime
			if equality.Semantic.DeepEqual(p, s) {
				out[i] = s
				continue
			}
		}
		s.LastUpdateTime = &now
		out[i] = s
	}
	return out
}

// writeStatus replaces u's status with st through the status subresource.
// A conflict is left to the next event (the informer brings the newer
// object, which triggers a reconcile).
func (c *Controller) writeStatus(ctx context.Context, u *unstructured.Unstructured, st *v1alpha1.QoSPolicyStatus) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	obj := u.DeepCopy()
	obj.Object["status"] = m
	got, err := c.clients.Dynamic.Resource(PolicyGVR).UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update %s %s status: %w", GroupResource(PolicyGVR), u.GetName(), err)
	}
	// The cache gets the written object now rather than when the watch
	// delivers it, so the next pass does not compare against (and
	// conflict with) the version this write replaced.
	c.policies.put(got)
	c.statusWrites.Add(1)
	c.log.Info("status written", "policy", u.GetName(), "generation", st.ObservedGeneration,
		"matched", st.MatchedNodes, "ready", st.ReadyNodes, "degraded", st.DegradedNodes, "switches", len(st.Switches))
	return nil
}
