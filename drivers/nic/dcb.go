package nic

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/offload"
)

// dcbMsg returns an RTM_SETDCB / RTM_GETDCB body: struct dcbmsg (family
// AF_UNSPEC, cmd, pad) and DCB_ATTR_IFNAME.
func dcbMsg(cmd uint8, ifname string) nla.Builder {
	a := nla.Builder{B: []byte{unix.AF_UNSPEC, cmd, 0, 0}}
	a.Str(dcbAttrIfname, ifname)
	return a
}

// ieeeETS returns struct ieee_ets (59 bytes): willing, ets_cap, cbs, then
// tc_tx_bw, tc_rx_bw, tc_tsa, prio_tc, tc_reco_bw, tc_reco_tsa and
// reco_prio_tc, 8 bytes each. Strict TCs get TSA strict (0), the others
// ETS (2) with their bandwidth share in percent.
func ieeeETS(d *offload.DCB) ([]byte, error) {
	b := make([]byte, sizeofIEEEETS)
	var sum int
	for tc := range 8 {
		b[3+tc] = d.Bandwidth[tc]
		b[11+tc] = d.Bandwidth[tc]
		if slices.Contains(d.Strict, tc) {
			b[19+tc] = ieeeTSAStrict
			if d.Bandwidth[tc] != 0 {
				return nil, fmt.Errorf("TC %d is strict and has an ETS share of %d%%", tc, d.Bandwidth[tc])
			}
		} else {
			b[19+tc] = ieeeTSAETS
			sum += int(d.Bandwidth[tc])
		}
		if d.PrioTC[tc] > 7 {
			return nil, fmt.Errorf("priority %d maps to TC %d (0-7)", tc, d.PrioTC[tc])
		}
		b[27+tc] = d.PrioTC[tc]
	}
	if sum != 100 && sum != 0 {
		return nil, fmt.Errorf("ETS shares sum to %d%%, want 100", sum)
	}
	return b, nil
}

// ieeeMaxrate returns struct ieee_maxrate: u64 tc_maxrate[8] in kbit/s
// (the plan has bit/s; 0 is unlimited).
func ieeeMaxrate(d *offload.DCB) []byte {
	b := make([]byte, 0, sizeofIEEEMaxrate)
	for _, r := range d.MaxRate {
		b = native.AppendUint64(b, r/1000)
	}
	return b
}

// ieeePFC returns struct ieee_pfc (136 bytes): pfc_cap, pfc_en (bit per
// priority), mbc, pad, delay (u16 at 4), requests[8], indications[8].
func ieeePFC(d *offload.DCB) ([]byte, error) {
	b := make([]byte, sizeofIEEEPFC)
	for _, p := range d.PFC {
		if p > 7 {
			return nil, fmt.Errorf("PFC priority %d out of range 0-7", p)
		}
		b[1] |= 1 << p
	}
	return b, nil
}

// encodeDCBSet returns the DCB_CMD_IEEE_SET request body for d.
func encodeDCBSet(ifname string, d *offload.DCB) ([]byte, error) {
	ets, err := ieeeETS(d)
	if err != nil {
		return nil, err
	}
	pfc, err := ieeePFC(d)
	if err != nil {
		return nil, err
	}
	a := dcbMsg(dcbCmdIEEESet, ifname)
	var appErr error
	a.Nest(dcbAttrIEEE, func() {
		a.Raw(dcbAttrIEEEETS, ets)
		a.Raw(dcbAttrIEEEPFC, pfc)
		a.Raw(dcbAttrIEEEMaxrate, ieeeMaxrate(d))
		if len(d.App) > 0 {
			a.Nest(dcbAttrIEEEAppTab, func() {
				for _, e := range d.App {
					if e.DSCP > 63 || e.Priority > 7 {
						appErr = fmt.Errorf("app entry DSCP %d -> priority %d out of range", e.DSCP, e.Priority)
					}
					a.Raw(dcbAttrIEEEApp, dcbApp(e))
				}
			})
		}
	})
	return a.B, appErr
}

// dcbApp returns struct dcb_app: selector (5 = DSCP), priority, protocol
// (the DSCP value, u16).
func dcbApp(e offload.DSCPPrio) []byte {
	return native.AppendUint16([]byte{ieeeAppSelDSCP, e.Priority}, uint16(e.DSCP))
}

// encodeDCBDelApps returns a DCB_CMD_IEEE_DEL body removing apps.
func encodeDCBDelApps(ifname string, apps []offload.DSCPPrio) []byte {
	a := dcbMsg(dcbCmdIEEEDel, ifname)
	a.Nest(dcbAttrIEEE, func() {
		a.Nest(dcbAttrIEEEAppTab, func() {
			for _, e := range apps {
				a.Raw(dcbAttrIEEEApp, dcbApp(e))
			}
		})
	})
	return a.B
}

// dcbGet reads the device's IEEE settings: the raw DCB_ATTR_IEEE payload.
func (c *conn) dcbGet(ifname string) ([]byte, error) {
	a := dcbMsg(dcbCmdIEEEGet, ifname)
	msgs, err := c.request(rtmGetDCB, a.B)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if len(m) < 4 {
			continue
		}
		am, err := nla.Map(m[4:])
		if err != nil {
			return nil, err
		}
		if v, ok := am[dcbAttrIEEE]; ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("dcbnl: no IEEE attributes in the reply")
}

// dcbSetRaw sends a DCB_CMD_IEEE_SET with the ETS, PFC and maxrate of a
// raw DCB_ATTR_IEEE payload (as dcbGet returned it).
func (c *conn) dcbSetRaw(ifname string, ieee []byte) error {
	m, err := nla.Map(ieee)
	if err != nil {
		return err
	}
	a := dcbMsg(dcbCmdIEEESet, ifname)
	a.Nest(dcbAttrIEEE, func() {
		for _, t := range []uint16{dcbAttrIEEEETS, dcbAttrIEEEPFC, dcbAttrIEEEMaxrate} {
			if v, ok := m[t]; ok {
				a.Raw(t, v)
			}
		}
	})
	return c.dcbWrite(a.B)
}

// dcbWrite sends a set/del. dcbnl answers with an RTM_SETDCB message whose
// DCB_ATTR_IEEE is the status (0 = ok), followed by the ack.
func (c *conn) dcbWrite(body []byte) error {
	c.writes.Add(1)
	err := c.roundtrip(rtmSetDCB, unix.NLM_F_ACK, body, func(m []byte) error {
		// dcbnl acks success and reports the driver's error as a u8
		// in the reply's DCB_ATTR_IEEE.
		if len(m) < 4 {
			return nil
		}
		am, err := nla.Map(m[4:])
		if err != nil {
			return err
		}
		if v := am[dcbAttrIEEE]; len(v) >= 1 && v[0] != 0 {
			return fmt.Errorf("device refused the IEEE DCB settings (%w)", unix.Errno(256-int(v[0])))
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("dcbnl: %w", err)
		if refusal(err) {
			err = fmt.Errorf("%w: %w", ErrOffloadRefused, err)
		}
	}
	return err
}

// encodeDCBSetApps returns a DCB_CMD_IEEE_SET body that adds app entries
// only.
func encodeDCBSetApps(ifname string, apps []offload.DSCPPrio) []byte {
	a := dcbMsg(dcbCmdIEEESet, ifname)
	a.Nest(dcbAttrIEEE, func() {
		a.Nest(dcbAttrIEEEAppTab, func() {
			for _, e := range apps {
				a.Raw(dcbAttrIEEEApp, dcbApp(e))
			}
		})
	})
	return a.B
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
		if oldApps, err = presentApps(prev, old.App); err != nil {
			return nil, fmt.Errorf("dcbnl IEEE get on %s: %w", ifname, err)
		}
	}
	if len(oldApps) > 0 {
		apps := oldApps
		steps = append(steps, step{desc: "delete DCB app entries",
			do:   func() error { return d.c.dcbWrite(encodeDCBDelApps(ifname, apps)) },
			undo: func() error { return d.c.dcbWrite(encodeDCBSetApps(ifname, apps)) }})
	}
	switch op.Kind {
	case offload.Add, offload.Change:
		if op.NewDCB == nil {
			return nil, fmt.Errorf("%s dcb: no configuration", op.Kind)
		}
		body, err := encodeDCBSet(ifname, op.NewDCB)
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
					_ = d.c.dcbWrite(encodeDCBDelApps(ifname, apps))
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
