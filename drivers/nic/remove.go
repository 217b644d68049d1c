package nic

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/qosplane/qosplane/drivers/nic/wire/dcbnl"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
)

// Remove deletes everything qosplane owns on the device — its filters
// (recorded ones and any carrying the owner's cookie), the root mqprio
// (putting back the root qdisc it replaced), the clsact qdiscs it added
// when no other filter is left on them, hw-tc-offload when it turned it on,
// the RoCE default ToS and DCB settings it changed, the VFs' QoS (put back
// as it was) and the rate groups it added — and the state file.
// It goes on after a failed step and returns all errors.
func (d *Driver) Remove(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.reload(); err != nil {
		return err
	}
	st := d.withAdopted(d.st)
	s, err := d.scan(st)
	if err != nil {
		return fmt.Errorf("nic %s: remove: %w", d.dev.Interface, err)
	}
	var errs []error
	var refs []filterRef
	for _, rs := range st.Rules {
		for _, ref := range rs.Filters {
			if _, ok := s.filters[refKey(ref.Dev, ref.Hook, ref.Pref, ref.Handle)]; ok {
				refs = append(refs, ref)
			}
		}
	}
	refs = append(refs, s.orphans(d.tag, st)...)
	slices.SortFunc(refs, cmpRef)
	for _, ref := range slices.Compact(refs) {
		if err := d.c.delFilter(s.ifidx[ref.Dev], ref); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, d.removeNtuple(st, s)...)
	if s.root != nil && isOurMqprio(s.root) && st.Queues != nil {
		if err := d.c.restoreRoot(s.rootIdx, s.root.Handle, st.PrevRoot); err != nil {
			errs = append(errs, err)
		}
	}
	if isOurHTB(s.root) && st.HTB != nil {
		if err := d.c.restoreRootKind(s.rootIdx, "htb", s.root.Handle, st.PrevRoot); err != nil {
			errs = append(errs, err)
		}
	}
	for _, dev := range st.Clsact {
		idx, ok := s.ifidx[dev]
		if !ok {
			continue
		}
		if has, err := d.c.hasClsact(idx); err != nil || !has {
			continue
		}
		left := 0
		for _, hk := range []tc.Hook{tc.HookIngress, tc.HookEgress} {
			fs, err := d.c.filters(idx, hk.Parent())
			if err != nil {
				errs = append(errs, err)
				left++
			}
			left += len(fs)
		}
		if left > 0 {
			d.log.Info("clsact kept: other filters use it", "device", dev, "filters", left)
			continue
		}
		if err := d.c.delClsact(idx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dev, err))
		}
	}
	for _, dev := range st.HWTCOffload {
		if err := d.setFeature(dev, "hw-tc-offload", false); err != nil {
			d.log.Info("hw-tc-offload left on", "device", dev, "err", err)
		}
	}
	for path, old := range st.PrevRoCE {
		if err := d.writeTOS(path, old); err != nil {
			errs = append(errs, err)
		}
	}
	if st.DCB != nil {
		apps := st.DCB.App
		if raw, err := d.c.dcbGet(d.dev.Interface); err == nil {
			if p, err := dcbnl.PresentApps(raw, apps); err == nil {
				apps = p
			}
		}
		if len(apps) > 0 {
			if err := d.c.dcbWrite(dcbnl.EncodeDelApps(d.dev.Interface, apps)); err != nil {
				errs = append(errs, err)
			}
		}
		if st.PrevDCB != nil {
			if err := d.c.dcbSetRaw(d.dev.Interface, st.PrevDCB); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, d.removeSRIOV(st)...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nic %s: remove: %w", d.dev.Interface, err)
	}
	if err := os.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nic %s: remove state file: %w", d.dev.Interface, err)
	}
	d.st = &state{Owner: d.owner, Interface: d.dev.Interface}
	d.adopted, d.adoptedQueues, d.adoptedSRIOV, d.adoptedHTB, d.adoptedDCB = nil, nil, nil, nil, nil
	return nil
}
