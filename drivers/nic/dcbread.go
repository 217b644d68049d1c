package nic

import (
	"fmt"

	"github.com/qosplane/qosplane/drivers/nic/wire/dcbnl"
	"github.com/qosplane/qosplane/offload"
)

// deviceDCB reads the device's DCB with RTM_GETDCB (a get, not a write)
// and returns rec when the device holds it, else what the device holds,
// so that a change made behind qosplane's back (iproute2's dcb, another
// netlink client) shows in Diff and the next Apply repairs it.
func (d *Driver) deviceDCB(rec *offload.DCB) (*offload.DCB, error) {
	raw, err := d.c.dcbGet(d.dev.Interface)
	if err != nil {
		return nil, fmt.Errorf("dcbnl IEEE get on %s: %w", d.dev.Interface, err)
	}
	g, err := dcbnl.ParseIEEE(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.dev.Interface, err)
	}
	if g.Holds(rec) {
		c := *rec
		return &c, nil
	}
	dev := g.Decode(rec)
	d.log.Info("DCB on the device differs from the recorded one", "device", dev)
	return dev, nil
}

// deviceHoldsDCB reports whether the device's DCB (RTM_GETDCB) is want; a
// failed read is a no.
func (d *Driver) deviceHoldsDCB(want *offload.DCB) bool {
	raw, err := d.c.dcbGet(d.dev.Interface)
	if err != nil {
		return false
	}
	g, err := dcbnl.ParseIEEE(raw)
	return err == nil && g.Holds(want)
}
