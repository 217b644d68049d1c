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
	"time"

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

	// LiveGrace is Options.LiveGrace of the bumps the driver starts: how
	// long a silent pacer counts as alive; default LiveGrace.
	LiveGrace time.Duration

	mu      sync.Mutex
	running *offload.TargetPlan // the applied plan; nil when stopped
	bump    *Bump
	att     *attachment
	bp      *bypass // bridge mode with on-failure bypass
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
		if err := d.stopLocked(true); err != nil {
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
	return a != nil && b != nil && a.Mode == b.Mode && a.Interface == b.Interface && a.Peer == b.Peer && a.OnFailure == b.OnFailure
}

func (d *Driver) startLocked(tp *offload.TargetPlan, pc *fallback.Pacer) (err error) {
	pp := tp.Pacer
	// The raw wait holds one scheduler P (see Options.RawWait): take it
	// only when another is left for the rest of the agent.
	opts := Options{WakeQuantum: WakeQuantum(tp), Log: d.log, MaxFrame: d.Config.MaxFrame, RawWait: runtime.GOMAXPROCS(0) >= 2,
		NoCoalesce: d.NoCoalesce, LiveGrace: d.LiveGrace}
	defer func() {
		if err != nil {
			d.undoStartLocked()
		}
	}()
	switch pp.Mode {
	case "bridge":
		if pp.Peer == "" {
			return fmt.Errorf("bridge mode on %q needs a peer interface", pp.Interface)
		}
		opts.In, opts.Out, opts.Reverse, opts.FastPath = pp.Interface, pp.Peer, true, d.fastPath(tp)
		// The bypass forwards what arrives while the pacer is dead: the
		// pacer must not forward it again when it wakes.
		opts.DropWhileDead = OnFailure(pp.OnFailure) != Block
		if OnFailure(pp.OnFailure) == Block {
			// A bypass an earlier agent left (then in bypass mode) goes:
			// this bridge fails closed now.
			if err := removeLeftoverBypass(d.log, pp.Interface, pp.Peer); err != nil {
				return err
			}
		}
	case "attach", "":
		a, err := prepareAttach(pp.Interface, d.log)
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
		return err
	}
	d.bump = b
	// The fail-open programs go in once the pacer runs: they consult its
	// liveness word, so they pass (steering) or bypass until its first beat.
	switch {
	case d.att != nil:
		if err := d.att.steer(b.LiveFD()); err != nil {
			return err
		}
	case OnFailure(pp.OnFailure) != Block:
		if d.bp, err = installBypass(pp.Interface, pp.Peer, b.LiveFD(), d.log); err != nil {
			return err
		}
	}
	d.log.Info("pacer fail-safe", "mode", pp.Mode, "failsafe", d.failSafeLocked())
	return nil
}

// undoStartLocked takes back what a failed startLocked did.
func (d *Driver) undoStartLocked() {
	if d.att != nil {
		if err := d.att.removeRedirect(); err != nil {
			d.log.Error("pacer driver: undo steering", "err", err)
		}
	}
	if d.bump != nil {
		if err := d.bump.Stop(); err != nil {
			d.log.Error("pacer driver: undo start", "err", err)
		}
		d.bump = nil
	}
	if d.att != nil {
		if err := d.att.remove(); err != nil {
			d.log.Error("pacer driver: undo attach", "err", err)
		}
		d.att = nil
	}
	if d.bp != nil {
		if err := d.bp.remove(); err != nil {
			d.log.Error("pacer driver: undo bypass", "err", err)
		}
		d.bp = nil
	}
}

// stopLocked stops the pacer. Attach mode hands the egress back (steering
// and veth pair deleted). A bridge in bypass mode keeps its bypass filters
// unless removeBypass: the pacer is dead from the moment it stops, so the
// kernel forwards, unshaped, until the next agent adopts the filters or
// Remove deletes them.
func (d *Driver) stopLocked(removeBypass bool) error {
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
	if d.bp != nil && removeBypass {
		if err := d.bp.remove(); err != nil {
			errs = append(errs, err)
		} else {
			d.bp = nil
		}
	}
	d.bp = nil
	d.running = nil
	return errors.Join(errs...)
}

// Remove stops the pacer and hands the interfaces back: in attach mode the
// steering, the clsact qdisc (if qosplane added it) and the veth pair are
// deleted; in bridge mode the bypass filters. A driver that did not start
// them itself (e.g. after a restart) removes what an earlier process left,
// recognised by its owner markers.
func (d *Driver) Remove(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.stopLocked(true); err != nil {
		return fmt.Errorf("pacer driver: %w", err)
	}
	pp := d.target.Pacer
	switch pp.Mode {
	case "attach", "":
		if err := removeLeftover(pp.Interface, d.log); err != nil {
			return fmt.Errorf("pacer driver: %w", err)
		}
	case "bridge":
		if err := removeLeftoverBypass(d.log, pp.Interface, pp.Peer); err != nil {
			return fmt.Errorf("pacer driver: %w", err)
		}
	}
	return nil
}

// FailSafe says how the running pacer fails open (for logs and status):
// the steering of attach mode and its liveness grace, or the bridge's
// on-failure behaviour; "" when stopped.
func (d *Driver) FailSafe() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failSafeLocked()
}

func (d *Driver) failSafeLocked() string {
	if d.bump == nil {
		return ""
	}
	grace := d.bump.guard.grace
	switch {
	case d.att != nil && d.att.steering == SteerTCX:
		return fmt.Sprintf("attach, fails open: tcx link detached with the agent; liveness %v", time.Duration(grace))
	case d.att != nil:
		return fmt.Sprintf("attach, fails open: cls_bpf steering (no tcx) passes frames %v after the last liveness beat", time.Duration(grace))
	case d.bp != nil:
		return fmt.Sprintf("bridge, on-failure bypass: the kernel forwards unshaped %v after the last liveness beat", time.Duration(grace))
	default:
		return "bridge, on-failure block: nothing passes while the pacer is dead"
	}
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
// so in attach mode Close also removes the steering: the egress leaves
// unshaped. A bridge in bypass mode keeps forwarding in the kernel (see
// stopLocked); Remove deletes the bypass.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopLocked(false)
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
