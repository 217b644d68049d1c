package nic

import (
	"fmt"
	"maps"
	"slices"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// vfSettings is what the device holds of one VF's QoS. Rates in bit/s
// (zero = none); Group is the devlink rate parent (switchdev); VLAN, QoS
// and Trust are the legacy VF table's.
type vfSettings struct {
	Min   model.Rate `json:"min,omitempty"`
	Max   model.Rate `json:"max,omitempty"`
	Group string     `json:"group,omitempty"`
	VLAN  uint16     `json:"vlan,omitempty"`
	QoS   uint8      `json:"qos,omitempty"`
	Trust bool       `json:"trust,omitempty"`
}

// sriovState is what the driver installed on the PF's VFs and what each
// VF held before it was first touched (restored when its QoS goes).
type sriovState struct {
	Mode   string                         `json:"mode"`
	Groups map[string]offload.VFGroupPlan `json:"groups,omitempty"`
	VFs    map[int]offload.VFPlan         `json:"vfs,omitempty"`
	Prev   map[int]vfSettings             `json:"prev,omitempty"`
}

// vfBackend reads and writes VF QoS in one SR-IOV mode. write changes
// only what differs between from and to, and counts its requests.
type vfBackend interface {
	read(vf int) (vfSettings, error)
	write(vf int, from, to vfSettings) error
	groups() (map[string]offload.VFGroupPlan, error)
	addGroup(g offload.VFGroupPlan) error
	setGroup(from, to offload.VFGroupPlan) error
	delGroup(name string) error
}

// vfBackendFor opens the backend of mode on the driver's PF.
func (d *Driver) vfBackendFor(mode string) (vfBackend, error) {
	switch mode {
	case model.SRIOVLegacy:
		return d.legacyVFs()
	case model.SRIOVSwitchdev:
		return d.devlinkRates()
	}
	return nil, fmt.Errorf("unknown SR-IOV mode %q", mode)
}

// settingsOf is what plan v asks of the device; trust is taken from cur
// when the plan does not manage it.
func settingsOf(v *offload.VFPlan, cur vfSettings) vfSettings {
	s := vfSettings{Min: v.Min, Max: v.Max, Group: v.Group, VLAN: v.VLAN, QoS: v.QoS, Trust: cur.Trust}
	if v.Trust != nil {
		s.Trust = *v.Trust
	}
	return s
}

// vfSteps translates one VF or group op into steps with their undo,
// reading the device's current settings now, and records it in ns.
func (d *Driver) vfSteps(ns *state, op offload.Op, backends map[string]vfBackend) ([]step, error) {
	b, ok := backends[op.SRIOVMode]
	if !ok {
		var err error
		if b, err = d.vfBackendFor(op.SRIOVMode); err != nil {
			return nil, err
		}
		backends[op.SRIOVMode] = b
	}
	if ns.SRIOV == nil || ns.SRIOV.Mode != op.SRIOVMode {
		if ns.SRIOV != nil && (len(ns.SRIOV.VFs) > 0 || len(ns.SRIOV.Groups) > 0) && op.Kind != offload.Delete {
			return nil, fmt.Errorf("%s: SR-IOV mode %s while %s objects are installed", op.ID, op.SRIOVMode, ns.SRIOV.Mode)
		}
		if ns.SRIOV == nil || op.Kind != offload.Delete {
			ns.SRIOV = &sriovState{Mode: op.SRIOVMode}
		}
	}
	ss := ns.SRIOV
	if ss.Groups == nil {
		ss.Groups, ss.VFs, ss.Prev = map[string]offload.VFGroupPlan{}, map[int]offload.VFPlan{}, map[int]vfSettings{}
	}
	switch op.Object {
	case offload.ObjVFGroup:
		return d.groupSteps(ss, op, b)
	case offload.ObjVF:
		n := 0
		if op.NewVF != nil {
			n = op.NewVF.VF
		} else if op.OldVF != nil {
			n = op.OldVF.VF
		} else {
			return nil, fmt.Errorf("%s: no VF", op.ID)
		}
		cur, err := b.read(n)
		if err != nil {
			return nil, err
		}
		if _, seen := ss.Prev[n]; !seen {
			ss.Prev[n] = cur
		}
		to := ss.Prev[n]
		if op.Kind != offload.Delete {
			to = settingsOf(op.NewVF, cur)
			ss.VFs[n] = *op.NewVF
		} else {
			delete(ss.VFs, n)
			delete(ss.Prev, n)
		}
		from := cur
		return []step{{
			desc:    fmt.Sprintf("%s %s (%s)", op.Kind, op.ID, op.SRIOVMode),
			do:      func() error { return b.write(n, from, to) },
			undo:    func() error { return b.write(n, to, from) },
			partial: true,
		}}, nil
	}
	return nil, fmt.Errorf("unknown object %q", op.Object)
}

func (d *Driver) groupSteps(ss *sriovState, op offload.Op, b vfBackend) ([]step, error) {
	desc := fmt.Sprintf("%s rate group %q", op.Kind, op.ID)
	switch op.Kind {
	case offload.Add:
		g := *op.NewVFGroup
		ss.Groups[g.Name] = g
		return []step{{desc: desc, do: func() error { return b.addGroup(g) }, undo: func() error { return b.delGroup(g.Name) }}}, nil
	case offload.Change:
		from, to := *op.OldVFGroup, *op.NewVFGroup
		ss.Groups[to.Name] = to
		return []step{{desc: desc, do: func() error { return b.setGroup(from, to) }, undo: func() error { return b.setGroup(to, from) }, partial: true}}, nil
	default:
		g := *op.OldVFGroup
		delete(ss.Groups, g.Name)
		return []step{{desc: desc, do: func() error { return b.delGroup(g.Name) }, undo: func() error { return b.addGroup(g) }}}, nil
	}
}

// currentSRIOV reads back what the state says the driver installed: each
// recorded VF as the device holds it now, and the recorded groups that
// exist. A VF or group changed behind qosplane's back shows as changed,
// so Diff puts it right.
func (d *Driver) currentSRIOV(st *state) (*offload.SRIOVPlan, error) {
	ss := st.SRIOV
	if ss == nil || (len(ss.VFs) == 0 && len(ss.Groups) == 0) {
		if !d.canAdopt() {
			return nil, nil
		}
		var err error
		if ss, err = d.adoptSRIOV(); ss == nil || err != nil {
			return nil, err
		}
		d.adoptedSRIOV = ss
	}
	b, err := d.vfBackendFor(ss.Mode)
	if err != nil {
		return nil, err
	}
	sp := &offload.SRIOVPlan{Mode: ss.Mode, Where: offload.Where{Placement: offload.Hardware}}
	if len(ss.Groups) > 0 {
		have, err := b.groups()
		if err != nil {
			return nil, err
		}
		for _, name := range slices.Sorted(maps.Keys(ss.Groups)) {
			if g, ok := have[name]; ok {
				sp.Groups = append(sp.Groups, g)
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(ss.VFs)) {
		rec := ss.VFs[n]
		s, err := b.read(n)
		if err != nil {
			return nil, err
		}
		v := offload.VFPlan{VF: n, Class: rec.Class, Min: s.Min, Max: s.Max, Group: s.Group, VLAN: s.VLAN, QoS: s.QoS,
			Where: offload.Where{Placement: offload.Hardware}}
		if rec.Trust != nil {
			t := s.Trust
			v.Trust = &t
		}
		sp.VFs = append(sp.VFs, v)
	}
	return sp, nil
}

// removeSRIOV puts every recorded VF back as it was before qosplane
// touched it (leaving its group first), then deletes the recorded groups.
func (d *Driver) removeSRIOV(st *state) []error {
	ss := st.SRIOV
	if ss == nil || (len(ss.VFs) == 0 && len(ss.Groups) == 0) {
		return nil
	}
	b, err := d.vfBackendFor(ss.Mode)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, n := range slices.Sorted(maps.Keys(ss.VFs)) {
		cur, err := b.read(n)
		if err == nil {
			err = b.write(n, cur, ss.Prev[n])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("VF %d: %w", n, err))
		}
	}
	have, err := b.groups()
	if err != nil {
		return append(errs, err)
	}
	for _, name := range slices.Sorted(maps.Keys(ss.Groups)) {
		if _, ok := have[name]; !ok {
			continue
		}
		if err := b.delGroup(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// adoptSRIOV finds, while the state file is missing, the reference plan's
// VFs and groups that the device holds exactly as planned (a restart that
// lost /run): they are reported as installed, so re-applying writes
// nothing. What they held before qosplane is unknown: Remove then clears
// them (no rates, no VLAN, trust off, no group).
func (d *Driver) adoptSRIOV() (*sriovState, error) {
	ref := d.ref.SRIOV
	if ref == nil || ref.Where.Placement != offload.Hardware {
		return nil, nil
	}
	b, err := d.vfBackendFor(ref.Mode)
	if err != nil {
		return nil, err
	}
	ss := &sriovState{Mode: ref.Mode, Groups: map[string]offload.VFGroupPlan{}, VFs: map[int]offload.VFPlan{}, Prev: map[int]vfSettings{}}
	if len(ref.Groups) > 0 {
		have, err := b.groups()
		if err != nil {
			return nil, err
		}
		for _, g := range ref.Groups {
			if have[g.Name] == g {
				ss.Groups[g.Name] = g
			}
		}
	}
	for _, v := range ref.VFs {
		if v.Where.Placement != offload.Hardware {
			continue
		}
		cur, err := b.read(v.VF)
		if err != nil {
			continue // no such VF (yet): nothing to adopt
		}
		if settingsOf(&v, cur) == cur {
			ss.VFs[v.VF] = v
			ss.Prev[v.VF] = vfSettings{}
		}
	}
	if len(ss.VFs) == 0 && len(ss.Groups) == 0 {
		return nil, nil
	}
	d.log.Info("VF QoS found on the device without the state file", "vfs", len(ss.VFs), "groups", len(ss.Groups))
	return ss, nil
}
