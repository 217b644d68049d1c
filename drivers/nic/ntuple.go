package nic

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/ethtoolnfc"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// ethtool ntuple rules (offload.SteerQueue on ingress, placed in hardware)
// are installed with SIOCETHTOOL ETHTOOL_SRXCLSRLINS on the target's
// interface, one rule per plan rule.
//
// Ownership. An ntuple rule has no cookie, and FLOW_EXT user-def data is
// not something every driver takes (ixgbe reads data[1] as a VM pool), so
// qosplane does not mark its rules on the device. A rule is qosplane's when
// the state file records its location (ruleState.Ntuple) and the rule at
// that location still is the recorded rule's spec (flow type, values,
// masks, queue): a rule someone replaced at that location is foreign from
// then on and never deleted. Without the state file, a driver given the
// plan (Reference) adopts a rule whose spec equals a plan rule's, at any
// location: such a rule steers exactly as the plan wants. Every other rule
// is foreign: never changed, deleted or reused. New rules take the highest
// free locations (ethtool's own allocation, for RX_CLS_LOC_ANY and manual
// rules, starts from the lowest), so that an operator's rules keep their
// place; rules qosplane lost track of (a crash between the insert and the
// state save) stay until removed by hand.
//
// The rx-ntuple-filter feature (`ethtool -K dev ntuple on`) is turned on
// when off, recorded in the state and turned off again by Remove.

// ntupleFeature is the netdev feature string of NETIF_F_NTUPLE.
const ntupleFeature = "rx-ntuple-filter"

// isNtuple reports whether r is carried by an ethtool ntuple rule.
func isNtuple(r *offload.Rule) bool {
	return r.Direction == offload.OnIngress && r.Where.Placement == offload.Hardware &&
		len(r.Actions) == 1 && r.Actions[0].Kind == offload.SteerQueue
}

// ntupleSpec translates r into an ethtool RX classification rule (without
// a location): tcp4/udp4/sctp4 for those protocols, ip4 for any protocol;
// addresses with their prefix masks; exact ports.
func ntupleSpec(r *offload.Rule) (ethtoolnfc.Rule, error) {
	m := &r.Match
	var out ethtoolnfc.Rule
	switch m.Protocol {
	case 6:
		out.Type = ethtoolnfc.TCPv4
	case 17:
		out.Type = ethtoolnfc.UDPv4
	case 132:
		out.Type = ethtoolnfc.SCTPv4
	case 0:
		out.Type = ethtoolnfc.IPv4
	default:
		return out, fmt.Errorf("rule %q: protocol %d has no ntuple flow type", r.ID, m.Protocol)
	}
	pfx := func(p model.Prefix) (v, mask netip.Addr, err error) {
		if !p.IsValid() {
			return netip.Addr{}, netip.Addr{}, nil
		}
		if !p.Addr().Is4() {
			return v, mask, fmt.Errorf("rule %q: %s: ntuple rules are IPv4 only", r.ID, p)
		}
		bits := uint32(0xffffffff) << (32 - p.Bits())
		if p.Bits() == 0 {
			bits = 0
		}
		return p.Masked().Addr(), netip.AddrFrom4([4]byte{byte(bits >> 24), byte(bits >> 16), byte(bits >> 8), byte(bits)}), nil
	}
	var err error
	if out.Value.Src, out.Mask.Src, err = pfx(m.Src); err != nil {
		return out, err
	}
	if out.Value.Dst, out.Mask.Dst, err = pfx(m.Dst); err != nil {
		return out, err
	}
	for _, pr := range []struct {
		p    model.PortRange
		v, k *uint16
	}{{m.SrcPort, &out.Value.SrcPort, &out.Mask.SrcPort}, {m.DstPort, &out.Value.DstPort, &out.Mask.DstPort}} {
		if pr.p.IsZero() {
			continue
		}
		if !pr.p.Exact() || m.Protocol == 0 {
			return out, fmt.Errorf("rule %q: ntuple rules match one port of tcp, udp or sctp", r.ID)
		}
		*pr.v, *pr.k = pr.p.Lo, 0xffff
	}
	if m.VLAN != 0 || m.DSCP != nil || m.Interface != "" || m.Cgroup != "" {
		return out, fmt.Errorf("rule %q: ntuple rules match addresses, protocol and ports only", r.ID)
	}
	out.Ring = uint64(r.Actions[0].Queue)
	return out, nil
}

// nfc returns the driver's ethtool RX NFC client, opening it on first use.
func (d *Driver) nfc() (*ethtoolnfc.Client, error) {
	if d.nfcClient == nil {
		c, err := ethtoolnfc.Open()
		if err != nil {
			return nil, err
		}
		d.nfcClient = c
	}
	return d.nfcClient, nil
}

// wantsNtuple reports whether the recorded state or the reference plan
// has ntuple rules, so that a scan must read the device's rule table.
func (d *Driver) wantsNtuple(st *state) bool {
	for _, rs := range st.Rules {
		if len(rs.Ntuple) > 0 {
			return true
		}
	}
	return d.ref != nil && slices.ContainsFunc(d.ref.Rules, func(r offload.Rule) bool { return isNtuple(&r) })
}

// readNtuple dumps the interface's ntuple table; a device without RX
// classification has an empty one.
func (d *Driver) readNtuple() (*ethtoolnfc.Dump, error) {
	c, err := d.nfc()
	if err != nil {
		return nil, err
	}
	dump, err := c.Dump(d.dev.Interface)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return &ethtoolnfc.Dump{Rules: map[uint32]ethtoolnfc.Rule{}}, nil
	}
	return dump, err
}

// ntupleIntact reports whether every recorded location of rs holds rs's
// spec.
func (s *scan) ntupleIntact(rs *ruleState) bool {
	if s.nt == nil {
		return false
	}
	spec, err := ntupleSpec(&rs.Rule)
	if err != nil {
		return false
	}
	for _, loc := range rs.Ntuple {
		got, ok := s.nt.Rules[loc]
		spec.Location = loc
		if !ok || !got.Equal(&spec) {
			return false
		}
	}
	return true
}

// ntupleTable reads the table into s when the scan has not.
func (d *Driver) ntupleTable(s *scan) error {
	if s.nt != nil {
		return nil
	}
	nt, err := d.readNtuple()
	if err != nil {
		return fmt.Errorf("%s: %w", d.dev.Interface, err)
	}
	s.nt = nt
	return nil
}

// ntupleAddStep allocates a location for r (the highest free one) and
// returns the insert step and the rule's state.
func (d *Driver) ntupleAddStep(s *scan, r *offload.Rule) (step, *ruleState, error) {
	if r.Device != d.dev.Interface {
		return step{}, nil, fmt.Errorf("rule %q: ntuple rules go on %s, not %s", r.ID, d.dev.Interface, r.Device)
	}
	if err := d.ntupleTable(s); err != nil {
		return step{}, nil, err
	}
	spec, err := ntupleSpec(r)
	if err != nil {
		return step{}, nil, err
	}
	if s.ntTaken == nil {
		s.ntTaken = make(map[uint32]bool)
	}
	size := s.nt.Table.Size
	if size == 0 {
		return step{}, nil, fmt.Errorf("rule %q: %s reports no ntuple table (ETHTOOL_GRXCLSRLCNT); is it an ntuple-capable NIC?", r.ID, d.dev.Interface)
	}
	loc := size
	for l := size; l > 0; l-- {
		if !s.nt.Used(l-1) && !s.ntTaken[l-1] {
			loc = l - 1
			break
		}
	}
	if loc == size {
		return step{}, nil, fmt.Errorf("rule %q: the ntuple table of %s is full (%d locations)", r.ID, d.dev.Interface, size)
	}
	s.ntTaken[loc] = true
	spec.Location = loc
	rs := &ruleState{Rule: *r, Fingerprint: offload.RuleFingerprint(r), Ntuple: []uint32{loc}}
	rs.Rule.Stored = ""
	dev := d.dev.Interface
	return step{
		desc: fmt.Sprintf("add rule %q (ethtool ntuple %s loc %d, queue %d)", r.ID, dev, loc, spec.Ring),
		do:   func() error { return d.ntupleInsert(dev, &spec) },
		undo: func() error { return d.ntupleDelete(dev, loc) },
	}, rs, nil
}

// ntupleDeleteSteps deletes rs's rules that are still its own.
func (d *Driver) ntupleDeleteSteps(s *scan, id string, rs *ruleState) ([]step, error) {
	if err := d.ntupleTable(s); err != nil {
		return nil, err
	}
	spec, err := ntupleSpec(&rs.Rule)
	if err != nil {
		return nil, fmt.Errorf("recorded rule %q: %w", id, err)
	}
	dev := d.dev.Interface
	var steps []step
	for _, loc := range rs.Ntuple {
		spec := spec
		spec.Location = loc
		if got, ok := s.nt.Rules[loc]; !ok || !got.Equal(&spec) {
			d.log.Info("ntuple location no longer holds the rule; left alone", "rule", id, "location", loc)
			continue
		}
		steps = append(steps, step{
			desc: fmt.Sprintf("delete rule %q (ethtool ntuple %s loc %d)", id, dev, loc),
			do:   func() error { return d.ntupleDelete(dev, loc) },
			undo: func() error { return d.ntupleInsert(dev, &spec) },
		})
	}
	return steps, nil
}

func (d *Driver) ntupleInsert(dev string, r *ethtoolnfc.Rule) error {
	c, err := d.nfc()
	if err != nil {
		return err
	}
	d.c.writes.Add(1)
	if _, err := c.Insert(dev, r); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%w: %w", ErrOffloadRefused, err)
		}
		return err
	}
	return nil
}

func (d *Driver) ntupleDelete(dev string, loc uint32) error {
	c, err := d.nfc()
	if err != nil {
		return err
	}
	d.c.writes.Add(1)
	return c.Delete(dev, loc)
}

// findNtuple adopts the reference rule r when a rule with its spec is on
// the device at a location not yet claimed.
func (d *Driver) findNtuple(s *scan, r *offload.Rule, claimed map[uint32]bool) *ruleState {
	if s.nt == nil {
		return nil
	}
	spec, err := ntupleSpec(r)
	if err != nil {
		return nil
	}
	for _, loc := range slices.Sorted(mapsKeys(s.nt.Rules)) {
		got := s.nt.Rules[loc]
		spec.Location = loc
		if claimed[loc] || !got.Equal(&spec) {
			continue
		}
		claimed[loc] = true
		rs := &ruleState{Rule: *r, Fingerprint: offload.RuleFingerprint(r), Ntuple: []uint32{loc}}
		rs.Rule.Stored = ""
		return rs
	}
	return nil
}

// removeNtuple deletes the recorded rules that are still qosplane's and
// turns rx-ntuple-filter off when qosplane turned it on.
func (d *Driver) removeNtuple(st *state, s *scan) []error {
	var errs []error
	for _, id := range slices.Sorted(mapsKeys(st.Rules)) {
		rs := st.Rules[id]
		if len(rs.Ntuple) == 0 {
			continue
		}
		steps, err := d.ntupleDeleteSteps(s, id, rs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, stp := range steps {
			if err := stp.do(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, dev := range st.NtupleOn {
		// Turning the feature off drops every rule (ixgbe leaves perfect
		// filter mode): keep it while other rules are there.
		if c, err := d.nfc(); err == nil {
			if t, err := c.Table(dev); err == nil && t.Count > 0 {
				d.log.Info("rx-ntuple-filter kept: other ntuple rules use it", "device", dev, "rules", t.Count)
				continue
			}
		}
		if err := d.setFeature(dev, ntupleFeature, false); err != nil {
			d.log.Info("rx-ntuple-filter left on", "device", dev, "err", err)
		}
	}
	return errs
}
