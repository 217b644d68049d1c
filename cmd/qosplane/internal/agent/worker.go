package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qosplane/qosplane/drivers/cgroup"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// worker keeps one target at its plan. Its goroutine owns the drivers;
// status fields are guarded by mu for readers.
type worker struct {
	a    *Agent
	name string
	kick chan struct{}
	done chan struct{} // closed by retire: the target left the policy

	// Owned by the run goroutine (and by stop, after run returned).
	hw, pacer offload.Driver
	fails     int
	// refused is the fingerprint of the hardware plan the device last
	// refused: the same plan goes straight to the pacer instead of
	// churning the device on every reconcile; a new plan tries again.
	refused   string
	lastBytes map[string]uint64
	lastRead  time.Time
	// sockFlows are the flows of the target's socket rules.
	sockFlows []string

	mu sync.Mutex
	st TargetStatus
}

func newWorker(a *Agent, name string) *worker {
	return &worker{a: a, name: name, kick: make(chan struct{}, 1), done: make(chan struct{}),
		st: TargetStatus{Name: name}}
}

func (w *worker) kickNow() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *worker) retire() { close(w.done) }

func (w *worker) run(ctx context.Context) {
	cfg := &w.a.cfg
	retry := time.NewTimer(0) // reconcile at once
	defer retry.Stop()
	counters := time.NewTicker(cfg.CountersInterval)
	defer counters.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case <-counters.C:
			w.readCounters(ctx)
			continue
		case <-w.kick:
		case <-retry.C:
		}
		err := w.reconcileOnce(ctx)
		next := cfg.Interval
		if err != nil {
			w.fails++
			next = min(cfg.BackoffMin<<min(w.fails-1, 20), cfg.BackoffMax)
			w.a.log.Warn("reconcile failed", "target", w.name, "err", err, "attempt", w.fails, "retry_in", next)
		} else {
			w.fails = 0
		}
		w.mu.Lock()
		w.st.NextAttempt = time.Now().Add(next)
		w.st.ConsecutiveFailures = w.fails
		w.mu.Unlock()
		retry.Reset(next)
		w.a.notify()
	}
}

// reconcileOnce brings the target to the running policy's plan, within the
// target timeout.
func (w *worker) reconcileOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.a.cfg.TargetTimeout)
	defer cancel()
	p, order := w.a.snapshot()
	var t *model.Target
	for i := range p.Targets {
		if p.Targets[i].Name == w.name {
			t = &p.Targets[i]
		}
	}
	if t == nil {
		return nil // leaving the policy; syncWorkers retires us
	}
	start := time.Now()
	tp, ops, err := w.reconcile(ctx, p, t, order)
	var sockNotes []string
	if err == nil && t.Kind == model.NIC {
		// The host's socket marking follows the NIC's plan: its priorities
		// are this NIC's TC priorities.
		sockNotes, err = w.a.sockets.set(w.name, tp)
		w.sockFlows = w.sockFlows[:0]
		for _, r := range cgroup.FromPlan(tp) {
			w.sockFlows = append(w.sockFlows, r.Flow)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.Kind = t.Kind
	w.st.LastAttempt = start
	w.st.Duration = time.Since(start)
	if err != nil {
		w.st.LastError = err.Error()
		w.st.LastErrorTime = start
		return err
	}
	w.st.LastError = ""
	w.st.LastSuccess = start
	w.st.LastOps = ops
	w.st.Applies += btoi(ops > 0)
	w.st.setPlan(tp)
	w.st.Notes = append(w.st.Notes, sockNotes...)
	if ops > 0 {
		w.a.log.Info("target reconciled", "target", w.name, "ops", ops, "profile", tp.Profile, "pacer", tp.Pacer != nil)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// reconcile probes, compiles, diffs and applies. A device that refuses an
// offload gets the whole target re-planned onto the software pacer.
func (w *worker) reconcile(ctx context.Context, p *model.Policy, t *model.Target, order []int) (*offload.TargetPlan, int, error) {
	log := w.a.log.With("target", t.Name)
	caps, err := w.capabilities(ctx, p, t)
	if err != nil {
		return nil, 0, err
	}
	want, err := offload.CompileTarget(p, t, caps, order)
	if err != nil {
		return nil, 0, err
	}
	fp := offload.Fingerprint(want)
	if want.Pacer == nil && fp == w.refused {
		log.Debug("the device refused this plan before; staying on the software pacer")
		if want, err = w.pacerPlan(p, t, caps, order, "the device refused this plan before"); err != nil {
			return nil, 0, err
		}
	}
	if want.Pacer == nil {
		ops, refused := w.converge(ctx, w.hw, want)
		if refused == nil {
			// The target moved back to hardware: stop a pacer it had.
			w.stopPacer(ctx, true)
			return want, ops, nil
		}
		if !errors.Is(refused, offload.ErrRefused) {
			return nil, 0, refused
		}
		log.Warn("device refused the offload; falling back to the software pacer", "err", refused)
		w.refused = fp
		if want, err = w.pacerPlan(p, t, caps, order, "the device refused the offload: "+refused.Error()); err != nil {
			return nil, 0, err
		}
	}
	if w.pacer == nil {
		if w.pacer, err = w.a.cfg.Factory.OpenPacer(ctx, want); err != nil {
			return nil, 0, fmt.Errorf("software pacer: %w", err)
		}
		log.Info("software fallback: the pacer serves this target", "reason", want.Pacer.Reason)
	}
	ops, err := w.converge(ctx, w.pacer, want)
	if fs, ok := w.pacer.(failSafer); ok {
		w.mu.Lock()
		w.st.FailSafe = fs.FailSafe()
		w.mu.Unlock()
	}
	return want, ops, err
}

// failSafer is a pacer driver that says how it fails open
// (datapath.Driver.FailSafe).
type failSafer interface{ FailSafe() string }

// pacerPlan compiles t for the software pacer after a refusal.
func (w *worker) pacerPlan(p *model.Policy, t *model.Target, caps *offload.Capabilities, order []int, why string) (*offload.TargetPlan, error) {
	none, err := offload.LoadProfile("none")
	if err != nil {
		return nil, err
	}
	none.LinkSpeed = caps.LinkSpeed
	tp, err := offload.CompileTarget(p, t, none, order)
	if err != nil {
		return nil, err
	}
	tp.Pacer.Reason = why
	return tp, nil
}

// capabilities opens the target's driver if needed and returns what to
// compile for: the configured profile (agent override, then the policy's)
// completed with what the device reports, or what the driver probed.
func (w *worker) capabilities(ctx context.Context, p *model.Policy, t *model.Target) (*offload.Capabilities, error) {
	if w.hw == nil {
		d, err := w.a.cfg.Factory.Open(ctx, Target{Name: t.Name, Kind: t.Kind, Owner: "qosplane-" + p.Name,
			Profile: t.Profile, Device: offload.DeviceOf(t)})
		if err != nil {
			return nil, fmt.Errorf("open driver: %w", err)
		}
		w.hw = d
	}
	probed, err := w.hw.Probe(ctx)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	name := w.a.cfg.Profile
	if name == "" {
		name = t.Profile
	}
	if name == "" || name == probed.Profile {
		return probed, nil
	}
	c, err := offload.LoadProfile(name)
	if err != nil {
		return nil, err
	}
	c.LinkSpeed = probed.LinkSpeed
	if probed.Channels > 0 && c.TrafficClasses > 0 {
		c.Channels = min(max(c.Channels, c.TrafficClasses), probed.Channels)
	}
	return c, nil
}

// converge applies Diff(Current, want) through d; it writes nothing when
// the device already holds the plan.
func (w *worker) converge(ctx context.Context, d offload.Driver, want *offload.TargetPlan) (int, error) {
	if r, ok := d.(offload.Referencer); ok {
		r.Reference(want)
	}
	cur, err := d.Current(ctx)
	if err != nil {
		return 0, fmt.Errorf("read current state: %w", err)
	}
	ops := offload.Diff(cur, want)
	if len(ops) == 0 {
		return 0, nil
	}
	if err := d.Apply(ctx, want, ops); err != nil {
		return 0, fmt.Errorf("apply %d operations: %w", len(ops), err)
	}
	return len(ops), nil
}

// stopPacer stops the target's software pacer, if it has one. With remove
// it hands its interfaces back entirely; without, it closes the pacer,
// which in attach mode also hands the egress back, while a bridge in
// on-failure bypass mode keeps forwarding in the kernel until the next
// agent adopts it.
func (w *worker) stopPacer(ctx context.Context, remove bool) {
	if w.pacer == nil {
		return
	}
	if remove {
		if err := w.pacer.Remove(ctx); err != nil {
			w.a.log.Warn("stopping the software pacer", "target", w.name, "err", err)
		}
	}
	w.pacer.Close()
	w.pacer = nil
	w.mu.Lock()
	w.st.FailSafe = ""
	w.mu.Unlock()
	w.a.log.Info("software pacer stopped", "target", w.name, "removed", remove)
}

// stop ends the worker's drivers. Hardware state and a bridge's bypass are
// removed only when asked (see stopPacer).
func (w *worker) stop(ctx context.Context, remove bool) {
	if _, err := w.a.sockets.set(w.name, nil); err != nil {
		w.a.log.Warn("socket marking", "target", w.name, "err", err)
	}
	w.stopPacer(ctx, remove)
	if w.hw == nil {
		return
	}
	if remove {
		if err := w.hw.Remove(ctx); err != nil {
			w.a.log.Warn("remove", "target", w.name, "err", err)
		} else {
			w.a.log.Info("removed qosplane's state", "target", w.name)
		}
	}
	w.hw.Close()
	w.hw = nil
}

// readCounters refreshes the counters and the achieved rates.
func (w *worker) readCounters(ctx context.Context) {
	if n := w.a.sockets.counts(w.sockFlows); n != nil {
		w.mu.Lock()
		w.st.Sockets = n
		w.mu.Unlock()
	}
	d := w.pacer
	if d == nil {
		d = w.hw
	}
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.a.cfg.TargetTimeout)
	defer cancel()
	c, err := d.Counters(ctx)
	if err != nil {
		w.a.log.Debug("counters", "target", w.name, "err", err)
		return
	}
	now := c.Time
	if now.IsZero() {
		now = time.Now()
	}
	rates := make(map[string]model.Rate, len(c.Classes))
	if w.lastBytes != nil {
		dt := now.Sub(w.lastRead).Seconds()
		for name, cc := range c.Classes {
			if prev, ok := w.lastBytes[name]; ok && dt > 0 && cc.Bytes >= prev {
				rates[name] = model.Rate(float64(cc.Bytes-prev) * 8 / dt)
			}
		}
	}
	w.lastBytes = make(map[string]uint64, len(c.Classes))
	for name, cc := range c.Classes {
		w.lastBytes[name] = cc.Bytes
	}
	w.lastRead = now
	w.mu.Lock()
	w.st.setCounters(c, rates)
	w.mu.Unlock()
}
