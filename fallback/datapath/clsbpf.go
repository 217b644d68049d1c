package datapath

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Persistent tc filters: the fail-open programs that must outlive the
// process (the bridge's bypass, and the attach mode's steering on kernels
// without tcx) sit on the clsact qdisc as direct-action cls_bpf filters at
// ownPrio, handle 1. The filter's name (TCA_BPF_NAME) is the owner marker:
// ownerSteer or ownerBypass, with clsactSuffix when qosplane added the
// clsact qdisc itself (so that whichever process removes the filter knows
// whether the qdisc is its to delete).
const (
	ownPrio      = 1
	ownHandle    = 1
	ownerSteer   = "qosplane-steer"
	ownerBypass  = "qosplane-bypass"
	clsactSuffix = "+clsact"
)

// filterOwner is what holds the hook's ownPrio.
type filterOwner int

const (
	ownerNone    filterOwner = iota // nothing at ownPrio
	ownerOurs                       // a cls_bpf filter with our marker
	ownerLegacy                     // the u32 redirect of qosplane before fail-open (attach mode)
	ownerForeign                    // something else
)

// ownFilter is the filter found at a hook's ownPrio.
type ownFilter struct {
	owner       filterOwner
	addedClsact bool   // its marker says qosplane added clsact
	kind        string // tc kind: "bpf", "u32"
	desc        string // for errors: kind and name
}

// hookParent is the clsact parent of the ingress or egress hook.
func hookParent(egress bool) uint32 {
	if egress {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// findOwnFilter reports what holds ownPrio on ifindex's hook. marker is the
// owner name expected there; legacyTo, when > 0, is the ifindex a legacy
// u32 mirred redirect of ours points to.
func findOwnFilter(ifindex int, egress bool, marker string, legacyTo int) (ownFilter, error) {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return ownFilter{}, err
	}
	fs, err := netlink.FilterList(link, hookParent(egress))
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return ownFilter{}, nil // no clsact
		}
		return ownFilter{}, fmt.Errorf("list filters: %w", err)
	}
	for _, f := range fs {
		if f.Attrs().Priority != ownPrio {
			continue
		}
		switch f := f.(type) {
		case *netlink.BpfFilter:
			if name, ok := strings.CutPrefix(f.Name, marker); ok && (name == "" || name == clsactSuffix) {
				return ownFilter{owner: ownerOurs, addedClsact: name == clsactSuffix, kind: "bpf", desc: "bpf " + f.Name}, nil
			}
			return ownFilter{owner: ownerForeign, desc: fmt.Sprintf("bpf filter %q", f.Name)}, nil
		case *netlink.U32:
			if legacyTo > 0 && len(f.Actions) == 1 {
				if m, ok := f.Actions[0].(*netlink.MirredAction); ok && m.Ifindex == legacyTo {
					return ownFilter{owner: ownerLegacy, kind: "u32", desc: "u32 redirect"}, nil
				}
			}
			return ownFilter{owner: ownerForeign, desc: "u32 filter"}, nil
		default:
			return ownFilter{owner: ownerForeign, desc: f.Type() + " filter"}, nil
		}
	}
	return ownFilter{}, nil
}

// ensureClsact adds the clsact qdisc to ifindex unless it has one; added
// reports whether it did.
func ensureClsact(ifindex int) (added bool, err error) {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false, err
	}
	qds, err := netlink.QdiscList(link)
	if err != nil {
		return false, fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qds {
		if q.Type() == "clsact" {
			return false, nil
		}
	}
	if err := netlink.QdiscAdd(clsactQdisc(ifindex)); err != nil {
		return false, fmt.Errorf("add clsact: %w", err)
	}
	return true, nil
}

func clsactQdisc(ifindex int) *netlink.GenericQdisc {
	return &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
}

// putOwnFilter installs (or atomically replaces) our direct-action cls_bpf
// filter at ownPrio on ifindex's hook, running progFD, named marker (with
// clsactSuffix when addedClsact).
func putOwnFilter(ifindex int, egress bool, progFD int, marker string, addedClsact bool) error {
	name := marker
	if addedClsact {
		name += clsactSuffix
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: hookParent(egress), Handle: ownHandle, Priority: ownPrio, Protocol: unix.ETH_P_ALL},
		Fd:          progFD, Name: name, DirectAction: true,
	}
	if err := netlink.FilterReplace(f); err != nil {
		return fmt.Errorf("install %s filter: %w", marker, err)
	}
	return nil
}

// delOwnPrio deletes the filters of kind ("bpf", "u32") at ownPrio on
// ifindex's hook (the caller has checked they are ours); none there is no
// error.
func delOwnPrio(ifindex int, egress bool, kind string) error {
	f := &netlink.GenericFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: hookParent(egress), Priority: ownPrio, Protocol: unix.ETH_P_ALL},
		FilterType:  kind,
	}
	if err := netlink.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("delete filter: %w", err)
	}
	return nil
}

// delClsactIfEmpty deletes ifindex's clsact qdisc when neither hook has a
// filter left (someone else may have added one since qosplane added it).
func delClsactIfEmpty(ifindex int) error {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil // the interface is gone, and its qdisc with it
	}
	for _, egress := range []bool{false, true} {
		fs, err := netlink.FilterList(link, hookParent(egress))
		if err != nil {
			return nil // no clsact
		}
		if len(fs) > 0 {
			return nil
		}
	}
	if err := netlink.QdiscDel(clsactQdisc(ifindex)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("delete clsact: %w", err)
	}
	return nil
}
