package nic

import (
	"fmt"

	"github.com/qosplane/qosplane/drivers/nic/devlink"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// devlinkRates is the PF's devlink rate objects (switchdev mode): a leaf
// per VF representor port, nodes for the groups.
type devlinkRates struct {
	c     *devlink.Client
	dev   devlink.Device
	ports map[int]uint32 // VF number -> devlink port index
	// snap is the device's rate objects from one dump, read when first
	// needed and dropped by every write (a backend lives for one Apply,
	// Current or Remove).
	snap map[devlink.Object]devlink.Rate
}

func (r *devlinkRates) rates() (map[devlink.Object]devlink.Rate, error) {
	if r.snap == nil {
		rs, err := r.c.Rates(r.dev)
		if err != nil {
			return nil, err
		}
		r.snap = make(map[devlink.Object]devlink.Rate, len(rs))
		for _, rt := range rs {
			r.snap[rt.Object] = rt
		}
	}
	return r.snap, nil
}

// devlinkRates opens (once per driver) the devlink socket and finds the
// PF's devlink device and its VF ports.
func (d *Driver) devlinkRates() (vfBackend, error) {
	if d.dl == nil {
		c, err := devlink.Open()
		if err != nil {
			return nil, err
		}
		d.dl = c
	}
	dev, err := d.dl.DeviceOf(d.dev.Interface)
	if err != nil {
		return nil, err
	}
	ports, err := d.dl.VFPorts(dev)
	if err != nil {
		return nil, err
	}
	return &devlinkRates{c: d.dl, dev: dev, ports: ports}, nil
}

func (r *devlinkRates) leaf(vf int) (devlink.Object, error) {
	p, ok := r.ports[vf]
	if !ok {
		return devlink.Object{}, fmt.Errorf("devlink %s has no port for VF %d (sriov_numvfs, switchdev mode)", r.dev, vf)
	}
	return devlink.Leaf(r.dev, p), nil
}

func (r *devlinkRates) read(vf int) (vfSettings, error) {
	o, err := r.leaf(vf)
	if err != nil {
		return vfSettings{}, err
	}
	snap, err := r.rates()
	if err != nil {
		return vfSettings{}, err
	}
	rt, ok := snap[o]
	if !ok {
		return vfSettings{}, fmt.Errorf("devlink rate %s: %w", o, devlink.ErrNotFound)
	}
	return vfSettings{Min: model.Rate(rt.TxShare), Max: model.Rate(rt.TxMax), Group: rt.Parent}, nil
}

func (r *devlinkRates) write(vf int, from, to vfSettings) error {
	if to.VLAN != 0 || to.Trust != from.Trust {
		return fmt.Errorf("VF %d: VLAN and trust are legacy-mode settings", vf)
	}
	o, err := r.leaf(vf)
	if err != nil {
		return err
	}
	r.snap = nil
	ch := limitChange(from.Min, from.Max, to.Min, to.Max)
	if from.Group != to.Group && from.Group != "" {
		// The core refuses moving a child to another parent (EBUSY):
		// detach first.
		none := ""
		if err := r.c.Set(o, devlink.Change{Parent: &none}); err != nil {
			return err
		}
	}
	if from.Group != to.Group && to.Group != "" {
		g := to.Group
		ch.Parent = &g
	}
	if ch == (devlink.Change{}) {
		return nil
	}
	return r.c.Set(o, ch)
}

func (r *devlinkRates) groups() (map[string]offload.VFGroupPlan, error) {
	snap, err := r.rates()
	if err != nil {
		return nil, err
	}
	out := map[string]offload.VFGroupPlan{}
	for _, rt := range snap {
		if rt.IsNode() {
			out[rt.Node] = offload.VFGroupPlan{Name: rt.Node, Min: model.Rate(rt.TxShare), Max: model.Rate(rt.TxMax)}
		}
	}
	return out, nil
}

// limitChange is the devlink change from one min/max (tx_share/tx_max,
// bit/s) to another: only what differs.
func limitChange(fromMin, fromMax, toMin, toMax model.Rate) devlink.Change {
	var ch devlink.Change
	if fromMin != toMin {
		v := uint64(toMin)
		ch.TxShare = &v
	}
	if fromMax != toMax {
		v := uint64(toMax)
		ch.TxMax = &v
	}
	return ch
}

func groupChange(from, to offload.VFGroupPlan) devlink.Change {
	return limitChange(from.Min, from.Max, to.Min, to.Max)
}

func (r *devlinkRates) addGroup(g offload.VFGroupPlan) error {
	r.snap = nil
	return r.c.New(devlink.Node(r.dev, g.Name), groupChange(offload.VFGroupPlan{}, g))
}

func (r *devlinkRates) setGroup(from, to offload.VFGroupPlan) error {
	ch := groupChange(from, to)
	if ch == (devlink.Change{}) {
		return nil
	}
	r.snap = nil
	return r.c.Set(devlink.Node(r.dev, to.Name), ch)
}

func (r *devlinkRates) delGroup(name string) error {
	r.snap = nil
	return r.c.Del(devlink.Node(r.dev, name))
}
