package agent

import (
	"context"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Target names a device to open a driver for. It is plan-level data: a
// driver never sees the policy.
type Target struct {
	Name    string
	Kind    model.TargetKind
	Owner   string
	Profile string // the policy's profile for the target, "" to probe
	Device  offload.Device
}

// Factory opens drivers. The agent calls Open once per target and OpenPacer
// when a target's plan is placed on the software pacer.
type Factory interface {
	Open(ctx context.Context, t Target) (offload.Driver, error)
	OpenPacer(ctx context.Context, tp *offload.TargetPlan) (offload.Driver, error)
}
