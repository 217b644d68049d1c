package datapath

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Steering is how attach mode steers the interface's egress into the pacer,
// and so how it fails open.
type Steering string

const (
	// SteerTCX: a tcx egress program held by a bpf_link that only the
	// agent's process holds (not pinned): the kernel detaches it when the
	// process exits, however it exits. Linux 6.6 or later.
	SteerTCX Steering = "tcx-link"
	// SteerClsBPF: a cls_bpf filter on clsact egress that redirects only
	// while the pacer's liveness deadline is ahead (see guard); it stays
	// after a crash, passing every frame, until the next agent adopts it.
	SteerClsBPF Steering = "cls_bpf-liveness"
)

// vethAliasPrefix starts the alias (IFLA_IFALIAS) of the redirect veth: the
// owner marker by which a later process recognises the pair as its own.
const vethAliasPrefix = "qosplane-pacer "

// attachment steers an interface's egress through the pacer: a veth pair
// (redirect end, pacer end) and a steering program on the interface's
// egress that redirects every frame into the redirect end while the pacer
// is alive. The pacer reads the pacer end and transmits on the interface
// with PACKET_QDISC_BYPASS, which skips the egress hook, so nothing loops.
//
// Both hang-ups of a pacer fail open: the steering program reads the
// pacer's liveness word, and on tcx kernels it is also detached with the
// process. A starting agent adopts the veth pair and the cls_bpf steering
// an earlier one left (recognised by their markers) instead of refusing;
// objects with those names that are not qosplane's are refused.
type attachment struct {
	ifname       string
	ifindex      int
	redir, pacer string // veth ends
	redirIndex   int
	steering     Steering // "" until steer
	tcx          link.Link
	addedClsact  bool // cls_bpf steering: qosplane added the clsact qdisc
	filterAdded  bool
	log          *slog.Logger
}

// vethNames are the attachment's veth ends for ifindex (15-char limit).
func vethNames(ifindex int) (redir, pacer string) {
	return "qpr" + strconv.Itoa(ifindex), "qpp" + strconv.Itoa(ifindex)
}

// prepareAttach makes (or adopts) the veth pair of ifname. Nothing is
// steered yet: start the pacer on a.pacer, then call steer. On error
// nothing it made stays.
func prepareAttach(ifname string, log *slog.Logger) (a *attachment, err error) {
	lk, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("iface %q: %w", ifname, err)
	}
	idx := lk.Attrs().Index
	a = &attachment{ifname: ifname, ifindex: idx, log: log}
	a.redir, a.pacer = vethNames(idx)
	mtu := lk.Attrs().MTU
	old, lookupErr := netlink.LinkByName(a.redir)
	adopted := lookupErr == nil
	if adopted {
		if err := a.checkOwnVeth(old); err != nil {
			return nil, err
		}
	} else {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a.redir, MTU: mtu, TxQLen: 1000}, PeerName: a.pacer}
		if err := netlink.LinkAdd(veth); err != nil {
			return nil, fmt.Errorf("iface %q: add veth %s: %w", ifname, a.redir, err)
		}
		defer func() {
			if err != nil {
				if rerr := a.removeVeth(); rerr != nil {
					log.Error("attach: undo failed", "iface", ifname, "err", rerr)
				}
			}
		}()
	}
	for _, n := range []string{a.redir, a.pacer} {
		// The pair carries only redirected frames: no addresses, no IPv6
		// chatter of its own.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+n+"/disable_ipv6", []byte("1"), 0o644)
		l, err := netlink.LinkByName(n)
		if err != nil {
			return nil, fmt.Errorf("iface %q: %s: %w", ifname, n, err)
		}
		if n == a.redir {
			a.redirIndex = l.Attrs().Index
			if err := netlink.LinkSetAlias(l, vethAliasPrefix+ifname); err != nil {
				return nil, fmt.Errorf("iface %q: mark %s: %w", ifname, n, err)
			}
		}
		if l.Attrs().MTU != mtu {
			if err := netlink.LinkSetMTU(l, mtu); err != nil {
				return nil, fmt.Errorf("iface %q: %s mtu: %w", ifname, n, err)
			}
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("iface %q: %s up: %w", ifname, n, err)
		}
	}
	if adopted {
		log.Info("pacer attach: adopted the redirect veth an earlier agent left", "iface", ifname, "redirect", a.redir)
	}
	return a, nil
}

// checkOwnVeth accepts an existing link named a.redir only if it is the
// redirect veth of a qosplane pacer on this interface: its alias says so
// (or, from before the alias, it is a veth whose peer is a.pacer).
func (a *attachment) checkOwnVeth(l netlink.Link) error {
	alias := l.Attrs().Alias
	if alias == vethAliasPrefix+a.ifname {
		return nil
	}
	if strings.HasPrefix(alias, vethAliasPrefix) {
		return fmt.Errorf("iface %q: %s belongs to the pacer of %q (alias %q), not this interface", a.ifname, a.redir, strings.TrimPrefix(alias, vethAliasPrefix), alias)
	}
	if _, ok := l.(*netlink.Veth); ok && alias == "" {
		if p, err := netlink.LinkByName(a.pacer); err == nil {
			if pi, err := netlink.VethPeerIndex(l.(*netlink.Veth)); err == nil && pi == p.Attrs().Index {
				return nil
			}
		}
	}
	return fmt.Errorf("iface %q: a link named %s exists and is not qosplane's (no %q alias): rename or delete it", a.ifname, a.redir, vethAliasPrefix+a.ifname)
}

// steer installs the steering program reading the liveness map liveFD:
// a tcx link where the kernel has tcx, else a cls_bpf filter (adopting, by
// an atomic replace, one an earlier agent left). Until the pacer beats, the
// program passes every frame. On error nothing new stays.
func (a *attachment) steer(liveFD int) error {
	own, err := findOwnFilter(a.ifindex, true, ownerSteer, a.redirIndex)
	if err != nil {
		return fmt.Errorf("iface %q: %w", a.ifname, err)
	}
	if own.owner == ownerForeign {
		return fmt.Errorf("iface %q: the egress filter at priority %d (%s) is not qosplane's: the pacer's steering needs it", a.ifname, ownPrio, own.desc)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "qp_steer", Type: ebpf.SchedCLS, Instructions: steerProg(liveFD, a.redirIndex), License: "Dual MIT/GPL",
	})
	if err != nil {
		return fmt.Errorf("iface %q: load qp_steer: %+v", a.ifname, err)
	}
	defer prog.Close() // the link or the filter holds it
	if l, err := link.AttachTCX(link.TCXOptions{Interface: a.ifindex, Program: prog, Attach: ebpf.AttachTCXEgress}); err == nil {
		a.tcx, a.steering = l, SteerTCX
		// tcx runs before clsact: a filter an earlier agent left behind
		// (on this kernel, from before fail-open) is unreachable now.
		if own.owner != ownerNone {
			if err := a.dropOldFilter(own); err != nil {
				a.log.Warn("pacer attach: could not delete an earlier agent's steering filter", "iface", a.ifname, "err", err)
			}
		}
	} else {
		tcxErr := err
		if own.owner == ownerLegacy {
			// A u32 redirect cannot be replaced by a bpf filter at the same
			// priority: delete it first (frames leave unshaped meanwhile).
			if err := a.dropOldFilter(own); err != nil {
				return fmt.Errorf("iface %q: %w", a.ifname, err)
			}
			own = ownFilter{addedClsact: true}
		}
		added := own.addedClsact
		if own.owner == ownerNone {
			if added, err = ensureClsact(a.ifindex); err != nil {
				return fmt.Errorf("iface %q: %w", a.ifname, err)
			}
		}
		if err := putOwnFilter(a.ifindex, true, prog.FD(), ownerSteer, added); err != nil {
			if added && own.owner == ownerNone {
				_ = delClsactIfEmpty(a.ifindex)
			}
			return fmt.Errorf("iface %q: %w (tcx: %v)", a.ifname, err, tcxErr)
		}
		a.addedClsact, a.filterAdded, a.steering = added, true, SteerClsBPF
		a.log.Debug("pacer attach: no tcx, steering with a cls_bpf filter", "iface", a.ifname, "tcx_err", tcxErr)
	}
	a.log.Info("pacer attached", "iface", a.ifname, "redirect", a.redir, "pacer", a.pacer, "steering", a.steering,
		"adopted_filter", own.owner == ownerOurs)
	return nil
}

// dropOldFilter deletes the steering filter an earlier agent left.
func (a *attachment) dropOldFilter(own ownFilter) error {
	if err := delOwnPrio(a.ifindex, true, own.kind); err != nil {
		return err
	}
	if own.addedClsact || own.owner == ownerLegacy {
		return delClsactIfEmpty(a.ifindex)
	}
	return nil
}

// remove undoes steer and prepareAttach. It goes on after an error and
// returns them all.
func (a *attachment) remove() error {
	return errors.Join(a.removeRedirect(), a.removeVeth())
}

// removeRedirect detaches the steering: the interface's egress goes
// straight out again.
func (a *attachment) removeRedirect() error {
	var errs []error
	if a.tcx != nil {
		if err := a.tcx.Close(); err != nil {
			errs = append(errs, fmt.Errorf("iface %q: detach tcx steering: %w", a.ifname, err))
		}
		a.tcx = nil
	}
	if a.filterAdded {
		if err := delOwnPrio(a.ifindex, true, "bpf"); err != nil {
			errs = append(errs, fmt.Errorf("iface %q: %w", a.ifname, err))
		} else {
			a.filterAdded = false
		}
	}
	if a.addedClsact && !a.filterAdded {
		if err := delClsactIfEmpty(a.ifindex); err != nil {
			errs = append(errs, fmt.Errorf("iface %q: %w", a.ifname, err))
		} else {
			a.addedClsact = false
		}
	}
	return errors.Join(errs...)
}

// removeVeth deletes the veth pair.
func (a *attachment) removeVeth() error {
	if l, err := netlink.LinkByName(a.redir); err == nil {
		if err := a.checkOwnVeth(l); err != nil {
			return err
		}
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("iface %q: delete veth %s: %w", a.ifname, a.redir, err)
		}
		a.log.Info("pacer detached", "iface", a.ifname)
	}
	return nil
}

// removeLeftover deletes an attachment of ifname an earlier process left:
// its steering filter and its redirect veth (each only if it is ours).
func removeLeftover(ifname string, log *slog.Logger) error {
	lk, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil // no interface, nothing attached
	}
	a := &attachment{ifname: ifname, ifindex: lk.Attrs().Index, log: log}
	a.redir, a.pacer = vethNames(a.ifindex)
	if l, err := netlink.LinkByName(a.redir); err == nil {
		a.redirIndex = l.Attrs().Index
	}
	var errs []error
	own, err := findOwnFilter(a.ifindex, true, ownerSteer, a.redirIndex)
	if err != nil {
		errs = append(errs, err)
	} else if own.owner == ownerOurs || own.owner == ownerLegacy {
		errs = append(errs, a.dropOldFilter(own))
	}
	if a.redirIndex > 0 {
		errs = append(errs, a.removeVeth())
	}
	return errors.Join(errs...)
}
