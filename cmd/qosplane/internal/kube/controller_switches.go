package kube

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/metadata"

	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/model"
	mkube "github.com/qosplane/qosplane/model/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	"github.com/qosplane/qosplane/offload"
)

// IdentityMetadata is the gRPC metadata key under which the controller
// sends its identity with every switch RPC, so that a switch (or a test)
// can tell which replica wrote it.
const IdentityMetadata = "qosplane-identity"

// switchRound is the outcome of the last time this term applied one
// policy's switches.
type switchRound struct {
	// key is the policy generation and the referenced Secrets' versions:
	// a change of either (an edit, a rotation) means a new round.
	key     string
	at      time.Time
	failed  bool
	results []v1alpha1.SwitchStatus
}

// syncSwitches brings qp's switches to their plans when needed and returns
// their per-switch status. A round runs when the policy generation or a
// referenced Secret changed since this term's last round, or the last round
// had a failure and Resync has passed; otherwise the last results stand.
// Switches already at their plan get no Set (the driver diffs first), so a
// new term's first round, which re-checks everything, writes nothing to an
// up-to-date fleet. Writes run under the fenced context (fence.ctx); no
// round starts when the lease is stale.
func (c *Controller) syncSwitches(ctx context.Context, qp *v1alpha1.QoSPolicy, p *model.Policy) []v1alpha1.SwitchStatus {
	if len(qp.Spec.Switches) == 0 {
		delete(c.applied, qp.Name)
		return nil
	}
	versions, secrets, secretErrs := c.secretVersions(ctx, qp)
	key := fmt.Sprintf("%d|%s", qp.Generation, versions)
	r := c.applied[qp.Name]
	if r != nil && r.key == key && (!r.failed || time.Since(r.at) < c.cfg.Resync) {
		return r.results
	}
	if !c.fence.ready() {
		c.log.Warn("lease is stale; not starting switch writes", "policy", qp.Name)
		if r != nil {
			return r.results
		}
		return nil
	}
	dir, err := os.MkdirTemp("", "qosplane-controller-")
	if err != nil {
		c.log.Error("secret directory", "err", err)
		return nil
	}
	defer os.RemoveAll(dir)

	byName := make(map[string]*model.Target)
	for i := range p.Targets {
		if t := &p.Targets[i]; t.Kind == model.Switch {
			byName[t.Name] = t
		}
	}
	order := p.Order()
	out := make([]v1alpha1.SwitchStatus, len(qp.Spec.Switches))
	var plans []*offload.TargetPlan
	var at []int // index in out of each plan
	for i := range qp.Spec.Switches {
		sw := &qp.Spec.Switches[i]
		out[i] = v1alpha1.SwitchStatus{Name: sw.Name, Address: sw.Address}
		tp, err := c.compileSwitch(p, byName[string(sw.Name)], order)
		if err == nil {
			err = materialise(dir, sw, tp, secrets, secretErrs)
		}
		if err != nil {
			out[i].LastError = mkube.Truncate(err.Error(), maxMessage)
			continue
		}
		out[i].Placement, out[i].Counts = planPlacement(tp)
		out[i].PlanFingerprint = planFingerprint(tp)
		plans = append(plans, tp)
		at = append(at, i)
	}
	wctx, cancel := c.fence.ctx(ctx)
	defer cancel()
	wctx = metadata.AppendToOutgoingContext(wctx, IdentityMetadata, c.cfg.Identity)
	start := time.Now()
	results := gnmidrv.Fleet{Parallelism: c.cfg.Parallelism, Timeout: c.cfg.SwitchTimeout, Log: c.log}.Apply(wctx, plans)
	failed, changed := len(plans) < len(out), 0
	for j, res := range results {
		s := &out[at[j]]
		if res.Err != nil {
			failed = true
			s.LastError = mkube.Truncate(res.Err.Error(), maxMessage)
			continue
		}
		s.Applied = true
		s.AppliedGeneration = qp.Generation
		if res.Changed {
			changed++
		}
	}
	c.log.Info("switch round", "policy", qp.Name, "generation", qp.Generation, "switches", len(out),
		"changed", changed, "failed", failed, "fenced", context.Cause(wctx) == errFenced, "duration", time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		return out // the term ended: the next term starts afresh
	}
	c.applied[qp.Name] = &switchRound{key: key, at: time.Now(), failed: failed, results: out}
	return out
}

// compileSwitch compiles p for switch t with t's capability profile.
func (c *Controller) compileSwitch(p *model.Policy, t *model.Target, order []int) (*offload.TargetPlan, error) {
	if t == nil {
		return nil, fmt.Errorf("switch target not in the converted policy")
	}
	name := t.Profile
	if name == "" {
		name = "openconfig-switch"
	}
	caps, err := offload.LoadProfile(name)
	if err != nil {
		return nil, fmt.Errorf("switch %q: %w", t.Name, err)
	}
	tp, err := offload.CompileTarget(p, t, caps, order)
	if err != nil {
		return nil, fmt.Errorf("switch %q: compile: %w", t.Name, err)
	}
	return tp, nil
}

// planFingerprint identifies what a plan installs, without how the switch
// is reached (the Secret files move every round).
func planFingerprint(tp *offload.TargetPlan) string {
	return offload.Fingerprint(struct {
		Owner, Profile string
		Switch         *offload.SwitchCaps
		Classes        []offload.ClassPlan
		Rules          []offload.Rule
		Interfaces     []string
	}{tp.Owner, tp.Profile, tp.Switch, tp.Classes, tp.Rules, tp.Device.Interfaces})
}

// planPlacement counts the plan's classes and rules by where they run.
func planPlacement(tp *offload.TargetPlan) (v1alpha1.Placement, v1alpha1.PlacementCounts) {
	var n v1alpha1.PlacementCounts
	add := func(w offload.Where) {
		switch w.Placement {
		case offload.Hardware:
			n.Hardware++
		case offload.Software, offload.Socket:
			n.Software++
		case offload.Pacer:
			n.Pacer++
		case offload.Unsupported:
			n.Unsupported++
		}
	}
	for _, cl := range tp.Classes {
		add(cl.Where)
	}
	for _, r := range tp.Rules {
		add(r.Where)
	}
	return n.Least(), n
}

// maxMessage is the longest error message put on a status, in bytes.
const maxMessage = 1024
