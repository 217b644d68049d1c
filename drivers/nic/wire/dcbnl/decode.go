package dcbnl

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/offload"
)

// IEEE is the device's IEEE 802.1Qaz settings as DCB_CMD_IEEE_GET
// returns them: the parts qosplane sets. Absent attributes stay nil.
type IEEE struct {
	ets     []byte // struct ieee_ets (59 bytes)
	maxrate []byte // struct ieee_maxrate: u64 kbit/s per TC
	pfc     []byte // struct ieee_pfc (136 bytes)
	apps    []offload.DSCPPrio
}

// ParseIEEE splits a raw DCB_ATTR_IEEE payload (as dcbGet returns it).
// App entries other than the DSCP selector are left out.
func ParseIEEE(raw []byte) (*IEEE, error) {
	m, err := nla.Map(raw)
	if err != nil {
		return nil, fmt.Errorf("dcbnl IEEE attributes: %w", err)
	}
	g := &IEEE{}
	if v := m[attrIEEEETS]; len(v) >= sizeofIEEEETS {
		g.ets = v
	}
	if v := m[attrIEEEMaxrate]; len(v) >= sizeofIEEEMaxrate {
		g.maxrate = v
	}
	if v := m[attrIEEEPFC]; len(v) >= 2 {
		g.pfc = v
	}
	nla.Each(m[attrIEEEAppTab], func(t uint16, d []byte) {
		// struct dcb_app: u8 selector, u8 priority, u16 protocol.
		if t == attrIEEEApp && len(d) >= 4 && d[0] == ieeeAppSelDSCP {
			g.apps = append(g.apps, offload.DSCPPrio{DSCP: uint8(nla.Native.Uint16(d[2:])), Priority: d[1]})
		}
	})
	return g, nil
}

// holds reports whether the device holds rec: the same ETS bandwidths,
// TSAs and priority map, max rates, PFC enable bits, and every app entry
// of rec (the table may hold others that are not qosplane's). A part the
// device does not report (a driver without ieee_getmaxrate, say) is not
// compared: it cannot be read back.
func (g *IEEE) Holds(rec *offload.DCB) bool {
	ets, err := ieeeETS(rec)
	if err != nil {
		return false
	}
	// tc_tx_bw at 3..10, tc_tsa and prio_tc at 19..34.
	if g.ets != nil && (!bytes.Equal(g.ets[3:11], ets[3:11]) || !bytes.Equal(g.ets[19:35], ets[19:35])) {
		return false
	}
	if g.maxrate != nil && !bytes.Equal(g.maxrate[:sizeofIEEEMaxrate], ieeeMaxrate(rec)) {
		return false
	}
	pfc, err := ieeePFC(rec)
	if err != nil || g.pfc != nil && g.pfc[1] != pfc[1] {
		return false
	}
	for _, e := range rec.App {
		if !slices.Contains(g.apps, e) {
			return false
		}
	}
	return true
}

// decode returns the settings as a plan DCB (max rates in bit/s), for a
// device that does not hold the recorded rec: Diff then sees a change.
// Parts the device does not report are rec's.
func (g *IEEE) Decode(rec *offload.DCB) *offload.DCB {
	d := &offload.DCB{PrioTC: rec.PrioTC, Strict: slices.Clone(rec.Strict), Bandwidth: rec.Bandwidth,
		MaxRate: rec.MaxRate, PFC: slices.Clone(rec.PFC), App: slices.Clone(g.apps)}
	if g.ets != nil {
		d.Strict = nil
		for tc := range 8 {
			d.Bandwidth[tc] = g.ets[3+tc]
			d.PrioTC[tc] = g.ets[27+tc]
			if g.ets[19+tc] == ieeeTSAStrict {
				d.Strict = append(d.Strict, tc)
			}
		}
	}
	if g.maxrate != nil {
		for tc := range 8 {
			d.MaxRate[tc] = nla.Native.Uint64(g.maxrate[8*tc:]) * 1000
		}
	}
	if g.pfc != nil {
		d.PFC = nil
		for p := range uint8(8) {
			if g.pfc[1]&(1<<p) != 0 {
				d.PFC = append(d.PFC, p)
			}
		}
	}
	return d
}

// PresentApps returns the entries of apps that the device's app table
// (a raw DCB_ATTR_IEEE payload) holds: deleting an absent entry fails
// with ENOENT, and one may be gone through drift.
func PresentApps(raw []byte, apps []offload.DSCPPrio) ([]offload.DSCPPrio, error) {
	g, err := ParseIEEE(raw)
	if err != nil {
		return nil, err
	}
	var out []offload.DSCPPrio
	for _, e := range apps {
		if slices.Contains(g.apps, e) {
			out = append(out, e)
		}
	}
	return out, nil
}
