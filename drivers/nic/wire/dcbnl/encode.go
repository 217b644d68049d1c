// Package dcbnl encodes and decodes IEEE 802.1Qaz DCB over rtnetlink
// (RTM_GETDCB / RTM_SETDCB, DCB_CMD_IEEE_GET/SET/DEL: ETS, PFC, maxrate and
// the DSCP app table), which no Go library here covers. Units: the plan's
// max rates are bit/s, struct ieee_maxrate carries kbit/s.
package dcbnl

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/offload"
)

// msg returns an RTM_SETDCB / RTM_GETDCB body: struct dcbmsg (family
// AF_UNSPEC, cmd, pad) and DCB_ATTR_IFNAME.
func msg(cmd uint8, ifname string) nla.Builder {
	a := nla.Builder{B: []byte{unix.AF_UNSPEC, cmd, 0, 0}}
	a.Str(attrIfname, ifname)
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
		b = nla.Native.AppendUint64(b, r/1000)
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

// EncodeSet returns the DCB_CMD_IEEE_SET request body for d.
func EncodeSet(ifname string, d *offload.DCB) ([]byte, error) {
	ets, err := ieeeETS(d)
	if err != nil {
		return nil, err
	}
	pfc, err := ieeePFC(d)
	if err != nil {
		return nil, err
	}
	a := msg(cmdIEEESet, ifname)
	var appErr error
	a.Nest(AttrIEEE, func() {
		a.Raw(attrIEEEETS, ets)
		a.Raw(attrIEEEPFC, pfc)
		a.Raw(attrIEEEMaxrate, ieeeMaxrate(d))
		if len(d.App) > 0 {
			a.Nest(attrIEEEAppTab, func() {
				for _, e := range d.App {
					if e.DSCP > 63 || e.Priority > 7 {
						appErr = fmt.Errorf("app entry DSCP %d -> priority %d out of range", e.DSCP, e.Priority)
					}
					a.Raw(attrIEEEApp, app(e))
				}
			})
		}
	})
	return a.B, appErr
}

// dcbApp returns struct dcb_app: selector (5 = DSCP), priority, protocol
// (the DSCP value, u16).
func app(e offload.DSCPPrio) []byte {
	return nla.Native.AppendUint16([]byte{ieeeAppSelDSCP, e.Priority}, uint16(e.DSCP))
}

// EncodeDelApps returns a DCB_CMD_IEEE_DEL body removing apps.
func EncodeDelApps(ifname string, apps []offload.DSCPPrio) []byte {
	a := msg(cmdIEEEDel, ifname)
	a.Nest(AttrIEEE, func() {
		a.Nest(attrIEEEAppTab, func() {
			for _, e := range apps {
				a.Raw(attrIEEEApp, app(e))
			}
		})
	})
	return a.B
}

// EncodeSetApps returns a DCB_CMD_IEEE_SET body that adds app entries
// only.
func EncodeSetApps(ifname string, apps []offload.DSCPPrio) []byte {
	a := msg(cmdIEEESet, ifname)
	a.Nest(AttrIEEE, func() {
		a.Nest(attrIEEEAppTab, func() {
			for _, e := range apps {
				a.Raw(attrIEEEApp, app(e))
			}
		})
	})
	return a.B
}

// EncodeGet returns the DCB_CMD_IEEE_GET request body (RTM_GETDCB).
func EncodeGet(ifname string) []byte {
	a := msg(cmdIEEEGet, ifname)
	return a.B
}

// EncodeSetRaw returns a DCB_CMD_IEEE_SET body with the ETS, PFC and
// maxrate of a raw DCB_ATTR_IEEE payload (as a get's reply carries it).
func EncodeSetRaw(ifname string, ieee []byte) ([]byte, error) {
	m, err := nla.Map(ieee)
	if err != nil {
		return nil, err
	}
	a := msg(cmdIEEESet, ifname)
	a.Nest(AttrIEEE, func() {
		for _, t := range []uint16{attrIEEEETS, attrIEEEPFC, attrIEEEMaxrate} {
			if v, ok := m[t]; ok {
				a.Raw(t, v)
			}
		}
	})
	return a.B, nil
}

// IEEEOf returns the DCB_ATTR_IEEE payload of a reply (struct dcbmsg and
// attributes), and whether it has one.
func IEEEOf(reply []byte) ([]byte, bool, error) {
	if len(reply) < 4 {
		return nil, false, nil
	}
	am, err := nla.Map(reply[4:])
	if err != nil {
		return nil, false, err
	}
	v, ok := am[AttrIEEE]
	return v, ok, nil
}

// Status reads the reply to a set or delete: dcbnl acks success and
// reports the driver's refusal as a negative errno in a u8
// DCB_ATTR_IEEE.
func Status(reply []byte) error {
	v, _, err := IEEEOf(reply)
	if err != nil {
		return err
	}
	if len(v) >= 1 && v[0] != 0 {
		return fmt.Errorf("device refused the IEEE DCB settings (%w)", unix.Errno(256-int(v[0])))
	}
	return nil
}
