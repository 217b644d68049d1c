package nic

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// step is one device change with its inverse.
type step struct {
	desc string
	do   func() error
	undo func() error
	// partial: the step is not atomic on the device (a failure may
	// leave part of it done), so a failed step is undone as well.
	partial bool
}

// Apply carries out ops (from offload.Diff(Current, want)) all or nothing.
// Every op is translated and checked before the first write, so bad input
// changes nothing. Then the steps run in order; when one fails, the ones
// done are undone in reverse (restoring the previous objects) and the error
// names the failing step with the kernel's message. A refused hardware
// offload wraps ErrOffloadRefused.
func (d *Driver) Apply(ctx context.Context, want *offload.TargetPlan, ops []offload.Op) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if want != nil && want.Owner != "" && want.Owner != d.owner {
		return fmt.Errorf("nic %s: plan owner %q is not this driver's %q", d.dev.Interface, want.Owner, d.owner)
	}
	if want != nil && want.Pacer != nil {
		return fmt.Errorf("nic %s: the plan needs the software pacer (%s); it is not applied by the NIC driver", d.dev.Interface, want.Pacer.Reason)
	}
	if len(ops) == 0 {
		return nil
	}
	if err := d.reload(); err != nil {
		return err
	}
	ns := d.withAdopted(d.st)
	var extra []string
	for _, op := range ops {
		if op.NewRule != nil {
			extra = append(extra, op.NewRule.Device)
		}
	}
	s, err := d.scan(ns, extra...)
	if err != nil {
		return fmt.Errorf("nic %s: %w (nothing changed)", d.dev.Interface, err)
	}
	steps, err := d.planSteps(ns, s, ops)
	if err == nil {
		err = checkOps(ops)
	}
	if err != nil {
		return fmt.Errorf("nic %s: %w (nothing changed)", d.dev.Interface, err)
	}
	for i, st := range steps {
		if err := ctx.Err(); err != nil {
			return d.rollback(steps[:i], fmt.Errorf("nic %s: %s: %w", d.dev.Interface, st.desc, err))
		}
		if err := st.do(); err != nil {
			done := steps[:i]
			if st.partial {
				done = steps[:i+1]
			}
			return d.rollback(done, fmt.Errorf("nic %s: %s: %w", d.dev.Interface, st.desc, err))
		}
	}
	if err := d.saveState(ns); err != nil {
		return d.rollback(steps, fmt.Errorf("nic %s: %w", d.dev.Interface, err))
	}
	d.st = ns
	d.adopted, d.adoptedQueues, d.adoptedSRIOV, d.adoptedHTB, d.adoptedDCB = nil, nil, nil, nil, nil
	// Filters with our cookie that no rule accounts for go last: there is
	// nothing to restore them from.
	for _, ref := range s.orphans(d.tag, d.st) {
		if err := d.c.delFilter(s.ifidx[ref.Dev], ref); err != nil {
			d.log.Warn("orphan filter not deleted", "err", err)
		}
	}
	return nil
}

// rollback undoes done in reverse and returns cause, noting undo failures.
func (d *Driver) rollback(done []step, cause error) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		if done[i].undo == nil {
			continue
		}
		if err := done[i].undo(); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", done[i].desc, err))
		}
	}
	if len(errs) > 0 {
		d.log.Error("rollback incomplete", "err", errors.Join(errs...))
		return fmt.Errorf("%w; rollback incomplete: %w", cause, errors.Join(errs...))
	}
	d.log.Info("apply failed and was rolled back", "err", cause)
	return fmt.Errorf("%w (rolled back)", cause)
}

// planSteps translates ops into steps, updating ns to the state after them.
func (d *Driver) planSteps(ns *state, s *scan, ops []offload.Op) ([]step, error) {
	var pre, steps []step
	var dropped []string
	s.prevRoot = ns.PrevRoot
	defer func() {
		if len(dropped) > 0 {
			d.log.Warn("rule actions not installed", "count", len(dropped), "first", dropped[0])
		}
	}()
	needClsact := make(map[string]bool)
	needHW := make(map[string]bool)
	vfBackends := make(map[string]vfBackend)
	needNtuple := make(map[string]bool)
	next := make(map[string]uint32)
	alloc := func(dev string) uint32 {
		for n := max(next[dev], 1); n < 0x10000; n++ {
			h := handleMagic | n
			if !s.used[dev][h] {
				s.used[dev][h] = true
				next[dev] = n + 1
				return h
			}
		}
		return 0
	}
	// deleteRule removes a recorded rule's filters that are present.
	deleteRule := func(id string) error {
		rs := ns.Rules[id]
		if rs == nil {
			return nil
		}
		if len(rs.Ntuple) > 0 {
			st, err := d.ntupleDeleteSteps(s, id, rs)
			steps = append(steps, st...)
			delete(ns.Rules, id)
			return err
		}
		fs, _, err := ruleFilters(d.owner, &rs.Rule)
		if err != nil {
			return fmt.Errorf("recorded rule %q: %w", id, err)
		}
		for i, ref := range rs.Filters {
			if _, ok := s.filters[refKey(ref.Dev, ref.Hook, ref.Pref, ref.Handle)]; !ok {
				continue
			}
			// The delete runs before any add: a re-added rule may take
			// the same (identifying) handle.
			delete(s.used[ref.Dev], ref.Handle)
			idx := s.ifidx[ref.Dev]
			var f *tc.Filter
			if i < len(fs) {
				f = &fs[i]
				f.Handle = ref.Handle
			}
			steps = append(steps, step{
				desc: fmt.Sprintf("delete rule %q (%s %s pref %d handle %#x)", id, ref.Dev, ref.Hook, ref.Pref, ref.Handle),
				do:   func() error { return d.c.delFilter(idx, ref) },
				undo: func() error {
					if f == nil {
						return fmt.Errorf("no filter to restore")
					}
					return d.c.addFilter(idx, f)
				},
			})
		}
		delete(ns.Rules, id)
		return nil
	}
	addRule := func(r *offload.Rule) error {
		if isNtuple(r) {
			st, rs, err := d.ntupleAddStep(s, r)
			if err != nil {
				return err
			}
			needNtuple[r.Device] = true
			steps = append(steps, st)
			ns.Rules[r.ID] = rs
			return nil
		}
		fs, notes, err := ruleFilters(d.owner, r)
		if err != nil {
			return err
		}
		dropped = append(dropped, notes...)
		if len(fs) == 0 {
			// Placed on the pacer or unsupported: nothing to install,
			// but recorded so that Current reports it as carried out.
			rs := &ruleState{Rule: *r, Fingerprint: offload.RuleFingerprint(r)}
			rs.Rule.Stored = ""
			ns.Rules[r.ID] = rs
			return nil
		}
		idx, ok := s.ifidx[r.Device]
		if !ok {
			return fmt.Errorf("rule %q: device %q not found", r.ID, r.Device)
		}
		rs := &ruleState{Rule: *r, Fingerprint: offload.RuleFingerprint(r)}
		rs.Rule.Stored = ""
		for i := range fs {
			f := &fs[i]
			if h := ruleHandle(d.owner, rs.Fingerprint, f.Family); len(f.Acts) == 0 && !s.used[r.Device][h] {
				s.used[r.Device][h] = true
				f.Handle = h
			} else if f.Handle = alloc(r.Device); f.Handle == 0 {
				return fmt.Errorf("rule %q: no free filter handle on %s", r.ID, r.Device)
			}
			if _, err := f.EncodeMsg(idx); err != nil {
				return fmt.Errorf("rule %q: %w", r.ID, err)
			}
			ref := filterRef{Dev: f.Dev, Hook: f.Hook, Pref: f.Pref, Handle: f.Handle, Family: f.Family}
			rs.Filters = append(rs.Filters, ref)
			needClsact[r.Device] = true
			if f.Flags&tc.FlagSkipSW != 0 {
				needHW[r.Device] = true
			}
			steps = append(steps, step{
				desc: fmt.Sprintf("add rule %q (%s %s pref %d handle %#x, %s)", r.ID, f.Dev, f.Hook, f.Pref, f.Handle, r.Where.Placement),
				do:   func() error { return d.c.addFilter(idx, f) },
				undo: func() error { return d.c.delFilter(idx, ref) },
			})
		}
		ns.Rules[r.ID] = rs
		return nil
	}
	// Recorded rules that lost some of their filters (drift): clear the
	// rest so that the add below installs them whole.
	for _, id := range slices.Sorted(mapsKeys(ns.Rules)) {
		if !s.ruleIntact(d.tag, ns.Rules[id]) {
			if err := deleteRule(id); err != nil {
				return nil, err
			}
		}
	}
	for _, op := range ops {
		switch op.Object {
		case offload.ObjRule:
			switch op.Kind {
			case offload.Delete:
				if err := deleteRule(op.ID); err != nil {
					return nil, err
				}
			case offload.Add, offload.Change:
				if op.NewRule == nil {
					return nil, fmt.Errorf("%s rule %q: no new rule", op.Kind, op.ID)
				}
				if err := deleteRule(op.ID); err != nil {
					return nil, err
				}
				if err := addRule(op.NewRule); err != nil {
					return nil, err
				}
			}
		case offload.ObjQueues:
			st, err := d.queueSteps(ns, s, op)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st...)
			if op.Kind != offload.Delete {
				needHW[d.dev.Interface] = true
			}
		case offload.ObjHTB:
			st, err := d.htbSteps(ns, s, op)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st...)
			if op.Kind != offload.Delete {
				needHW[d.dev.Interface] = true
			}
		case offload.ObjClass:
			if err := classOp(ns, op); err != nil {
				return nil, err
			}
		case offload.ObjDCB:
			st, err := d.dcbStep(ns, op)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st...)
		case offload.ObjRoCE:
			st, err := d.roceStep(ns, op)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st...)
		case offload.ObjPacer:
			return nil, fmt.Errorf("pacer op %q: the software pacer is not the NIC driver's", op.ID)
		case offload.ObjVF, offload.ObjVFGroup:
			st, err := d.vfSteps(ns, op, vfBackends)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st...)
		default:
			return nil, fmt.Errorf("unknown object %q", op.Object)
		}
	}
	// Prerequisites first: hw-tc-offload and rx-ntuple-filter on, then
	// clsact.
	for _, dev := range slices.Sorted(mapsKeys(needHW)) {
		if st, err := d.featureStep(dev, "hw-tc-offload", &ns.HWTCOffload); err != nil {
			return nil, err
		} else if st != nil {
			pre = append(pre, *st)
		}
	}
	for _, dev := range slices.Sorted(mapsKeys(needNtuple)) {
		if st, err := d.featureStep(dev, ntupleFeature, &ns.NtupleOn); err != nil {
			return nil, err
		} else if st != nil {
			pre = append(pre, *st)
		}
	}
	for _, dev := range slices.Sorted(mapsKeys(needClsact)) {
		idx := s.ifidx[dev]
		ok, err := d.c.hasClsact(idx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dev, err)
		}
		if ok {
			continue
		}
		ns.Clsact = appendOnce(ns.Clsact, dev)
		pre = append(pre, step{desc: "add clsact on " + dev,
			do:   func() error { return d.c.addClsact(idx) },
			undo: func() error { return d.c.delClsact(idx) }})
	}
	return append(pre, steps...), nil
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// queueSteps installs, replaces or removes the root mqprio. A layout
// change deletes the old mqprio before creating the new one: grafting a new
// mqprio over an offloaded one would let the old one's teardown reset the
// device's TCs after the new one set them (sch_mqprio's destroy calls
// ndo_setup_tc with num_tc 0).
func (d *Driver) queueSteps(ns *state, s *scan, op offload.Op) ([]step, error) {
	idx, root := s.rootIdx, s.root
	// Ours: qosplane's handle and recorded in this owner's state. The
	// handle without the record is another owner's (or a lost state's).
	ours := root != nil && isOurMqprio(root) && ns.Queues != nil
	if root != nil && isOurMqprio(root) && !ours {
		return nil, fmt.Errorf("the root mqprio %x: on %s is qosplane's but not recorded for owner %q (another policy's, or a lost state file): remove it first (tc qdisc del dev %s root)",
			root.Handle>>16, d.dev.Interface, d.owner, d.dev.Interface)
	}
	var steps []step
	if ours {
		// Remove ours first (Change and Delete); undo re-creates it
		// from the options the kernel dumped.
		prev := ns.PrevRoot
		if op.Kind == offload.Change {
			prev = nil // the default root stands in until the new one is set
		}
		steps = append(steps, step{
			desc: fmt.Sprintf("delete root mqprio %x:", root.Handle>>16),
			do:   func() error { return d.c.restoreRoot(idx, root.Handle, prev) },
			undo: func() error {
				return d.c.write(tc.RTMNewQdisc, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, tc.QdiscMsg(idx, root.Handle, tc.HRoot, root.Kind, root.Options))
			},
		})
	}
	switch op.Kind {
	case offload.Add, offload.Change:
		if op.NewQueues == nil {
			return nil, fmt.Errorf("%s queues: no layout", op.Kind)
		}
		if op.NewQueues.Where.Placement != "" && op.NewQueues.Where.Placement != offload.Hardware {
			return nil, fmt.Errorf("queue layout placed %s: the NIC driver installs hardware mqprio only", op.NewQueues.Where.Placement)
		}
		o, err := mqprioFromLayout(op.NewQueues)
		if err != nil {
			return nil, err
		}
		if ns.PrevRoot == nil && !ours {
			ns.PrevRoot = s.rootPrev(ns)
		}
		var prev *savedQdisc
		if !ours {
			prev = ns.PrevRoot
		}
		q := *op.NewQueues
		ns.Queues = &q
		steps = append(steps, step{
			desc: fmt.Sprintf("%s root mqprio (%d TCs)", op.Kind, o.NumTC),
			do:   func() error { return d.c.putMqprio(idx, mqprioHandleA, o) },
			undo: func() error { return d.c.restoreRoot(idx, mqprioHandleA, prev) },
		})
	case offload.Delete:
		ns.Queues, ns.PrevRoot = nil, nil
	default:
		return nil, fmt.Errorf("unknown op %q", op.Kind)
	}
	return steps, nil
}

// classOp records a class: on a NIC a class is its TC (the queue layout)
// and its rules' actions, so there is nothing else to install.
func classOp(ns *state, op offload.Op) error {
	ns.Classes = slices.DeleteFunc(ns.Classes, func(c offload.ClassPlan) bool { return c.Name == op.ID })
	switch op.Kind {
	case offload.Add, offload.Change:
		if op.NewClass == nil {
			return fmt.Errorf("%s class %q: no class", op.Kind, op.ID)
		}
		ns.Classes = append(ns.Classes, *op.NewClass)
	}
	return nil
}

// featureStep turns the netdev feature name (hw-tc-offload,
// rx-ntuple-filter) on for dev when it is off, and records dev in *rec.
func (d *Driver) featureStep(dev, name string, rec *[]string) (*step, error) {
	et, err := d.nfc()
	if err != nil {
		return nil, fmt.Errorf("ethtool: %w", err)
	}
	feats, err := et.Features(dev)
	if err != nil {
		return nil, err
	}
	f, ok := feats[name]
	if !ok || f.Active {
		return nil, nil // absent: the kernel refuses the offload with its reason
	}
	*rec = appendOnce(*rec, dev)
	return &step{desc: "turn " + name + " on for " + dev,
		do:   func() error { return d.setFeature(dev, name, true) },
		undo: func() error { return d.setFeature(dev, name, false) }}, nil
}

// setFeature turns the netdev feature name on or off (ethtool -K).
func (d *Driver) setFeature(dev, name string, on bool) error {
	d.c.writes.Add(1)
	et, err := d.nfc()
	if err != nil {
		return fmt.Errorf("ethtool: %w", err)
	}
	return et.SetFeature(dev, name, on)
}
