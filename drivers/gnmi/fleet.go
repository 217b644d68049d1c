package gnmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/qosplane/qosplane/offload"
)

// Result is the outcome of applying one plan in ApplyFleet.
type Result struct {
	Target string
	// Changed is set when a SetRequest was sent and accepted.
	Changed bool
	// Paths are the units deleted ("-path") and replaced ("~path").
	Paths []string
	// Err is nil on success; a timeout wraps context.DeadlineExceeded.
	Err error
	// Duration is the wall time spent on the target.
	Duration time.Duration
}

// ApplyFleet applies each plan to its switch (Open, Sync, Close) with at
// most parallelism targets in flight, each bounded by perTargetTimeout.
// Targets are independent: one slow or failing target neither blocks
// nor rolls back the others, and the call returns within about
// ceil(len(plans)/parallelism) * perTargetTimeout. Results are in plan
// order; each carries its target's error. A non-positive parallelism means
// all at once; a non-positive timeout means none beyond ctx. It logs
// nothing; Fleet.Apply does the same with a logger.
func ApplyFleet(ctx context.Context, plans []*offload.TargetPlan, parallelism int, perTargetTimeout time.Duration) []Result {
	return Fleet{Parallelism: parallelism, Timeout: perTargetTimeout}.Apply(ctx, plans)
}

// Fleet applies plans to many switches at once (see ApplyFleet).
type Fleet struct {
	// Parallelism bounds the targets in flight; <= 0 means all.
	Parallelism int
	// Timeout bounds each target (connect, read, Set); <= 0 means none.
	Timeout time.Duration
	// Log receives per-target logs; nil discards them.
	Log *slog.Logger
}

// Apply applies each plan to its switch; see ApplyFleet.
func (f Fleet) Apply(ctx context.Context, plans []*offload.TargetPlan) []Result {
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	parallelism := f.Parallelism
	if parallelism <= 0 || parallelism > len(plans) {
		parallelism = len(plans)
	}
	results := make([]Result, len(plans))
	trees := newTreeCache()
	sem := make(chan struct{}, max(parallelism, 1))
	var wg sync.WaitGroup
	for i, tp := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[i] = Result{Target: targetName(tp), Err: ctx.Err()}
				return
			}
			results[i] = applyOne(ctx, tp, trees, f.Timeout, log)
		}()
	}
	wg.Wait()
	return results
}

func targetName(tp *offload.TargetPlan) string {
	if tp == nil {
		return ""
	}
	return tp.Target
}

func applyOne(ctx context.Context, tp *offload.TargetPlan, trees *treeCache, timeout time.Duration, log *slog.Logger) (res Result) {
	start := time.Now()
	res.Target = targetName(tp)
	defer func() { res.Duration = time.Since(start) }()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	t, err := trees.get(tp)
	if err != nil {
		res.Err = err
		return res
	}
	d, err := Open(ctx, tp, log)
	if err != nil {
		res.Err = timedOut(ctx, err)
		return res
	}
	defer d.Close()
	sr, err := d.syncTree(ctx, tp, t)
	if err != nil {
		res.Err = timedOut(ctx, err)
		return res
	}
	res.Changed, res.Paths = sr.Changed, sr.Paths
	return res
}

// timedOut makes an error caused by a deadline match
// context.DeadlineExceeded. gRPC reports one as a status, and its own
// deadline timer can end a call a moment before ctx's timer marks ctx done,
// so the status code counts as much as ctx.Err.
func timedOut(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}

// treeCache builds each distinct tree of a fleet once: plans that differ
// only in how the device is reached (address, TLS, credentials) share one
// validated tree, which the syncs only read.
type treeCache struct {
	mu    sync.Mutex
	trees map[string]*treeEntry
}

type treeEntry struct {
	once sync.Once
	t    *Tree
	err  error
}

func newTreeCache() *treeCache { return &treeCache{trees: make(map[string]*treeEntry)} }

func (c *treeCache) get(tp *offload.TargetPlan) (*Tree, error) {
	if tp == nil {
		return nil, errors.New("nil plan")
	}
	key := offload.Fingerprint(struct {
		Kind, Owner, Profile string
		Switch               *offload.SwitchCaps
		Classes              []offload.ClassPlan
		Rules                []offload.Rule
		Interfaces           []string
	}{string(tp.Kind), tp.Owner, tp.Profile, tp.Switch, tp.Classes, tp.Rules, tp.Device.Interfaces})
	c.mu.Lock()
	e, ok := c.trees[key]
	if !ok {
		e = &treeEntry{}
		c.trees[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.t, e.err = BuildTree(tp) })
	if e.err != nil {
		// The error names the first plan's target; name this one.
		return nil, fmt.Errorf("target %q: %w", tp.Target, errors.Unwrap(e.err))
	}
	return e.t, nil
}
