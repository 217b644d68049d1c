package gnmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
// order. A non-positive parallelism means all at once; a non-positive
// timeout means none beyond ctx.
func ApplyFleet(ctx context.Context, plans []*offload.TargetPlan, parallelism int, perTargetTimeout time.Duration, log *slog.Logger) []Result {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if parallelism <= 0 || parallelism > len(plans) {
		parallelism = len(plans)
	}
	results := make([]Result, len(plans))
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
			results[i] = applyOne(ctx, tp, perTargetTimeout, log)
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

func applyOne(ctx context.Context, tp *offload.TargetPlan, timeout time.Duration, log *slog.Logger) (res Result) {
	start := time.Now()
	res.Target = targetName(tp)
	defer func() { res.Duration = time.Since(start) }()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	d, err := Open(ctx, tp, log)
	if err != nil {
		res.Err = timedOut(ctx, err)
		return res
	}
	defer d.Close()
	sr, err := d.Sync(ctx, tp)
	if err != nil {
		res.Err = timedOut(ctx, err)
		return res
	}
	res.Changed, res.Paths = sr.Changed, sr.Paths
	return res
}

// timedOut makes an error caused by ctx's deadline match
// context.DeadlineExceeded (gRPC reports it as a status).
func timedOut(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}
