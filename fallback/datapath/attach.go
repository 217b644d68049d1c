package datapath

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// attachPrio is the tc filter priority of the redirect on the interface's
// clsact egress hook: first, so every frame the host sends goes to the pacer.
const attachPrio = 1

// attachment steers an interface's egress through the pacer: a veth pair
// (redirect end, pacer end), a u32 match-all filter on the interface's
// clsact egress with a mirred redirect into the redirect end. The pacer
// reads the pacer end and transmits on the interface with
// PACKET_QDISC_BYPASS, which skips clsact egress, so nothing loops.
//
// It records exactly what it added, so that remove restores the interface
// as it was: the filter, the clsact qdisc only if it was not there before,
// and the veth pair.
type attachment struct {
	ifname       string
	ifindex      int
	redir, pacer string // veth ends
	addedClsact  bool
	filterAdded  bool
	vethAdded    bool
	log          *slog.Logger
}

// vethNames are the attachment's veth ends for ifindex (15-char limit).
func vethNames(ifindex int) (redir, pacer string) {
	return "qpr" + strconv.Itoa(ifindex), "qpp" + strconv.Itoa(ifindex)
}

// attach sets up the redirect of ifname's egress. On error it undoes what
// it did.
func attach(ifname string, log *slog.Logger) (a *attachment, err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("iface %q: %w", ifname, err)
	}
	idx := link.Attrs().Index
	a = &attachment{ifname: ifname, ifindex: idx, log: log}
	a.redir, a.pacer = vethNames(idx)
	defer func() {
		if err != nil {
			if rerr := a.remove(); rerr != nil {
				log.Error("attach: undo failed", "iface", ifname, "err", rerr)
			}
			a = nil
		}
	}()
	if _, err := netlink.LinkByName(a.redir); err == nil {
		return a, fmt.Errorf("iface %q: %s already exists (another pacer attached? run Remove)", ifname, a.redir)
	}
	mtu := link.Attrs().MTU
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a.redir, MTU: mtu, TxQLen: 1000}, PeerName: a.pacer}
	if err := netlink.LinkAdd(veth); err != nil {
		return a, fmt.Errorf("iface %q: add veth %s: %w", ifname, a.redir, err)
	}
	a.vethAdded = true
	for _, n := range []string{a.redir, a.pacer} {
		// The pair carries only redirected frames: no addresses, no IPv6
		// chatter of its own.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+n+"/disable_ipv6", []byte("1"), 0o644)
		l, err := netlink.LinkByName(n)
		if err != nil {
			return a, fmt.Errorf("iface %q: %s: %w", ifname, n, err)
		}
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return a, fmt.Errorf("iface %q: %s mtu: %w", ifname, n, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return a, fmt.Errorf("iface %q: %s up: %w", ifname, n, err)
		}
	}
	redirLink, err := netlink.LinkByName(a.redir)
	if err != nil {
		return a, fmt.Errorf("iface %q: %s: %w", ifname, a.redir, err)
	}
	qds, err := netlink.QdiscList(link)
	if err != nil {
		return a, fmt.Errorf("iface %q: list qdiscs: %w", ifname, err)
	}
	hasClsact := false
	for _, q := range qds {
		if q.Type() == "clsact" {
			hasClsact = true
		}
	}
	if !hasClsact {
		q := &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}
		if err := netlink.QdiscAdd(q); err != nil {
			return a, fmt.Errorf("iface %q: add clsact: %w", ifname, err)
		}
		a.addedClsact = true
	}
	existing, err := netlink.FilterList(link, netlink.HANDLE_MIN_EGRESS)
	if err != nil {
		return a, fmt.Errorf("iface %q: list egress filters: %w", ifname, err)
	}
	for _, f := range existing {
		if f.Attrs().Priority == attachPrio {
			return a, fmt.Errorf("iface %q: an egress filter already uses priority %d", ifname, attachPrio)
		}
	}
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: netlink.HANDLE_MIN_EGRESS, Priority: attachPrio, Protocol: unix.ETH_P_ALL},
		// Sel nil: the library encodes a match-all selector.
		Actions: []netlink.Action{netlink.NewMirredAction(redirLink.Attrs().Index)},
	}
	if err := netlink.FilterAdd(f); err != nil {
		return a, fmt.Errorf("iface %q: add egress redirect filter: %w", ifname, err)
	}
	a.filterAdded = true
	log.Info("pacer attached", "iface", ifname, "redirect", a.redir, "pacer", a.pacer, "clsact_added", a.addedClsact)
	return a, nil
}

// remove deletes what attach added. It goes on after an error and returns
// them all.
func (a *attachment) remove() error {
	return errors.Join(a.removeRedirect(), a.removeVeth())
}

// removeRedirect deletes the filter and (if attach added it) the clsact
// qdisc: the interface's egress goes straight out again.
func (a *attachment) removeRedirect() error {
	var errs []error
	link, err := netlink.LinkByIndex(a.ifindex)
	if err != nil {
		errs = append(errs, fmt.Errorf("iface %q: %w", a.ifname, err))
	}
	if a.filterAdded && link != nil {
		// Delete our priority on the egress hook (every handle of it).
		f := &netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: a.ifindex, Parent: netlink.HANDLE_MIN_EGRESS, Priority: attachPrio, Protocol: unix.ETH_P_ALL}}
		if err := netlink.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("iface %q: delete egress filter: %w", a.ifname, err))
		} else {
			a.filterAdded = false
		}
	}
	if a.addedClsact && link != nil {
		q := &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: a.ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}
		if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("iface %q: delete clsact: %w", a.ifname, err))
		} else {
			a.addedClsact = false
		}
	}
	return errors.Join(errs...)
}

// removeVeth deletes the veth pair.
func (a *attachment) removeVeth() error {
	var errs []error
	if a.vethAdded {
		if l, err := netlink.LinkByName(a.redir); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("iface %q: delete veth %s: %w", a.ifname, a.redir, err))
			} else {
				a.vethAdded = false
			}
		} else {
			a.vethAdded = false
		}
	}
	if len(errs) == 0 {
		a.log.Info("pacer detached", "iface", a.ifname)
	}
	return errors.Join(errs...)
}
