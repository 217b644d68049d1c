package nic

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// qosplane's root mqprio has handle 5150: (5151: is recognised too, for
// forward compatibility).
const (
	mqprioHandleA = 0x51500000
	mqprioHandleB = 0x51510000
	clsactHandle  = 0xFFFF0000
)

func isOurMqprio(q *tc.Qdisc) bool {
	return q.Kind == "mqprio" && q.Parent == tc.HRoot && (q.Handle == mqprioHandleA || q.Handle == mqprioHandleB)
}

func ifindex(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	return l.Attrs().Index, nil
}

// rootQdisc returns the root qdisc of ifindex, or nil.
func (c *conn) rootQdisc(ifindex int) (*tc.Qdisc, error) {
	qs, err := c.qdiscs(ifindex)
	if err != nil {
		return nil, fmt.Errorf("dump qdiscs: %w", err)
	}
	for i := range qs {
		if qs[i].Parent == tc.HRoot {
			return &qs[i], nil
		}
	}
	return nil, nil
}

// hasClsact reports whether ifindex has a clsact qdisc.
func (c *conn) hasClsact(ifindex int) (bool, error) {
	qs, err := c.qdiscs(ifindex)
	if err != nil {
		return false, fmt.Errorf("dump qdiscs: %w", err)
	}
	for _, q := range qs {
		if q.Kind == "clsact" {
			return true, nil
		}
	}
	return false, nil
}

// putMqprio installs o as the root qdisc under handle, replacing whatever
// root is there.
func (c *conn) putMqprio(ifindex int, handle uint32, o tc.Mqprio) error {
	err := c.write(tc.RTMNewQdisc, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, tc.QdiscMsg(ifindex, handle, tc.HRoot, "mqprio", o.Encode()))
	if err != nil {
		err = fmt.Errorf("mqprio (hw 1, channel mode, %d TCs): %w", o.NumTC, err)
		if refusal(err) {
			err = fmt.Errorf("%w: %w", ErrOffloadRefused, err)
		}
	}
	return err
}

// restoreRoot puts back the root qdisc qosplane replaced: deleting ours
// brings the kernel's default back; anything else is re-created from its
// saved kind and options (its classes and filters, if it had any, are not).
func (c *conn) restoreRoot(ifindex int, ourHandle uint32, prev *savedQdisc) error {
	return c.restoreRootKind(ifindex, "mqprio", ourHandle, prev)
}

// restoreRootKind is restoreRoot for our root qdisc of kind (mqprio or
// htb: the kernel checks the kind a delete names).
func (c *conn) restoreRootKind(ifindex int, kind string, ourHandle uint32, prev *savedQdisc) error {
	if prev == nil || prev.Default || prev.Kind == "" {
		err := c.write(tc.RTMDelQdisc, 0, tc.QdiscMsg(ifindex, ourHandle, tc.HRoot, kind, nil))
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) && ourHandle == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete root %s: %w", kind, err)
		}
		return nil
	}
	if err := c.write(tc.RTMNewQdisc, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, tc.QdiscMsg(ifindex, prev.Handle, tc.HRoot, prev.Kind, tc.RequestOptions(prev.Kind, prev.Options))); err != nil {
		// Leave the kernel's default root rather than ours.
		if derr := c.write(tc.RTMDelQdisc, 0, tc.QdiscMsg(ifindex, ourHandle, tc.HRoot, kind, nil)); derr != nil && !errors.Is(derr, unix.ENOENT) {
			return fmt.Errorf("restore root qdisc %s %x: %w; delete root %s: %w", prev.Kind, prev.Handle>>16, err, kind, derr)
		}
		return fmt.Errorf("restore root qdisc %s %x: %w (the kernel's default root is in place)", prev.Kind, prev.Handle>>16, err)
	}
	return nil
}

// saveRoot describes the current root qdisc for restoreRoot.
func saveRoot(q *tc.Qdisc) *savedQdisc {
	if q == nil {
		return &savedQdisc{Default: true}
	}
	return &savedQdisc{Kind: q.Kind, Handle: q.Handle, Options: q.Options, Default: q.Handle == 0}
}

func (c *conn) addClsact(ifindex int) error {
	err := c.write(tc.RTMNewQdisc, unix.NLM_F_CREATE|unix.NLM_F_EXCL, tc.QdiscMsg(ifindex, clsactHandle, tc.HClsact, "clsact", nil))
	if err != nil {
		return fmt.Errorf("add clsact: %w", err)
	}
	return nil
}

func (c *conn) delClsact(ifindex int) error {
	err := c.write(tc.RTMDelQdisc, 0, tc.QdiscMsg(ifindex, clsactHandle, tc.HClsact, "clsact", nil))
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete clsact: %w", err)
	}
	return nil
}

// addFilter installs f (which must not exist). A hardware filter
// (skip_sw) is sent with NLM_F_ECHO and the kernel's echoed RTM_NEWTFILTER
// must show it in hardware (see addHWFilter).
func (c *conn) addFilter(ifindex int, f *tc.Filter) error {
	msg, err := f.EncodeMsg(ifindex)
	if err != nil {
		return err
	}
	if f.Flags&tc.FlagSkipSW != 0 {
		return c.addHWFilter(ifindex, f, msg)
	}
	if err := c.write(tc.RTMNewFilter, unix.NLM_F_CREATE|unix.NLM_F_EXCL, msg); err != nil {
		return fmt.Errorf("flower %s %s pref %d handle %#x: %w", f.Dev, f.Hook, f.Pref, f.Handle, err)
	}
	return nil
}

// delFilter deletes the filter at ref; a filter already gone is no error.
func (c *conn) delFilter(ifindex int, ref filterRef) error {
	f := tc.Filter{Dev: ref.Dev, Hook: ref.Hook, Pref: ref.Pref, Handle: ref.Handle}
	err := c.write(tc.RTMDelFilter, 0, f.DeleteMsg(ifindex))
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete flower %s %s pref %d handle %#x: %w", ref.Dev, ref.Hook, ref.Pref, ref.Handle, err)
	}
	return nil
}

// layoutFromMqprio rebuilds a queue layout from a device's mqprio, for a
// root that does not match what the state file says qosplane installed
// (Diff then sees a change).
func layoutFromMqprio(o tc.Mqprio) *offload.QueueLayout {
	q := &offload.QueueLayout{NumTC: int(o.NumTC), PrioTC: o.PrioTC}
	if o.HW != 0 {
		q.Where = offload.Where{Placement: offload.Hardware}
	} else {
		q.Where = offload.Where{Placement: offload.Software, Reason: "mqprio is not offloaded"}
	}
	for i := range int(min(o.NumTC, 16)) {
		tc := offload.TC{Index: i, Count: o.Count[i], Offset: o.Offset[i]}
		if i < len(o.MaxRate) {
			tc.MaxRate = rateFromBytes(o.MaxRate[i])
		}
		if i < len(o.MinRate) {
			tc.MinRate = rateFromBytes(o.MinRate[i])
		}
		q.TCs = append(q.TCs, tc)
	}
	return q
}
