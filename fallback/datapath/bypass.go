package datapath

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// OnFailure is what a bridge does while its pacer is dead.
type OnFailure string

const (
	// Bypass: the kernel forwards between the two interfaces, unshaped,
	// like a bypass NIC in an inline appliance (the default).
	Bypass OnFailure = "bypass"
	// Block: nothing passes (a fail-closed middlebox).
	Block OnFailure = "block"
)

// bypass is the bridge's fail-open path: a cls_bpf filter on the clsact
// ingress of each interface that redirects every frame to the other
// interface while the pacer is dead (bypassProg). Being a filter, not a
// link, it outlives the process: a killed or stopped pacer leaves the
// bridge forwarding. A starting agent replaces the filters an earlier one
// left (atomically: the bridge forwards throughout) and a clean removal
// deletes them.
type bypass struct {
	ifs [2]bypassIf
	log *slog.Logger
}

type bypassIf struct {
	name        string
	index       int
	addedClsact bool
	installed   bool
}

// installBypass puts the bypass filters on in and out, reading the
// liveness map liveFD. On error nothing new stays (filters it replaced are
// gone with their old programs, which is what a retry installs again).
func installBypass(in, out string, liveFD int, log *slog.Logger) (bp *bypass, err error) {
	bp = &bypass{log: log}
	for i, name := range []string{in, out} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("bypass: iface %q: %w", name, err)
		}
		bp.ifs[i] = bypassIf{name: name, index: l.Attrs().Index}
	}
	defer func() {
		if err != nil {
			if rerr := bp.remove(); rerr != nil {
				log.Error("bypass: undo failed", "err", rerr)
			}
			bp = nil
		}
	}()
	adopted := 0
	for i := range bp.ifs {
		f := &bp.ifs[i]
		other := bp.ifs[1-i].index
		own, err := findOwnFilter(f.index, false, ownerBypass, 0)
		if err != nil {
			return bp, fmt.Errorf("bypass: iface %q: %w", f.name, err)
		}
		switch own.owner {
		case ownerForeign:
			return bp, fmt.Errorf("bypass: iface %q: the ingress filter at priority %d (%s) is not qosplane's: the bypass needs it", f.name, ownPrio, own.desc)
		case ownerOurs:
			f.addedClsact = own.addedClsact
			adopted++
		default:
			if f.addedClsact, err = ensureClsact(f.index); err != nil {
				return bp, fmt.Errorf("bypass: iface %q: %w", f.name, err)
			}
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "qp_bypass", Type: ebpf.SchedCLS, Instructions: bypassProg(liveFD, other), License: "Dual MIT/GPL",
		})
		if err != nil {
			return bp, fmt.Errorf("bypass: load qp_bypass: %+v", err)
		}
		err = putOwnFilter(f.index, false, prog.FD(), ownerBypass, f.addedClsact)
		prog.Close() // the filter holds it
		if err != nil {
			return bp, fmt.Errorf("bypass: iface %q: %w", f.name, err)
		}
		f.installed = true
	}
	log.Info("bridge bypass installed", "in", in, "out", out, "adopted", adopted)
	return bp, nil
}

// remove deletes the filters (and the clsact qdiscs qosplane added, when
// empty). It goes on after an error and returns them all.
func (bp *bypass) remove() error {
	var errs []error
	for i := range bp.ifs {
		f := &bp.ifs[i]
		if f.installed {
			if err := delOwnPrio(f.index, false, "bpf"); err != nil {
				errs = append(errs, fmt.Errorf("bypass: iface %q: %w", f.name, err))
				continue
			}
			f.installed = false
		}
		if f.addedClsact {
			if err := delClsactIfEmpty(f.index); err != nil {
				errs = append(errs, fmt.Errorf("bypass: iface %q: %w", f.name, err))
				continue
			}
			f.addedClsact = false
		}
	}
	return errors.Join(errs...)
}

// removeLeftoverBypass deletes bypass filters an earlier process left on
// the interfaces (only those with qosplane's marker).
func removeLeftoverBypass(log *slog.Logger, names ...string) error {
	var errs []error
	for _, name := range names {
		l, err := netlink.LinkByName(name)
		if err != nil {
			continue
		}
		idx := l.Attrs().Index
		own, err := findOwnFilter(idx, false, ownerBypass, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("bypass: iface %q: %w", name, err))
			continue
		}
		if own.owner != ownerOurs {
			continue
		}
		if err := delOwnPrio(idx, false, "bpf"); err != nil {
			errs = append(errs, fmt.Errorf("bypass: iface %q: %w", name, err))
			continue
		}
		if own.addedClsact {
			errs = append(errs, delClsactIfEmpty(idx))
		}
		log.Info("bridge bypass removed", "iface", name)
	}
	return errors.Join(errs...)
}
