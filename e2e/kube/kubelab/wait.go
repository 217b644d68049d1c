package kubelab

import (
	"context"
	"fmt"
	"time"
)

const (
	// pollInterval is the pause between two readiness checks.
	pollInterval = 100 * time.Millisecond
	// pollRequestTimeout bounds one readiness request.
	pollRequestTimeout = 2 * time.Second
	// logTailLines is how much of a child's log a start error quotes.
	logTailLines = 30
)

// waitUntil calls check every pollInterval until it returns nil. It gives
// up when p exits, ctx is done or timeout has passed, with an error that
// quotes the last check error and the end of p's log.
func waitUntil(ctx context.Context, p *process, timeout time.Duration, check func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); last check: %v; end of %s:\n%s",
				p.name, p.err, err, p.logPath, p.logTail(logTailLines))
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for readiness: %w (last check: %v)", p.name, ctx.Err(), err)
		case <-deadline.C:
			return fmt.Errorf("%s not ready within %v; last check: %v; end of %s:\n%s",
				p.name, timeout, err, p.logPath, p.logTail(logTailLines))
		case <-tick.C:
		}
	}
}
