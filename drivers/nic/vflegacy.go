package nic

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// mbit is IFLA_VF_RATE's unit (struct ifla_vf_rate counts Mbit/s).
const mbit = model.Rate(1_000_000)

// legacyVFs is the PF's VF table (legacy SR-IOV mode): IFLA_VF_RATE,
// IFLA_VF_VLAN with qos and IFLA_VF_TRUST through RTM_SETLINK, read back
// from IFLA_VFINFO_LIST.
type legacyVFs struct {
	d  *Driver
	pf string
	// table is the VF table from one read, dropped by every write (a
	// backend lives for one Apply, Current or Remove).
	table []netlink.VfInfo
}

func (d *Driver) legacyVFs() (vfBackend, error) { return &legacyVFs{d: d, pf: d.dev.Interface}, nil }

func (l *legacyVFs) link() (netlink.Link, error) {
	link, err := netlink.LinkByName(l.pf)
	if err != nil {
		return nil, fmt.Errorf("PF %s: %w", l.pf, err)
	}
	return link, nil
}

func (l *legacyVFs) read(vf int) (vfSettings, error) {
	if l.table == nil {
		link, err := l.link()
		if err != nil {
			return vfSettings{}, err
		}
		l.table = link.Attrs().Vfs
	}
	for _, v := range l.table {
		if v.ID == vf {
			return vfSettings{Min: model.Rate(v.MinTxRate) * mbit, Max: model.Rate(v.MaxTxRate) * mbit,
				VLAN: uint16(v.Vlan), QoS: uint8(v.Qos), Trust: v.Trust != 0}, nil
		}
	}
	return vfSettings{}, fmt.Errorf("PF %s has no VF %d (sriov_numvfs)", l.pf, vf)
}

// mbitOf converts a rate to IFLA_VF_RATE's Mbit/s; the plan has rounded
// it already, so a remainder is a bug upstream.
func mbitOf(r model.Rate) (int, error) {
	if r%mbit != 0 {
		return 0, fmt.Errorf("rate %v is not a whole number of Mbit/s", r)
	}
	return int(r / mbit), nil
}

func (l *legacyVFs) write(vf int, from, to vfSettings) error {
	link, err := l.link()
	if err != nil {
		return err
	}
	if to.Group != "" {
		return fmt.Errorf("VF %d: rate groups need switchdev mode", vf)
	}
	l.table = nil
	if from.Min != to.Min || from.Max != to.Max {
		mn, err := mbitOf(to.Min)
		if err != nil {
			return fmt.Errorf("VF %d min: %w", vf, err)
		}
		mx, err := mbitOf(to.Max)
		if err != nil {
			return fmt.Errorf("VF %d max: %w", vf, err)
		}
		l.d.vfWrites.Add(1)
		if err := netlink.LinkSetVfRate(link, vf, mn, mx); err != nil {
			return fmt.Errorf("PF %s VF %d min_tx_rate %d max_tx_rate %d (Mbit/s): %w", l.pf, vf, mn, mx, err)
		}
	}
	if from.VLAN != to.VLAN || from.QoS != to.QoS {
		l.d.vfWrites.Add(1)
		if err := netlink.LinkSetVfVlanQos(link, vf, int(to.VLAN), int(to.QoS)); err != nil {
			return fmt.Errorf("PF %s VF %d vlan %d qos %d: %w", l.pf, vf, to.VLAN, to.QoS, err)
		}
	}
	if from.Trust != to.Trust {
		l.d.vfWrites.Add(1)
		if err := netlink.LinkSetVfTrust(link, vf, to.Trust); err != nil {
			return fmt.Errorf("PF %s VF %d trust %v: %w", l.pf, vf, to.Trust, err)
		}
	}
	return nil
}

func (l *legacyVFs) groups() (map[string]offload.VFGroupPlan, error) { return nil, nil }

func (l *legacyVFs) addGroup(g offload.VFGroupPlan) error {
	return fmt.Errorf("rate group %q: rate groups need switchdev mode", g.Name)
}

func (l *legacyVFs) setGroup(_, to offload.VFGroupPlan) error { return l.addGroup(to) }

func (l *legacyVFs) delGroup(name string) error {
	return fmt.Errorf("rate group %q: rate groups need switchdev mode", name)
}
