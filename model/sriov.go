package model

import (
	"fmt"
	"strconv"
	"strings"
)

// SRIOV is per-VF QoS on a NIC target's physical function: minimum share,
// maximum rate, VLAN with PCP insertion and trust for VFs chosen by index or
// range, and (in switchdev mode) rate groups the VFs belong to.
type SRIOV struct {
	// Mode is "legacy" (rates and VLANs on the PF's VF table, IFLA_VF_*)
	// or "switchdev" (devlink rate leaves and groups); default legacy.
	Mode string `yaml:"mode" json:"mode,omitempty"`
	// Groups are devlink rate groups (switchdev only).
	Groups []VFGroup `yaml:"groups" json:"groups,omitempty"`
	VFs    []VFSpec  `yaml:"vfs" json:"vfs"`
}

// SRIOV modes.
const (
	SRIOVLegacy    = "legacy"
	SRIOVSwitchdev = "switchdev"
)

// VFGroup is a rate group: its members share Max and are guaranteed Min
// together. Rates in bit/s; zero means none.
type VFGroup struct {
	Name string `yaml:"name" json:"name"`
	Min  Rate   `yaml:"min" json:"min,omitempty"`
	Max  Rate   `yaml:"max" json:"max,omitempty"`
}

// VFSpec gives VFs their QoS. Min (the guaranteed share) and Max (the
// ceiling) are in bit/s, zero meaning none; without them a Class gives its
// rate as Min and its peak (or, for a shaped class, its rate) as Max.
type VFSpec struct {
	// VFs is a VF index ("3") or an inclusive range ("0-7").
	VFs   string `yaml:"vfs" json:"vfs"`
	Class string `yaml:"class" json:"class,omitempty"`
	Min   Rate   `yaml:"min" json:"min,omitempty"`
	Max   Rate   `yaml:"max" json:"max,omitempty"`
	// VLAN is inserted on the VF's traffic (0 = none), with PCP QoS.
	VLAN uint16 `yaml:"vlan" range:"0-4094" json:"vlan,omitempty"`
	QoS  *uint8 `yaml:"qos" range:"0-7" json:"qos,omitempty"`
	// Trust lets the VF change its MAC and enter promiscuous mode.
	Trust *bool `yaml:"trust" json:"trust,omitempty"`
	// Group is the rate group the VFs join (switchdev only).
	Group string `yaml:"group" json:"group,omitempty"`
}

// MaxVFIndex is the largest VF index a policy may name (PCIe SR-IOV allows
// at most 65535 VFs per PF; real NICs have far fewer).
const MaxVFIndex = 65534

// ParseVFRange reads "N" or "N-M" (N <= M) as an inclusive range of VF
// indexes.
func ParseVFRange(s string) (first, last int, err error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if first, err = strconv.Atoi(lo); err != nil || first < 0 || first > MaxVFIndex {
		return 0, 0, fmt.Errorf("%q is not a VF index or range (e.g. 3 or 0-7)", s)
	}
	last = first
	if isRange {
		if last, err = strconv.Atoi(hi); err != nil || last < first || last > MaxVFIndex {
			return 0, 0, fmt.Errorf("%q is not a VF range (first-last, first <= last <= %d)", s, MaxVFIndex)
		}
	}
	return first, last, nil
}

// Limits are a VF's effective minimum and maximum (bit/s, zero = none):
// the explicit ones, else the class's.
func (v *VFSpec) Limits(p *Policy) (minRate, maxRate Rate) {
	minRate, maxRate = v.Min, v.Max
	if c, ok := p.ClassByName(v.Class); ok {
		if minRate == 0 {
			minRate = c.Rate
		}
		if maxRate == 0 {
			maxRate = c.Peak
			if maxRate == 0 && c.NonConforming == Shape {
				maxRate = c.Rate
			}
		}
	}
	return minRate, maxRate
}

func validateSRIOV(p *Policy, r *reporter, path string, t *Target, classes map[string]int) {
	s := t.SRIOV
	if s == nil {
		return
	}
	path += ".sriov"
	switch s.Mode {
	case SRIOVLegacy, SRIOVSwitchdev:
	default:
		r.errorf(path+".mode", "unknown mode %q (use legacy or switchdev)", s.Mode)
	}
	groups := map[string]int{}
	for i, g := range s.Groups {
		gp := fmt.Sprintf("%s.groups[%d]", path, i)
		if s.Mode == SRIOVLegacy {
			r.errorf(gp, "rate groups need switchdev mode (devlink rate nodes)")
		}
		checkName(r, gp+".name", g.Name)
		if strings.Trim(g.Name, "0123456789") == "" && g.Name != "" {
			r.errorf(gp+".name", "%q: a group name cannot be all digits (devlink reads it as a port)", g.Name)
		}
		if j, dup := groups[g.Name]; dup {
			r.errorf(gp+".name", "group %q is already defined at %s.groups[%d]", g.Name, path, j)
		} else {
			groups[g.Name] = i
		}
		if g.Max != 0 && g.Min > g.Max {
			r.errorf(gp+".min", "%v is above max %v", g.Min, g.Max)
		}
	}
	if len(s.VFs) == 0 {
		r.errorf(path+".vfs", "sriov needs at least one vfs entry")
	}
	owner := map[int]int{}
	for i := range s.VFs {
		v := &s.VFs[i]
		vp := fmt.Sprintf("%s.vfs[%d]", path, i)
		first, last, err := ParseVFRange(v.VFs)
		if err != nil {
			r.errorf(vp+".vfs", "%v", err)
		} else {
			for n := first; n <= last; n++ {
				if j, dup := owner[n]; dup {
					r.errorf(vp+".vfs", "VF %d is already given QoS at %s.vfs[%d]", n, path, j)
					break
				}
				owner[n] = i
			}
		}
		if v.Class != "" {
			if _, ok := classes[v.Class]; !ok {
				r.errorf(vp+".class", "class %q is not defined%s", v.Class, nearest(v.Class, keys(classes)))
			}
		}
		if v.Group != "" {
			if s.Mode == SRIOVLegacy {
				r.errorf(vp+".group", "rate groups need switchdev mode")
			} else if _, ok := groups[v.Group]; !ok {
				r.errorf(vp+".group", "group %q is not defined%s", v.Group, nearest(v.Group, keys(groups)))
			}
		}
		if v.QoS != nil && v.VLAN == 0 {
			r.errorf(vp+".qos", "a PCP is inserted with a VLAN: set vlan too")
		}
		if v.Class == "" && v.Min == 0 && v.Max == 0 && v.VLAN == 0 && v.Trust == nil && v.Group == "" && !r.failedUnder(vp) {
			r.errorf(vp, "gives the VFs nothing: set class, min, max, vlan, trust or group")
		}
		if mn, mx := v.Limits(p); mx != 0 && mn > mx {
			r.errorf(vp+".min", "%v is above max %v", mn, mx)
		}
	}
}
