package model

import (
	"fmt"
	"slices"
	"strings"
)

// Order returns the indexes of p.Flows, most specific first. Equally specific
// flows never overlap in a valid policy, so their relative order does not
// change what matches; it is by name to keep plans deterministic.
func (p *Policy) Order() []int {
	idx := make([]int, len(p.Flows))
	spec := make([]Specificity, len(p.Flows))
	for i := range p.Flows {
		idx[i] = i
		spec[i] = p.Flows[i].Match.Specificity()
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := spec[a].Compare(spec[b]); c != 0 {
			return c
		}
		return strings.Compare(p.Flows[a].Name, p.Flows[b].Name)
	})
	return idx
}

// directionsOverlap reports whether two flows classify in a common direction.
func directionsOverlap(a, b Direction) bool {
	return a.HasEgress() && b.HasEgress() || a.HasIngress() && b.HasIngress()
}

// checkConflicts reports pairs of flows of equal specificity that can match
// the same packet: policy-based QoS could not say which one wins.
//
// Flows are grouped by specificity, then by shape (which fields are set, the
// prefix lengths and port range widths). Within a shape two flows overlap only
// if their prefixes and exact fields are equal, so a hash on those finds the
// candidates; only flows of different shapes are compared pairwise.
func checkConflicts(p *Policy, r *reporter) {
	type entry struct {
		i     int
		shape string
		key   string
	}
	groups := make(map[Specificity][]entry)
	for i := range p.Flows {
		if r.failedUnder(fmt.Sprintf("flows[%d]", i)) {
			continue // a match that did not decode would conflict falsely
		}
		m := &p.Flows[i].Match
		shape, key := m.shapeKey()
		s := m.Specificity()
		groups[s] = append(groups[s], entry{i, shape, key})
	}
	report := func(a, b int) {
		if a > b {
			a, b = b, a
		}
		fa, fb := &p.Flows[a], &p.Flows[b]
		if !directionsOverlap(fa.Direction, fb.Direction) || !fa.Match.Overlaps(&fb.Match) {
			return
		}
		r.errorf(fmt.Sprintf("flows[%d].match", b),
			"flow %q can match the same packets as flow %q (flows[%d]) with equal specificity; make one of them more specific",
			fb.Name, fa.Name, a)
	}
	specs := make([]Specificity, 0, len(groups))
	for s := range groups {
		specs = append(specs, s)
	}
	slices.SortFunc(specs, Specificity.Compare)
	for _, s := range specs {
		g := groups[s]
		if len(g) < 2 {
			continue
		}
		byShape := make(map[string][]entry)
		var shapes []string
		for _, e := range g {
			if _, ok := byShape[e.shape]; !ok {
				shapes = append(shapes, e.shape)
			}
			byShape[e.shape] = append(byShape[e.shape], e)
		}
		for _, sh := range shapes {
			byKey := make(map[string][]int)
			for _, e := range byShape[sh] {
				for _, j := range byKey[e.key] {
					report(j, e.i)
				}
				byKey[e.key] = append(byKey[e.key], e.i)
			}
		}
		for x := range shapes {
			for y := x + 1; y < len(shapes); y++ {
				for _, a := range byShape[shapes[x]] {
					for _, b := range byShape[shapes[y]] {
						report(a.i, b.i)
					}
				}
			}
		}
	}
}

// shapeKey describes which fields m sets and how wide they are (shape), and
// the values of the fields that must be equal for two matches of the same
// shape to overlap (key). Port ranges are in the shape by width only, since
// ranges of one width can overlap without being equal.
func (m *Match) shapeKey() (shape, key string) {
	var sb, kb strings.Builder
	pfx := func(p Prefix) {
		if p.IsValid() {
			fmt.Fprintf(&sb, "%d/%d,", p.Addr().BitLen(), p.Bits())
			kb.WriteString(p.String())
		} else {
			sb.WriteString("-,")
		}
		kb.WriteByte(',')
	}
	pfx(m.Src)
	pfx(m.Dst)
	port := func(r PortRange) {
		switch {
		case r.IsZero():
			sb.WriteString("-,")
		case r.Exact():
			sb.WriteString("x,")
			fmt.Fprintf(&kb, "%d", r.Lo)
		default:
			fmt.Fprintf(&sb, "r%d,", r.Hi-r.Lo)
		}
		kb.WriteByte(',')
	}
	port(m.SrcPort)
	port(m.DstPort)
	fmt.Fprintf(&sb, "%t,%t,%t,%t,%t", m.Protocol != 0, m.VLAN != 0, m.DSCP != nil, m.Interface != "", m.Cgroup != "")
	fmt.Fprintf(&kb, "%d,%d,", m.Protocol, m.VLAN)
	if m.DSCP != nil {
		fmt.Fprintf(&kb, "%d", *m.DSCP)
	}
	kb.WriteString("," + m.Interface)
	if m.Cgroup != "" {
		// Globs overlap without being equal: they go by shape only.
		if isGlob(m.Cgroup) {
			sb.WriteString(",glob:" + strings.Trim(m.Cgroup, "/"))
		} else {
			kb.WriteString("," + strings.Trim(m.Cgroup, "/"))
		}
	}
	return sb.String(), kb.String()
}

// Admit checks admission control for target t with link capacity c: the
// committed rates of its guaranteed and controlled-load classes must fit the
// link. The error names the classes and the sum.
func Admit(p *Policy, t *Target, capacity Rate) error {
	var sum Rate
	var names []string
	for _, c := range p.TargetClasses(t) {
		if c.Service.Reserved() {
			sum += c.Rate
			names = append(names, fmt.Sprintf("%s (%v)", c.Name, c.Rate))
		}
	}
	if sum > capacity {
		return fmt.Errorf("admission refused on target %q: reserved classes %s need %v, more than the link capacity %v",
			t.Name, strings.Join(names, ", "), sum, capacity)
	}
	return AdmitVFs(p, t, capacity)
}

// AdmitVFs refuses VF minimum shares (and rate group minimums) that do not
// fit the PF's link: the VFs' minimums together, and each group's, must be
// at most capacity.
func AdmitVFs(p *Policy, t *Target, capacity Rate) error {
	if t.SRIOV == nil {
		return nil
	}
	var sum, groups Rate
	n := 0
	for i := range t.SRIOV.VFs {
		v := &t.SRIOV.VFs[i]
		first, last, err := ParseVFRange(v.VFs)
		if err != nil {
			continue // reported by validation
		}
		mn, _ := v.Limits(p)
		sum += mn * Rate(last-first+1)
		n += last - first + 1
	}
	for _, g := range t.SRIOV.Groups {
		groups += g.Min
	}
	if sum > capacity {
		return fmt.Errorf("admission refused on target %q: the minimum shares of %d VFs add up to %v, more than the link capacity %v",
			t.Name, n, sum, capacity)
	}
	if groups > capacity {
		return fmt.Errorf("admission refused on target %q: the rate groups' minimums add up to %v, more than the link capacity %v",
			t.Name, groups, capacity)
	}
	return nil
}
