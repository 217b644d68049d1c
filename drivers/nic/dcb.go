package nic

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/dcbnl"
	"github.com/qosplane/qosplane/offload"
)

// dcbGet reads the device's IEEE settings: the raw DCB_ATTR_IEEE payload.
func (c *conn) dcbGet(ifname string) ([]byte, error) {
	msgs, err := c.request(dcbnl.RTMGetDCB, dcbnl.EncodeGet(ifname))
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		v, ok, err := dcbnl.IEEEOf(m)
		if err != nil {
			return nil, err
		}
		if ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("dcbnl: no IEEE attributes in the reply")
}

// dcbSetRaw sends a DCB_CMD_IEEE_SET with the ETS, PFC and maxrate of a
// raw DCB_ATTR_IEEE payload (as dcbGet returned it).
func (c *conn) dcbSetRaw(ifname string, ieee []byte) error {
	body, err := dcbnl.EncodeSetRaw(ifname, ieee)
	if err != nil {
		return err
	}
	return c.dcbWrite(body)
}

// dcbWrite sends a set/del. dcbnl answers with an RTM_SETDCB message whose
// DCB_ATTR_IEEE is the status (0 = ok), followed by the ack.
func (c *conn) dcbWrite(body []byte) error {
	c.writes.Add(1)
	err := c.roundtrip(dcbnl.RTMSetDCB, unix.NLM_F_ACK, body, dcbnl.Status)
	if err != nil {
		err = fmt.Errorf("dcbnl: %w", err)
		if refusal(err) {
			err = fmt.Errorf("%w: %w", ErrOffloadRefused, err)
		}
	}
	return err
}

// dcbStep sets, changes or removes the DCB configuration. The device's
// settings before qosplane's first one are kept (PrevDCB) and put back by
// a delete; app entries qosplane added are deleted, the previous ones
// re-added.
func (d *Driver) dcbStep(ns *state, op offload.Op) ([]step, error) {
	ifname := d.dev.Interface
	prev, err := d.c.dcbGet(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: dcbnl IEEE get on %s: %w", ErrOffloadRefused, ifname, err)
	}
	if ns.PrevDCB == nil {
		ns.PrevDCB = prev
	}
	var old *offload.DCB
	if ns.DCB != nil {
		c := *ns.DCB
		old = &c
	}
	var steps []step
	var oldApps []offload.DSCPPrio
	if old != nil {
		if oldApps, err = dcbnl.PresentApps(prev, old.App); err != nil {
			return nil, fmt.Errorf("dcbnl IEEE get on %s: %w", ifname, err)
		}
	}
	if len(oldApps) > 0 {
		apps := oldApps
		steps = append(steps, step{desc: "delete DCB app entries",
			do:   func() error { return d.c.dcbWrite(dcbnl.EncodeDelApps(ifname, apps)) },
			undo: func() error { return d.c.dcbWrite(dcbnl.EncodeSetApps(ifname, apps)) }})
	}
	switch op.Kind {
	case offload.Add, offload.Change:
		if op.NewDCB == nil {
			return nil, fmt.Errorf("%s dcb: no configuration", op.Kind)
		}
		body, err := dcbnl.EncodeSet(ifname, op.NewDCB)
		if err != nil {
			return nil, fmt.Errorf("dcb: %w", err)
		}
		apps := op.NewDCB.App
		// dcbnl applies ETS, maxrate, PFC and apps one by one: a failure
		// can leave the first ones set, so the failed step is undone too.
		steps = append(steps, step{desc: "set DCB (ETS, PFC, maxrate, app)", partial: true,
			do: func() error { return d.c.dcbWrite(body) },
			undo: func() error {
				if len(apps) > 0 {
					// Some may not have been added: best effort.
					_ = d.c.dcbWrite(dcbnl.EncodeDelApps(ifname, apps))
				}
				return d.c.dcbSetRaw(ifname, prev)
			}})
		c := *op.NewDCB
		ns.DCB = &c
	case offload.Delete:
		p := ns.PrevDCB
		steps = append(steps, step{desc: "restore DCB", partial: true,
			do:   func() error { return d.c.dcbSetRaw(ifname, p) },
			undo: func() error { return d.c.dcbSetRaw(ifname, prev) }})
		ns.DCB, ns.PrevDCB = nil, nil
	}
	return steps, nil
}
