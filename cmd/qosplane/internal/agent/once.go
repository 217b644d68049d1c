package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// ApplyOnce loads the policy and reconciles every target once, all at the
// same time, each within the target timeout. It returns the status and,
// when some targets ended on the software pacer, a function that serves
// them until its context ends and then stops them (the pacer lives in this
// process); otherwise that function is nil. Hardware drivers are closed
// before it returns, leaving the devices at their plans.
func (a *Agent) ApplyOnce(ctx context.Context) (Status, func(context.Context), error) {
	if _, err := a.load(true); err != nil {
		return a.Status(), nil, err
	}
	p, _ := a.snapshot()
	var ws []*worker
	a.mu.Lock()
	for _, t := range p.Targets {
		w := newWorker(a, t.Name)
		a.workers[t.Name] = w
		ws = append(ws, w)
	}
	a.mu.Unlock()
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = w.reconcileOnce(ctx); errs[i] != nil {
				errs[i] = fmt.Errorf("target %q: %w", w.name, errs[i])
			}
		}()
	}
	wg.Wait()
	var pacers []*worker
	for _, w := range ws {
		if w.hw != nil {
			w.hw.Close()
			w.hw = nil
		}
		if w.pacer != nil {
			pacers = append(pacers, w)
		}
	}
	err := errors.Join(errs...)
	if len(pacers) == 0 {
		return a.Status(), nil, err
	}
	serve := func(ctx context.Context) {
		var stop func()
		if a.cfg.StatusSocket != "" {
			if s, err := a.serveStatus(a.cfg.StatusSocket); err == nil {
				stop = s
			} else {
				a.log.Warn("status socket", "err", err)
			}
		}
		var wg sync.WaitGroup
		for _, w := range pacers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.runCounters(ctx)
			}()
		}
		wg.Wait()
		a.shutdown(pacers)
		if stop != nil {
			stop()
		}
	}
	return a.Status(), serve, err
}

// runCounters refreshes a worker's counters until ctx ends.
func (w *worker) runCounters(ctx context.Context) {
	for {
		w.readCounters(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.a.cfg.CountersInterval):
		}
	}
}

// RemoveAll loads the policy and removes what qosplane owns on every
// target, all at the same time. On NIC targets that includes what the
// software pacer leaves outside its process: an attachment an agent that
// died left, and a bridge's bypass filters.
func (a *Agent) RemoveAll(ctx context.Context) error {
	p, err := model.Load(a.cfg.PolicyPath)
	if err != nil {
		return err
	}
	errs := make([]error, len(p.Targets))
	var wg sync.WaitGroup
	for i := range p.Targets {
		t := &p.Targets[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, a.cfg.TargetTimeout)
			defer cancel()
			d, err := a.cfg.Factory.Open(ctx, Target{Name: t.Name, Kind: t.Kind, Owner: "qosplane-" + p.Name,
				Profile: t.Profile, Device: offload.DeviceOf(t)})
			if err != nil {
				errs[i] = fmt.Errorf("target %q: %w", t.Name, err)
				return
			}
			defer d.Close()
			if err := d.Remove(ctx); err != nil {
				errs[i] = fmt.Errorf("target %q: remove: %w", t.Name, err)
				return
			}
			if t.Kind == model.NIC {
				if err := a.removePacer(ctx, t); err != nil {
					errs[i] = fmt.Errorf("target %q: remove the pacer's fail-safe: %w", t.Name, err)
					return
				}
			}
			a.log.Info("removed qosplane's state", "target", t.Name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// removePacer removes what a software pacer of NIC target t left outside
// its process.
func (a *Agent) removePacer(ctx context.Context, t *model.Target) error {
	tp := &offload.TargetPlan{Target: t.Name, Kind: t.Kind, Device: offload.DeviceOf(t), Pacer: &offload.PacerPlan{
		Mode: t.Fallback.Mode, Interface: t.Interface, Peer: t.Fallback.Peer, OnFailure: t.Fallback.OnFailure,
	}}
	d, err := a.cfg.Factory.OpenPacer(ctx, tp)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Remove(ctx)
}
