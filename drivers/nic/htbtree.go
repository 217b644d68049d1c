package nic

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/htb"
	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// The offloaded HTB tree (offload.HTBPlan) as the root qdisc: `tc qdisc
// replace dev X root handle 5152: htb offload default <minor>`, a top class
// 5152:1 at the link rate and a leaf per policy class under it. Rates are
// bit/s in the plan and bytes/s on the wire (package wire/htb encodes the
// options).
// Transmitted packets reach a leaf by skb->priority = its classid, which the
// plan's egress rules set (skbedit priority), or go to the default class.

// isOurHTB reports whether q is qosplane's root HTB qdisc (handle 5152:).
func isOurHTB(q *tc.Qdisc) bool {
	return q != nil && q.Kind == "htb" && q.Parent == tc.HRoot && q.Handle == uint32(offload.HTBHandle)<<16
}

// isOurRoot reports whether q is a root qdisc of qosplane's (mqprio or HTB).
func isOurRoot(q *tc.Qdisc) bool { return q != nil && (isOurMqprio(q) || isOurHTB(q)) }

// htbTree is a plan's tree in the kernel's units, checked.
type htbTree struct {
	handle uint32 // major<<16
	defcls uint32 // minor of the default class
	top    htb.Class
	leaves []htbLeaf
}

type htbLeaf struct {
	class string
	minor uint32
	c     htb.Class
}

// htbTreeOf converts and checks a plan's tree: every rate set, ceils not
// below rates, a default class that is one of the leaves, distinct minors.
func htbTreeOf(h *offload.HTBPlan) (htbTree, error) {
	t := htbTree{handle: uint32(h.Handle) << 16}
	if h.Handle == 0 || len(h.Classes) == 0 {
		return t, fmt.Errorf("htb: handle %x: with %d classes (want a handle and classes)", h.Handle, len(h.Classes))
	}
	if h.Where.Placement != "" && h.Where.Placement != offload.Hardware {
		return t, fmt.Errorf("htb placed %s: the NIC driver installs offloaded HTB only", h.Where.Placement)
	}
	var burst model.Size
	seen := map[uint16]bool{1: true}
	for _, c := range h.Classes {
		if c.Minor == 0 || seen[c.Minor] {
			return t, fmt.Errorf("htb class %q: minor %#x is 0, the top class's or taken", c.Class, c.Minor)
		}
		seen[c.Minor] = true
		k := htb.Class{RateBytes: c.Rate.Bytes(), CeilBytes: c.Ceil.Bytes(), BurstBytes: uint32(c.Burst), CBurstBytes: uint32(c.Burst)}
		if _, err := k.Encode(); err != nil {
			return t, fmt.Errorf("htb class %q (%x:%x): %w", c.Class, h.Handle, c.Minor, err)
		}
		if c.Class == h.Default {
			t.defcls = uint32(c.Minor)
		}
		burst = max(burst, c.Burst)
		t.leaves = append(t.leaves, htbLeaf{class: c.Class, minor: uint32(c.Minor), c: k})
	}
	if t.defcls == 0 {
		return t, fmt.Errorf("htb: default class %q is not among the classes", h.Default)
	}
	t.top = htb.Class{RateBytes: h.Rate.Bytes(), CeilBytes: h.Rate.Bytes(), BurstBytes: uint32(burst), CBurstBytes: uint32(burst)}
	if _, err := t.top.Encode(); err != nil {
		return t, fmt.Errorf("htb top class %x:1: %w", h.Handle, err)
	}
	return t, nil
}

// putHTBClass creates (or, with create false, changes) class minor under
// parent (a minor; 0 is the qdisc itself).
func (c *conn) putHTBClass(ifindex int, t *htbTree, name string, minor, parent uint32, k htb.Class, create bool) error {
	opts, err := k.Encode()
	if err != nil {
		return err
	}
	flags, verb := unix.NLM_F_CREATE|unix.NLM_F_EXCL, "create"
	if !create {
		flags, verb = 0, "change"
	}
	if err := c.write(tc.RTMNewTclass, flags, tc.QdiscMsg(ifindex, t.handle|minor, t.handle|parent, "htb", opts)); err != nil {
		err = fmt.Errorf("%s htb class %q (%x:%x rate %d ceil %d bytes/s): %w", verb, name, t.handle>>16, minor, k.RateBytes, k.CeilBytes, err)
		if refusal(err) {
			err = fmt.Errorf("%w: %w", ErrOffloadRefused, err)
		}
		return err
	}
	return nil
}

// buildHTB puts t as the root qdisc, replacing whatever root is there, then
// its top class and leaves. It is not atomic: a failure leaves part of the
// tree, which deleting the root qdisc removes.
func (c *conn) buildHTB(ifindex int, t *htbTree) error {
	err := c.write(tc.RTMNewQdisc, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, tc.QdiscMsg(ifindex, t.handle, tc.HRoot, "htb", htb.QdiscOptions(t.defcls, true)))
	if err != nil {
		err = fmt.Errorf("root htb %x: offload default %x: %w", t.handle>>16, t.defcls, err)
		if refusal(err) {
			err = fmt.Errorf("%w: %w", ErrOffloadRefused, err)
		}
		return err
	}
	if err := c.putHTBClass(ifindex, t, "top", 1, 0, t.top, true); err != nil {
		return err
	}
	for _, l := range t.leaves {
		if err := c.putHTBClass(ifindex, t, l.class, l.minor, 1, l.c, true); err != nil {
			return err
		}
	}
	return nil
}

// unbuildHTB undoes a buildHTB that may have failed: when the root is
// our HTB it is deleted (its classes with it) and prev put back; when the
// qdisc was never created (the kernel or the device refused it) the old
// root is still there and nothing is done.
func (c *conn) unbuildHTB(ifindex int, handle uint32, prev *savedQdisc) error {
	root, err := c.rootQdisc(ifindex)
	if err != nil {
		return err
	}
	if !isOurHTB(root) || root.Handle != handle {
		return nil
	}
	return c.restoreRootKind(ifindex, "htb", handle, prev)
}

// htbDevice is a root HTB as dumped: the offload flag, defcls and the
// classes' rate and ceil (bytes/s) by minor, with their parents' minors.
type htbDevice struct {
	offloaded bool
	defcls    uint32
	classes   map[uint32]htb.Class
	parents   map[uint32]uint32
}

// readHTB dumps root qdisc q (our HTB) and its classes.
func (c *conn) readHTB(ifindex int, q *tc.Qdisc) (*htbDevice, error) {
	dev := &htbDevice{offloaded: htb.Offloaded(q.Options), classes: map[uint32]htb.Class{}, parents: map[uint32]uint32{}}
	dev.defcls, _ = htb.DefCls(q.Options)
	err := c.dump(tc.RTMGetClass, tc.Msg(ifindex, 0, 0, 0), func(msg []byte) error {
		idx, h, p, _, rest, err := tc.ParseMsg(msg)
		if err != nil || idx != ifindex || h>>16 != q.Handle>>16 {
			return err
		}
		m, err := nla.Map(rest)
		if err != nil {
			return fmt.Errorf("htb class %x:%x: %w", h>>16, h&0xffff, err)
		}
		if nla.CString(m[tc.TCAKind]) != "htb" {
			return nil
		}
		k, err := htb.DecodeClass(m[tc.TCAOptions])
		if err != nil {
			return fmt.Errorf("htb class %x:%x: %w", h>>16, h&0xffff, err)
		}
		// A class under the qdisc itself dumps parent TC_H_ROOT
		// (htb_dump_class); it is minor 0 here.
		parent := uint32(0)
		if p>>16 == q.Handle>>16 {
			parent = p & 0xffff
		}
		dev.classes[h&0xffff], dev.parents[h&0xffff] = k, parent
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump htb classes: %w", err)
	}
	return dev, nil
}

// holds reports whether the device holds exactly t: offloaded, its
// default, the top class and every leaf under it with t's rate and ceil,
// and no other class.
func (dev *htbDevice) holds(t *htbTree) bool { return dev.differs(t) == "" }

// differs says how the device's tree differs from t ("" when it holds t).
func (dev *htbDevice) differs(t *htbTree) string {
	same := func(minor, parent uint32, k htb.Class) string {
		got, ok := dev.classes[minor]
		switch {
		case !ok:
			return fmt.Sprintf("class %x missing", minor)
		case dev.parents[minor] != parent:
			return fmt.Sprintf("class %x under %x, want %x", minor, dev.parents[minor], parent)
		case got.RateBytes != k.RateBytes || got.CeilBytes != k.CeilBytes:
			return fmt.Sprintf("class %x rate %d ceil %d bytes/s, want %d %d", minor, got.RateBytes, got.CeilBytes, k.RateBytes, k.CeilBytes)
		}
		return ""
	}
	switch {
	case !dev.offloaded:
		return "not offloaded"
	case dev.defcls != t.defcls:
		return fmt.Sprintf("default %x, want %x", dev.defcls, t.defcls)
	case len(dev.classes) != 1+len(t.leaves):
		return fmt.Sprintf("%d classes, want %d", len(dev.classes), 1+len(t.leaves))
	}
	if d := same(1, 0, t.top); d != "" {
		return d
	}
	for _, l := range t.leaves {
		if d := same(l.minor, 1, l.c); d != "" {
			return d
		}
	}
	return ""
}

// plan describes what the device holds against the recorded plan rec, so
// that Diff sees a change: rec's classes with the device's rates (bit/s),
// missing ones dropped.
func (dev *htbDevice) plan(rec *offload.HTBPlan) *offload.HTBPlan {
	p := &offload.HTBPlan{Handle: rec.Handle, Why: "read back from the device", Where: offload.Where{Placement: offload.Hardware}}
	if !dev.offloaded {
		p.Where = offload.Where{Placement: offload.Software, Reason: "the root htb is not offloaded"}
	}
	if top, ok := dev.classes[1]; ok {
		p.Rate = rateFromBytes(top.CeilBytes)
	}
	for _, c := range rec.Classes {
		if k, ok := dev.classes[uint32(c.Minor)]; ok {
			p.Classes = append(p.Classes, offload.HTBClass{Class: c.Class, Minor: c.Minor, Rate: rateFromBytes(k.RateBytes), Ceil: rateFromBytes(k.CeilBytes), Burst: c.Burst, Share: c.Share})
		}
		if uint32(c.Minor) == dev.defcls {
			p.Default = c.Class
		}
	}
	return p
}

// currentHTB returns the HTB tree Current reports: the recorded one when
// the device holds it, else what the device holds; and, without a state
// file, the reference plan's tree when the device holds exactly that.
func (d *Driver) currentHTB(s *scan, st *state) (*offload.HTBPlan, error) {
	if !isOurHTB(s.root) {
		return nil, nil
	}
	rec := st.HTB
	adopting := rec == nil && d.canAdopt() && d.ref.HTB != nil
	if adopting {
		rec = d.ref.HTB
	}
	if rec == nil {
		return nil, nil
	}
	dev, err := d.c.readHTB(s.rootIdx, s.root)
	if err != nil {
		return nil, err
	}
	t, err := htbTreeOf(rec)
	why := "recorded tree invalid"
	if err == nil {
		why = dev.differs(&t)
	}
	if why == "" {
		h := *rec
		if adopting {
			d.adoptedHTB = &h
		}
		return &h, nil
	}
	if adopting {
		return nil, nil
	}
	d.log.Info("htb tree differs from the recorded one", "diff", why)
	return dev.plan(rec), nil
}

// rootPrev is the root qdisc to put back when qosplane's root goes: the
// recorded one when the root is already ours (an mqprio being swapped for
// an HTB tree, or back), else the root there now.
func (s *scan) rootPrev(ns *state) *savedQdisc {
	if ns.PrevRoot != nil {
		return ns.PrevRoot
	}
	if isOurRoot(s.root) {
		return s.prevRoot
	}
	return saveRoot(s.root)
}

// htbSteps installs, changes or removes the HTB tree. A change of rates
// alone changes the classes in place (TC_HTB_NODE_MODIFY), each undone by
// changing it back; any other change deletes the tree and builds the new
// one, undone by deleting it and building the old one.
func (d *Driver) htbSteps(ns *state, s *scan, op offload.Op) ([]step, error) {
	idx, root := s.rootIdx, s.root
	ours := isOurHTB(root) && ns.HTB != nil
	if isOurHTB(root) && !ours {
		return nil, fmt.Errorf("the root htb %x: on %s is qosplane's but not recorded for owner %q (another policy's, or a lost state file): remove it first (tc qdisc del dev %s root)",
			root.Handle>>16, d.dev.Interface, d.owner, d.dev.Interface)
	}
	var old htbTree
	if ours {
		var err error
		if old, err = htbTreeOf(ns.HTB); err != nil {
			return nil, fmt.Errorf("recorded %w", err)
		}
	}
	var steps []step
	deleteOld := func(prev *savedQdisc) {
		steps = append(steps, step{
			desc: fmt.Sprintf("delete root htb %x: (%d classes)", old.handle>>16, len(old.leaves)),
			do:   func() error { return d.c.restoreRootKind(idx, "htb", old.handle, prev) },
			undo: func() error { return d.c.buildHTB(idx, &old) },
		})
	}
	switch op.Kind {
	case offload.Delete:
		if ours {
			deleteOld(ns.PrevRoot)
		}
		ns.HTB, ns.PrevRoot = nil, nil
		return steps, nil
	case offload.Add, offload.Change:
	default:
		return nil, fmt.Errorf("unknown op %q", op.Kind)
	}
	if op.NewHTB == nil {
		return nil, fmt.Errorf("%s htb: no tree", op.Kind)
	}
	t, err := htbTreeOf(op.NewHTB)
	if err != nil {
		return nil, err
	}
	h := *op.NewHTB
	h.Classes = slices.Clone(op.NewHTB.Classes)
	if ours && old.handle == t.handle && old.defcls == t.defcls && sameLeaves(old.leaves, t.leaves) {
		for _, l := range append([]htbLeaf{{class: "top", minor: 1, c: old.top}}, old.leaves...) {
			nl := htbLeaf{class: "top", minor: 1, c: t.top}
			if l.minor != 1 {
				nl = t.leaves[slices.IndexFunc(t.leaves, func(x htbLeaf) bool { return x.minor == l.minor })]
			}
			if nl.c.RateBytes == l.c.RateBytes && nl.c.CeilBytes == l.c.CeilBytes && nl.c.BurstBytes == l.c.BurstBytes {
				continue
			}
			parent := uint32(1)
			if l.minor == 1 {
				parent = 0
			}
			steps = append(steps, step{
				desc: fmt.Sprintf("change htb class %q (%x:%x) rate %d ceil %d bytes/s", nl.class, t.handle>>16, nl.minor, nl.c.RateBytes, nl.c.CeilBytes),
				do:   func() error { return d.c.putHTBClass(idx, &t, nl.class, nl.minor, parent, nl.c, false) },
				undo: func() error { return d.c.putHTBClass(idx, &t, l.class, l.minor, parent, l.c, false) },
			})
		}
		ns.HTB = &h
		return steps, nil
	}
	if ns.PrevRoot == nil {
		ns.PrevRoot = s.rootPrev(ns)
	}
	// Undoing the build puts back what was the root before this apply:
	// the saved root, or (when the root was ours) the kernel's default
	// until an earlier step's undo re-creates ours.
	var undoPrev *savedQdisc
	if !isOurRoot(root) {
		undoPrev = ns.PrevRoot
	}
	if ours {
		deleteOld(nil)
	}
	steps = append(steps, step{
		desc:    fmt.Sprintf("%s root htb %x: offload (%d classes, default %s)", op.Kind, t.handle>>16, len(t.leaves), h.Default),
		do:      func() error { return d.c.buildHTB(idx, &t) },
		undo:    func() error { return d.c.unbuildHTB(idx, t.handle, undoPrev) },
		partial: true,
	})
	ns.HTB = &h
	return steps, nil
}

func sameLeaves(a, b []htbLeaf) bool {
	return slices.EqualFunc(a, b, func(x, y htbLeaf) bool { return x.minor == y.minor && x.class == y.class })
}
