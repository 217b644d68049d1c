package cgroup

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"
)

// The classes map holds one entry per existing cgroup that a rule's path
// matches (not per descendant: the programs walk the ancestry). This file
// keeps it in line with the cgroup tree.

// Rescan re-resolves the rules' cgroup paths against the tree and brings
// the classes map in line, and attaches the programs again if the cgroup
// they were attached to is gone (removed, or removed and made anew: the
// kernel detaches programs from a removed cgroup). The watcher calls it
// when cgroups appear or go; a reconcile may too.
func (d *Driver) Rescan() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refresh()
}

func (d *Driver) refresh() error {
	err := d.rescan()
	if len(d.links) == 0 {
		return err
	}
	if id, serr := cgroupID(d.at); serr == nil && id == d.atID {
		return err
	}
	at, aerr := d.existingAncestor(commonRoot(d.pats))
	if aerr == nil {
		d.log.Info("cgroup: the programs' cgroup is gone; attaching again", "was", d.at, "at", at)
		d.at = "" // force: the same path may be a new directory
		aerr = d.attach(at, d.cfg)
	}
	return errors.Join(err, aerr)
}

// entryRule is a rule placed in one cgroup's entry, with what orders it.
type entryRule struct {
	r     *Rule
	exact bool
}

func (d *Driver) rescan() error {
	byPath := map[string][]entryRule{}
	var paths []string
	for i := range d.rules {
		got, err := d.pats[i].resolve(d.root)
		if err != nil {
			return fmt.Errorf("cgroup: flow %q: %w", d.rules[i].Flow, err)
		}
		exact := len(d.pats[i].fixed()) == d.pats[i].depth()
		for _, rel := range got {
			if _, ok := byPath[rel]; !ok {
				paths = append(paths, rel)
			}
			byPath[rel] = append(byPath[rel], entryRule{&d.rules[i], exact})
		}
	}
	slices.Sort(paths)
	want := make(map[uint64]string, len(paths))
	var errs []error
	for _, rel := range paths {
		id, err := cgroupID(filepath.Join(d.root, rel))
		if err != nil {
			continue // removed since the walk
		}
		rs := byPath[rel]
		slices.SortStableFunc(rs, compareEntryRules)
		if len(rs) > maxRules {
			errs = append(errs, fmt.Errorf("cgroup %s: %d rules match, at most %d are applied", rel, len(rs), maxRules))
			rs = rs[:maxRules]
		}
		if err := d.classes.Update(id, d.encode(rs), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("cgroup: classes map: %s: %w", rel, err)
		}
		want[id] = rel
	}
	for id, rel := range d.entries {
		if _, ok := want[id]; !ok {
			if err := d.classes.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("cgroup: classes map: delete %s: %w", rel, err)
			}
		}
	}
	d.entries = want
	return errors.Join(errs...)
}

// compareEntryRules orders one cgroup's rules, first match wins: a path
// without globs before a glob, then protocol and port before fewer, a
// narrower port range first, then by flow name.
func compareEntryRules(a, b entryRule) int {
	if a.exact != b.exact {
		if a.exact {
			return -1
		}
		return 1
	}
	spec := func(r *Rule) (int, int) {
		s := 0
		if r.Protocol != 0 {
			s++
		}
		width := 1 << 17
		if r.PortLo != 0 {
			s++
			width = int(r.PortHi) - int(r.PortLo)
		}
		return s, width
	}
	sa, wa := spec(a.r)
	sb, wb := spec(b.r)
	if sa != sb {
		return cmp.Compare(sb, sa)
	}
	if wa != wb {
		return cmp.Compare(wa, wb)
	}
	return cmp.Compare(a.r.Flow, b.r.Flow)
}

// encode lays rs out as a classes-map entry.
func (d *Driver) encode(rs []entryRule) []byte {
	b := make([]byte, entrySize)
	for i, er := range rs {
		r, o := er.r, b[i*ruleSize:]
		o[offProto] = r.Protocol
		o[offUsed] = 1
		binary.NativeEndian.PutUint16(o[offPortLo:], r.PortLo)
		binary.NativeEndian.PutUint16(o[offPortHi:], r.PortHi)
		o[offTOS] = r.DSCP << 2
		binary.NativeEndian.PutUint32(o[offPrio:], r.Priority)
		binary.NativeEndian.PutUint32(o[offFlow:], d.flowIdx[r.Flow])
	}
	return b
}

// Matched lists the cgroups (relative to the mount) that have an entry.
func (d *Driver) Matched() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.entries))
	for _, rel := range d.entries {
		out = append(out, rel)
	}
	slices.Sort(out)
	return out
}
