package datapath

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/qosplane/qosplane/fallback"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Driver serves a target whose plan has a Pacer section (offload.Driver):
// it runs the software pacer as a bump in the wire (Pacer.Mode "bridge",
// between Interface and Peer, both directions forwarded, Interface -> Peer
// shaped) or on the host's own interface (Mode "attach": Interface's egress
// is redirected through the pacer, see attach).
//
// Methods may be called from any goroutine; one Driver serves one target.
type Driver struct {
	target *offload.TargetPlan // the target's identity (name, owner, kind)
	log    *slog.Logger
	// Config tunes every pacer the driver builds; PortRate 0 takes the
	// plan's.
	Config fallback.Config
	// NoFastPath keeps every frame in the pacer. Otherwise bridge mode
	// uses the in-kernel fast path (Options.FastPath, Config.FastPath) for
	// the reverse direction and for the flows the pacer would pass
	// straight through; attach mode never does (its redirect would loop).
	NoFastPath bool
	// NoCoalesce makes the shaping loop wake for every arrival
	// (Options.NoCoalesce); otherwise it reads best-effort arrivals in
	// batches, up to MaxDeferQuantum late.
	NoCoalesce bool

	mu      sync.Mutex
	running *offload.TargetPlan // the applied plan; nil when stopped
	bump    *Bump
	att     *attachment
}

var _ offload.Driver = (*Driver)(nil)

// NewDriver returns a driver for the target of tp, which must carry a pacer
// plan. It changes nothing until Apply.
func NewDriver(tp *offload.TargetPlan, log *slog.Logger) (*Driver, error) {
	if tp == nil || tp.Pacer == nil {
		return nil, errors.New("pacer driver: the plan has no pacer section")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Driver{target: tp, log: log.With("target", tp.Target, "driver", "pacer")}, nil
}

// Probe reports the software pacer's capabilities: the "none" profile (no
// hardware queues or offload) with the link speed of the interface.
func (d *Driver) Probe(ctx context.Context) (*offload.Capabilities, error) {
	caps, err := offload.LoadProfile("none")
	if err != nil {
		return nil, err
	}
	caps.LinkSpeed = linkSpeed(d.target.Pacer.Interface)
	return caps, nil
}

// linkSpeed reads the interface speed from sysfs (Mbit/s there), in bit/s;
// 0 when the interface reports none (veth, a down link).
func linkSpeed(ifname string) model.Rate {
	b, err := os.ReadFile("/sys/class/net/" + ifname + "/speed")
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v <= 0 {
		return 0
	}
	return model.Rate(v) * 1e6
}

// Current returns what the pacer runs: the applied plan's pacer section and
// the classes and rules placed on the pacer, or an empty plan when stopped.
func (d *Driver) Current(ctx context.Context) (*offload.TargetPlan, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := &offload.TargetPlan{Target: d.target.Target, Kind: d.target.Kind, Owner: d.target.Owner,
		Profile: d.target.Profile, Device: d.target.Device, Classes: []offload.ClassPlan{}, Rules: []offload.Rule{}}
	if d.running == nil {
		return out, nil
	}
	cp, err := clonePlan(d.running)
	if err != nil {
		return nil, err
	}
	out.Capacity = cp.Capacity
	out.Pacer = cp.Pacer
	for _, c := range cp.Classes {
		if c.Where.Placement == offload.Pacer {
			out.Classes = append(out.Classes, c)
		}
	}
	for _, r := range cp.Rules {
		if r.Where.Placement == offload.Pacer {
			out.Rules = append(out.Rules, r)
		}
	}
	return out, nil
}

// Apply makes the pacer run want. Stopped: it attaches (attach mode) and
// starts the datapath. Running on the same interfaces and mode: it builds a
// new pacer and swaps it in live, without closing the sockets (frames queued
// in the old one still leave). Otherwise it stops and starts again. want
// without a pacer section removes the pacer. On error the previous state
// stays.
func (d *Driver) Apply(ctx context.Context, want *offload.TargetPlan, ops []offload.Op) error {
	if want == nil || want.Pacer == nil {
		return d.Remove(ctx)
	}
	pc, err := fallback.New(want, d.pacerConfig(want))
	if err != nil {
		return fmt.Errorf("pacer driver: %w", err)
	}
	keep, err := clonePlan(want)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running != nil && samePort(d.running.Pacer, want.Pacer) {
		if err := d.bump.Swap(pc); err != nil {
			return fmt.Errorf("pacer driver: %w", err)
		}
		d.bump.SetWakeQuantum(WakeQuantum(want))
		d.running = keep
		d.log.Info("pacer plan swapped live", "classes", len(want.Classes), "ops", len(ops))
		return nil
	}
	prev := d.running
	if prev != nil {
		if err := d.stopLocked(); err != nil {
			return fmt.Errorf("pacer driver: stop before restart: %w", err)
		}
	}
	if err := d.startLocked(want, pc); err != nil {
		if prev != nil {
			if p2, perr := fallback.New(prev, d.pacerConfig(prev)); perr == nil {
				if rerr := d.startLocked(prev, p2); rerr != nil {
					d.log.Error("pacer driver: could not restore the previous plan", "err", rerr)
				}
			}
		}
		return fmt.Errorf("pacer driver: %w", err)
	}
	d.running = keep
	return nil
}

// fastPath reports whether the pacer of plan tp and its datapath use the
// fast path: bridge mode, unless NoFastPath.
func (d *Driver) fastPath(tp *offload.TargetPlan) bool {
	return !d.NoFastPath && tp.Pacer != nil && tp.Pacer.Mode == "bridge"
}

// pacerConfig is d.Config with Config.FastPath from fastPath.
func (d *Driver) pacerConfig(tp *offload.TargetPlan) fallback.Config {
	cfg := d.Config
	cfg.FastPath = d.fastPath(tp)
	return cfg
}

// samePort reports whether two pacer plans use the same interfaces and
// mode (then a live swap suffices).
func samePort(a, b *offload.PacerPlan) bool {
	return a != nil && b != nil && a.Mode == b.Mode && a.Interface == b.Interface && a.Peer == b.Peer
}

func (d *Driver) startLocked(tp *offload.TargetPlan, pc *fallback.Pacer) error {
	pp := tp.Pacer
	// The raw wait holds one scheduler P (see Options.RawWait): take it
	// only when another is left for the rest of the agent.
	opts := Options{WakeQuantum: WakeQuantum(tp), Log: d.log, MaxFrame: d.Config.MaxFrame, RawWait: runtime.GOMAXPROCS(0) >= 2, NoCoalesce: d.NoCoalesce}
	switch pp.Mode {
	case "bridge":
		if pp.Peer == "" {
			return fmt.Errorf("bridge mode on %q needs a peer interface", pp.Interface)
		}
		opts.In, opts.Out, opts.Reverse, opts.FastPath = pp.Interface, pp.Peer, true, d.fastPath(tp)
	case "attach", "":
		a, err := attach(pp.Interface, d.log)
		if err != nil {
			return err
		}
		d.att = a
		opts.In, opts.Out = a.pacer, pp.Interface
	default:
		return fmt.Errorf("unknown pacer mode %q (attach or bridge)", pp.Mode)
	}
	b, err := Start(opts, pc)
	if err != nil {
		if d.att != nil {
			if rerr := d.att.remove(); rerr != nil {
				d.log.Error("pacer driver: undo attach", "err", rerr)
			}
			d.att = nil
		}
		return err
	}
	d.bump = b
	return nil
}

func (d *Driver) stopLocked() error {
	var errs []error
	if d.att != nil {
		// Hand the egress back before the pacer stops reading, so that
		// no frame is redirected into a veth nobody reads.
		if err := d.att.removeRedirect(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.bump != nil {
		if err := d.bump.Stop(); err != nil {
			errs = append(errs, err)
		}
		d.bump = nil
	}
	if d.att != nil {
		if err := d.att.remove(); err != nil {
			errs = append(errs, err)
		} else {
			d.att = nil
		}
	}
	d.running = nil
	return errors.Join(errs...)
}

// Remove stops the pacer and hands the interface back: in attach mode the
// redirect filter, the clsact qdisc (if the driver added it) and the veth
// pair are deleted. A driver that did not attach itself (e.g. after a
// restart) removes a left-over attachment it recognises by its veth name.
func (d *Driver) Remove(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.stopLocked(); err != nil {
		return fmt.Errorf("pacer driver: %w", err)
	}
	if d.target.Pacer.Mode == "attach" || d.target.Pacer.Mode == "" {
		if err := removeLeftover(d.target.Pacer.Interface, d.log); err != nil {
			return fmt.Errorf("pacer driver: %w", err)
		}
	}
	return nil
}

// removeLeftover deletes an attachment of ifname made by an earlier process:
// the egress filter at attachPrio and the redirect veth.
func removeLeftover(ifname string, log *slog.Logger) error {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil // no interface, nothing attached
	}
	redir, _ := vethNames(link.Attrs().Index)
	if _, err := netlink.LinkByName(redir); err != nil {
		return nil
	}
	a := &attachment{ifname: ifname, ifindex: link.Attrs().Index, redir: redir, filterAdded: true, vethAdded: true, log: log}
	return a.remove()
}

// Counters returns the pacer's per-class and per-rule counters (empty when
// stopped).
func (d *Driver) Counters(ctx context.Context) (*offload.Counters, error) {
	d.mu.Lock()
	b := d.bump
	d.mu.Unlock()
	if b == nil || b.Pacer() == nil {
		return &offload.Counters{}, nil
	}
	return b.Pacer().Counters(), nil
}

// Stats returns the datapath's own counters (shaped and reverse direction).
func (d *Driver) Stats() (shaped, reverse DirSnapshot, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bump == nil {
		return shaped, reverse, false
	}
	shaped, reverse = d.bump.Stats()
	return shaped, reverse, true
}

// Close stops the datapath. A userspace pacer cannot outlive its process,
// so in attach mode Close also removes the redirect: leaving it would
// blackhole the interface's egress.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopLocked()
}

func clonePlan(tp *offload.TargetPlan) (*offload.TargetPlan, error) {
	b, err := json.Marshal(tp)
	if err != nil {
		return nil, fmt.Errorf("pacer driver: copy plan: %w", err)
	}
	var out offload.TargetPlan
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("pacer driver: copy plan: %w", err)
	}
	return &out, nil
}
