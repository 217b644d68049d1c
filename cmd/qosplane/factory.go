package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/drivers/nic"
	"github.com/qosplane/qosplane/fallback/datapath"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// drivers opens the real drivers: Linux NICs over netlink, switches over
// gNMI, and the software pacer.
type drivers struct {
	log *slog.Logger
}

func (f drivers) Open(ctx context.Context, t agent.Target) (offload.Driver, error) {
	log := f.log.With("target", t.Name)
	switch t.Kind {
	case model.NIC:
		return nic.Open(t.Device, t.Owner, t.Profile, log)
	case model.Switch:
		profile := t.Profile
		if profile == "" {
			profile = "openconfig-switch"
		}
		return gnmi.Open(ctx, &offload.TargetPlan{Target: t.Name, Kind: t.Kind, Owner: t.Owner, Profile: profile, Device: t.Device}, log)
	}
	return nil, fmt.Errorf("no driver for target kind %q", t.Kind)
}

func (f drivers) OpenPacer(_ context.Context, tp *offload.TargetPlan) (offload.Driver, error) {
	return datapath.NewDriver(tp, f.log.With("target", tp.Target))
}
