package kube

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Fencing.
//
// A replica writes to switches only under a fenced context (fence.ctx):
// one that is cancelled the moment the replica loses leadership
// (OnStoppedLeading / the elector's context) and, independently, the moment
// its last successful lease renewal is older than RenewDeadline. A write is
// also never started when the lease is already that stale (fence.ready).
//
// Why that is enough: the lease's renewals are timestamped here at the
// start of the successful Update call, i.e. no later than the moment the
// apiserver stored them. Another replica may take the lease only after it
// has watched the same record unchanged for a full LeaseDuration, counted
// on its own clock from when it saw the record, which is no earlier than
// our timestamp. So our last write ends (its context is cancelled) by
// lastRenew + RenewDeadline, and the other replica starts at the earliest
// at lastRenew + LeaseDuration. With LeaseDuration > RenewDeadline plus the
// clock-rate skew between the nodes and the time a cancelled Set needs to
// stop (a gRPC round trip), the deposed replica has stopped writing before
// the new one starts. Only durations are compared, each on one node's
// monotonic clock, so wall-clock offsets between nodes do not matter.

// renewTracker wraps the lease lock and records when this replica last
// renewed (or acquired) the lease successfully.
type renewTracker struct {
	resourcelock.Interface
	mu   sync.Mutex
	last time.Time
}

func (r *renewTracker) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return r.record(ler, func() error { return r.Interface.Create(ctx, ler) })
}

func (r *renewTracker) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return r.record(ler, func() error { return r.Interface.Update(ctx, ler) })
}

func (r *renewTracker) record(ler resourcelock.LeaderElectionRecord, call func() error) error {
	start := time.Now()
	err := call()
	if err == nil && ler.HolderIdentity == r.Identity() {
		r.mu.Lock()
		r.last = start
		r.mu.Unlock()
	}
	return err
}

// lastRenew is the start of the last successful renewal; zero if none.
func (r *renewTracker) lastRenew() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// errFenced is the cause of a fenced context's cancellation by a stale
// lease.
var errFenced = errors.New("lease not renewed within the renew deadline: switch writes fenced")

// fence derives write contexts from the leader's context.
type fence struct {
	lease         *renewTracker
	renewDeadline time.Duration
}

// ready reports whether a write may start now: the lease was renewed less
// than RenewDeadline ago.
func (f *fence) ready() bool {
	last := f.lease.lastRenew()
	return !last.IsZero() && time.Since(last) < f.renewDeadline
}

// ctx returns a context that is done when parent is (leadership lost) or
// when the last renewal becomes older than RenewDeadline, whichever is
// first; its cause is then errFenced.
func (f *fence) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		for {
			left := time.Until(f.lease.lastRenew().Add(f.renewDeadline))
			if left <= 0 {
				cancel(errFenced)
				return
			}
			t := time.NewTimer(left)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}
