package kube

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// elector campaigns for the Lease the way client-go's leaderelection does:
//
//   - A replica takes the lease only when it is free (no holder, e.g.
//     released) or when it has seen the same lease record unchanged for a
//     whole LeaseDuration on its own clock (the holder stopped renewing).
//   - The holder renews every RetryPeriod; when no renewal succeeds for
//     RenewDeadline, its term ends (the term's context is cancelled, which
//     fences its writes) and it campaigns again like any other replica.
//   - When ctx is done the term ends and the lease is released (holder
//     cleared), so another replica need not wait for it to expire
//     (ReleaseOnCancel).
//
// The record's leaseDurationSeconds is LeaseDuration in whole seconds
// (at least 1), for kubectl; replicas use their own configured duration.
type elector struct {
	cfg  *ControllerConfig
	lock *renewTracker
	log  *slog.Logger

	observedRaw  []byte
	observedRec  resourcelock.LeaderElectionRecord
	observedTime time.Time
}

// run acquires the lease, runs lead for the term and returns when the
// term ends (after lead has returned) or ctx is done.
func (e *elector) run(ctx context.Context, lead func(context.Context)) {
	if !e.acquire(ctx) {
		return
	}
	e.log.Info("started leading")
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lead(lctx)
	}()
	e.renew(lctx)
	cancel()
	wg.Wait()
	e.log.Info("stopped leading")
	if ctx.Err() != nil {
		e.release()
	}
}

// acquire tries every RetryPeriod until it holds the lease or ctx is done.
func (e *elector) acquire(ctx context.Context) bool {
	last := ""
	for {
		if e.try(ctx) {
			return true
		}
		if h := e.observedRec.HolderIdentity; h != last && h != "" {
			e.log.Info("leader", "holder", h)
			last = h
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(e.cfg.RetryPeriod):
		}
	}
}

// renew renews every RetryPeriod and returns when no renewal succeeded
// for RenewDeadline, or ctx is done.
func (e *elector) renew(ctx context.Context) {
	for {
		deadline := time.Now().Add(e.cfg.RenewDeadline)
		for !e.tryBefore(ctx, deadline) {
			if ctx.Err() != nil {
				return
			}
			if time.Now().Add(e.cfg.RetryPeriod).After(deadline) {
				e.log.Warn("lease not renewed within the renew deadline", "renewDeadline", e.cfg.RenewDeadline)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(e.cfg.RetryPeriod):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.cfg.RetryPeriod):
		}
	}
}

func (e *elector) tryBefore(ctx context.Context, deadline time.Time) bool {
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return e.try(tctx)
}

// try acquires or renews the lease once.
func (e *elector) try(ctx context.Context) bool {
	now := metav1.Now()
	rec := resourcelock.LeaderElectionRecord{
		HolderIdentity:       e.cfg.Identity,
		LeaseDurationSeconds: max(1, int(e.cfg.LeaseDuration/time.Second)),
		RenewTime:            now,
		AcquireTime:          now,
	}
	old, raw, err := e.lock.Get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		if err := e.lock.Create(ctx, rec); err != nil {
			return false
		}
		e.observe(rec, nil)
		return true
	case err != nil:
		return false
	}
	if !bytes.Equal(raw, e.observedRaw) {
		e.observedRaw, e.observedRec, e.observedTime = raw, *old, time.Now()
	}
	mine := old.HolderIdentity == e.cfg.Identity
	if !mine && old.HolderIdentity != "" && time.Since(e.observedTime) < e.cfg.LeaseDuration {
		return false
	}
	if mine {
		rec.AcquireTime, rec.LeaderTransitions = old.AcquireTime, old.LeaderTransitions
	} else {
		rec.LeaderTransitions = old.LeaderTransitions + 1
	}
	if err := e.lock.Update(ctx, rec); err != nil {
		return false
	}
	e.observe(rec, nil)
	return true
}

func (e *elector) observe(rec resourcelock.LeaderElectionRecord, raw []byte) {
	e.observedRec, e.observedRaw, e.observedTime = rec, raw, time.Now()
}

// release clears the holder so that another replica takes over at once.
func (e *elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RenewDeadline)
	defer cancel()
	if _, _, err := e.lock.Get(ctx); err != nil {
		return
	}
	now := metav1.Now()
	err := e.lock.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now})
	if err != nil {
		e.log.Warn("lease release", "err", err)
		return
	}
	e.log.Info("lease released")
}
