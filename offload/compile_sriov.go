package offload

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qosplane/qosplane/model"
)

// SRIOVCaps is what a PF takes for its VFs' QoS.
type SRIOVCaps struct {
	// Modes lists the SR-IOV modes the driver supports: "legacy" (the
	// PF's VF table: IFLA_VF_RATE in Mbit/s, IFLA_VF_VLAN_LIST, trust)
	// and "switchdev" (devlink rate leaves and groups, bytes/s on the
	// wire).
	Modes []string `yaml:"modes" json:"modes"`
	// RateGranularity: VF and group rates are multiples of it (bit/s);
	// legacy mode counts Mbit/s whatever it says.
	RateGranularity model.Rate `yaml:"rate-granularity" json:"rate_granularity,omitempty"`
	// MaxRate is the highest VF or group rate the device takes; zero =
	// the link speed.
	MaxRate model.Rate `yaml:"max-rate" json:"max_rate,omitempty"`
	// MinRate: the device takes a minimum share (tx_share, min_tx_rate).
	MinRate bool `yaml:"min-rate" json:"min_rate"`
	// VLANQoS: VF VLAN insertion with a PCP (legacy mode); Trust: VF
	// trust.
	VLANQoS bool `yaml:"vlan-qos" json:"vlan_qos"`
	Trust   bool `yaml:"trust" json:"trust"`
}

// SRIOVPlan is the per-VF QoS a PF carries. Rates are in bit/s after
// rounding to the device's granularity; zero means none.
type SRIOVPlan struct {
	Mode   string        `json:"mode"`
	Groups []VFGroupPlan `json:"groups,omitempty"`
	// VFs has one entry per VF, ascending by index.
	VFs   []VFPlan `json:"vfs"`
	Where Where    `json:"where"`
}

// VFGroupPlan is a devlink rate node (switchdev): its members share Max
// and are guaranteed Min together.
type VFGroupPlan struct {
	Name string     `json:"name"`
	Min  model.Rate `json:"min,omitempty"`
	Max  model.Rate `json:"max,omitempty"`
}

// VFPlan is one VF's QoS.
type VFPlan struct {
	VF    int        `json:"vf"`
	Class string     `json:"class,omitempty"`
	Min   model.Rate `json:"min,omitempty"`
	Max   model.Rate `json:"max,omitempty"`
	Group string     `json:"group,omitempty"`
	// VLAN (0 = none) is inserted with PCP QoS (legacy mode).
	VLAN  uint16 `json:"vlan,omitempty"`
	QoS   uint8  `json:"qos,omitempty"`
	Trust *bool  `json:"trust,omitempty"`
	Where Where  `json:"where"`
}

// legacyGranularity is IFLA_VF_RATE's unit: struct ifla_vf_rate counts
// Mbit/s.
const legacyGranularity = model.Rate(1_000_000)

// compileSRIOV places the target's VF QoS: each VF's limits rounded to the
// profile's granularity (legacy mode: whole Mbit/s) and clamped to its
// maximum, the minimums dropped when the device takes none, and the whole
// of it unsupported when the profile has no SR-IOV QoS or not this mode.
func (cc *compiler) compileSRIOV() {
	s := cc.t.SRIOV
	if s == nil {
		return
	}
	sp := &SRIOVPlan{Mode: s.Mode, Where: Where{Placement: Hardware}}
	cc.tp.SRIOV = sp
	c := cc.caps.SRIOV
	switch {
	case c == nil:
		sp.Where = Where{Placement: Unsupported, Reason: fmt.Sprintf("profile %s has no SR-IOV QoS", cc.caps.Profile)}
	case !slices.Contains(c.Modes, s.Mode):
		sp.Where = Where{Placement: Unsupported, Reason: fmt.Sprintf("profile %s has no SR-IOV %s mode (modes %v)", cc.caps.Profile, s.Mode, c.Modes)}
	}
	hw := sp.Where.Placement == Hardware
	if !hw {
		cc.notef("SR-IOV: %s", sp.Where.Reason)
		c = &SRIOVCaps{}
	}
	gran := c.RateGranularity
	if s.Mode == model.SRIOVLegacy {
		gran = legacyGranularity
	}
	limit := c.MaxRate
	if limit == 0 || (cc.tp.Capacity != 0 && cc.tp.Capacity < limit) {
		limit = cc.tp.Capacity
	}
	round := func(who, which string, r model.Rate) model.Rate {
		if r == 0 || !hw {
			return r
		}
		out := roundTo(r, gran, limit)
		if out != r {
			cc.notef("SR-IOV %s: %s %v rounded to %v (%s granularity %v, limit %v)", who, which, r, out, cc.caps.Profile, gran, limit)
		}
		return out
	}
	for _, g := range s.Groups {
		sp.Groups = append(sp.Groups, VFGroupPlan{
			Name: g.Name,
			Min:  round("group "+g.Name, "min", g.Min),
			Max:  round("group "+g.Name, "max", g.Max),
		})
	}
	for i := range s.VFs {
		v := &s.VFs[i]
		first, last, _ := model.ParseVFRange(v.VFs) // validated
		mn, mx := v.Limits(cc.p)
		for n := first; n <= last; n++ {
			who := fmt.Sprintf("VF %d", n)
			vp := VFPlan{VF: n, Class: v.Class, Group: v.Group, VLAN: v.VLAN, Trust: v.Trust, Where: sp.Where,
				Min: round(who, "min", mn), Max: round(who, "max", mx)}
			if v.QoS != nil {
				vp.QoS = *v.QoS
			}
			if hw {
				cc.vfPlace(&vp, c)
			}
			sp.VFs = append(sp.VFs, vp)
		}
	}
	slices.SortFunc(sp.VFs, func(a, b VFPlan) int { return a.VF - b.VF })
}

// vfPlace drops what the device cannot take from one VF and notes why; a
// VF left with nothing is unsupported.
func (cc *compiler) vfPlace(vp *VFPlan, c *SRIOVCaps) {
	var dropped []string
	if vp.Min != 0 && !c.MinRate {
		dropped = append(dropped, fmt.Sprintf("min %v (profile %s takes no VF minimum)", vp.Min, cc.caps.Profile))
		vp.Min = 0
	}
	if vp.VLAN != 0 && (!c.VLANQoS || cc.t.SRIOV.Mode != model.SRIOVLegacy) {
		dropped = append(dropped, fmt.Sprintf("vlan %d qos %d (VF VLAN insertion is a legacy-mode setting of profile %s)", vp.VLAN, vp.QoS, cc.caps.Profile))
		vp.VLAN, vp.QoS = 0, 0
	}
	if vp.Trust != nil && !c.Trust {
		dropped = append(dropped, fmt.Sprintf("trust (profile %s cannot set it)", cc.caps.Profile))
		vp.Trust = nil
	}
	if len(dropped) == 0 {
		return
	}
	reason := fmt.Sprintf("not in hardware: %s", strings.Join(dropped, "; "))
	cc.notef("SR-IOV VF %d: %s", vp.VF, reason)
	if vp.Min == 0 && vp.Max == 0 && vp.Group == "" && vp.VLAN == 0 && vp.Trust == nil {
		vp.Where = Where{Placement: Unsupported, Reason: reason}
	}
}

// roundTo rounds r to the nearest multiple of g (at least g) and clamps it
// to limit (rounded down to a multiple of g); g <= 1 or limit 0 skip that
// part.
func roundTo(r, g, limit model.Rate) model.Rate {
	out := r
	if g > 1 {
		out = (r + g/2) / g * g
		if out == 0 {
			out = g
		}
	}
	if limit != 0 && out > limit {
		out = limit / max(g, 1) * max(g, 1)
	}
	return out
}
