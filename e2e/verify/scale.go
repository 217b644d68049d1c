package verify

import (
	"fmt"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// LabPort is the most port rate (bit/s) the lab runs a target at: the
// software pacer, the generator and the receiver share two cores with
// everything else, and every class is offered above its rate on top.
const LabPort = 200e6

// minDepth is the least depth in time of a class bucket in the lab.
const minDepth = 2 * time.Millisecond

// Setup is one target as the lab runs it.
type Setup struct {
	// Target is the policy's target name.
	Target string
	// Policy is the policy with every rate and size multiplied by Scale
	// and Targets holding the lab's bridge target alone.
	Policy *model.Policy
	// Plan is Policy compiled for the lab target: everything on the pacer.
	Plan *offload.TargetPlan
	// Scale is lab rate / policy rate, in (0, 1].
	Scale float64
	// Note says why the target was chosen (e.g. a switch target verified
	// as the pacer would carry its classes).
	Note string
}

// NewSetup scales p for target t and compiles it for the lab. p is not
// modified.
func NewSetup(p *model.Policy, t *model.Target) (*Setup, error) {
	capacity := float64(t.Capacity)
	if capacity == 0 {
		var sum float64
		for _, c := range p.Classes {
			sum += float64(max(c.Rate, c.Peak))
		}
		capacity = max(LabPort, 1.25*sum)
	}
	k := min(1, LabPort/capacity)
	lp := scalePolicy(p, k)
	lp.Targets = []model.Target{{
		Name: t.Name, Kind: model.NIC, Interface: vethlab.PacerIn, Profile: "none",
		Capacity: model.Rate(capacity * k), Classes: t.Classes,
		Fallback: model.Fallback{Mode: "bridge", Peer: vethlab.PacerOut, OnFailure: "block"},
	}}
	plan, err := offload.Compile(lp, func(*model.Target) (*offload.Capabilities, error) {
		return offload.LoadProfile("none")
	})
	if err != nil {
		return nil, fmt.Errorf("compile target %s for the lab: %w", t.Name, err)
	}
	if len(plan.Targets) != 1 || plan.Targets[0].Pacer == nil {
		return nil, fmt.Errorf("target %s: the lab plan has no pacer", t.Name)
	}
	return &Setup{Target: t.Name, Policy: lp, Plan: plan.Targets[0], Scale: k}, nil
}

// scalePolicy returns a copy of p whose rates are multiplied by k; bucket
// and burst sizes too, so that a class keeps its depth in time, but never
// below two MaxSDU (the pacer's least depth) nor, for a class bucket,
// minDepth at the class's lab rate: a 1 MiB bucket is 0.2 ms at 40 Gbit/s,
// shorter than the software pacer on a shared two-core machine may sleep
// past its release time, and a bucket that overflows meanwhile loses rate
// (the pacer would, at that rate, too; the lab judges the policy, not the
// machine's timer).
func scalePolicy(p *model.Policy, k float64) *model.Policy {
	q := *p
	rate := func(r model.Rate) model.Rate { return model.Rate(float64(r) * k) }
	size := func(s, least model.Size) model.Size {
		if s == 0 {
			return 0
		}
		return max(model.Size(float64(s)*k), least)
	}
	q.Classes = make([]model.Class, len(p.Classes))
	for i, c := range p.Classes {
		sdu := max(c.MaxSDU, 1518)
		c.Rate, c.Peak = rate(c.Rate), rate(c.Peak)
		c.Bucket = size(c.Bucket, max(2*sdu, model.Size(float64(c.Rate)/8*minDepth.Seconds())))
		q.Classes[i] = c
	}
	q.Flows = make([]model.Flow, len(p.Flows))
	for i, f := range p.Flows {
		if f.Police != nil {
			pol := *f.Police
			pol.Rate, pol.Burst = rate(pol.Rate), size(pol.Burst, 2*1518)
			f.Police = &pol
		}
		q.Flows[i] = f
	}
	return &q
}
