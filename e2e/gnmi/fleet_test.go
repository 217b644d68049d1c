package gnmi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/offload"
)

// fleet starts n light targets; target 0 hangs and target 1 refuses (no
// openconfig-qos) when faulty is set.
func fleet(t testing.TB, n int, faulty bool) ([]*lightTarget, []*offload.TargetPlan) {
	t.Helper()
	ca := testPKI(t).caFile
	var tgs []*lightTarget
	var plans []*offload.TargetPlan
	for i := range n {
		mode := normal
		if faulty && i == 0 {
			mode = hanging
		}
		if faulty && i == 1 {
			mode = refusing
		}
		tg := startLight(t, mode)
		tgs = append(tgs, tg)
		plans = append(plans, labPlan("leaf"+itoa(i), tg.addr, ca))
	}
	return tgs, plans
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// TestFleet applies one policy to 50 loopback targets at once (light
// targets validating with the driver's schema; see lightTarget): one
// hangs, one refuses; the other 48 are configured, and the hanging one
// costs its own timeout, not everyone's.
func TestFleet(t *testing.T) {
	const n = 50
	const timeout = 8 * time.Second
	tgs, plans := fleet(t, n, true)

	start := time.Now()
	res := gnmidrv.Fleet{Parallelism: n, Timeout: timeout, Log: testLog(t)}.Apply(context.Background(), plans)
	wall := time.Since(start)

	var ok int
	var slowest time.Duration
	for i, r := range res {
		if r.Target != plans[i].Target {
			t.Fatalf("result %d is for %q, want %q", i, r.Target, plans[i].Target)
		}
		switch i {
		case 0:
			if !errors.Is(r.Err, context.DeadlineExceeded) {
				t.Errorf("hanging target: err = %v, want a deadline", r.Err)
			}
		case 1:
			if r.Err == nil || !strings.Contains(r.Err.Error(), "openconfig-qos") {
				t.Errorf("refusing target: err = %v", r.Err)
			}
			if tgs[1].sets.Load() != 0 {
				t.Errorf("refusing target got %d Sets", tgs[1].sets.Load())
			}
		default:
			if r.Err != nil || !r.Changed || tgs[i].sets.Load() != 1 {
				t.Errorf("%s: err=%v changed=%v sets=%d", r.Target, r.Err, r.Changed, tgs[i].sets.Load())
				continue
			}
			ok++
			slowest = max(slowest, r.Duration)
		}
	}
	t.Logf("fleet of %d: %d applied, hanging target took %v (timeout %v), refusing took %v, slowest healthy %v, wall %v",
		n, ok, res[0].Duration.Round(time.Millisecond), timeout, res[1].Duration.Round(time.Millisecond),
		slowest.Round(time.Millisecond), wall.Round(time.Millisecond))
	// Concurrency, not speed: a serial run would take at least the
	// hanging target's timeout plus every other target's time.
	var sum time.Duration
	for _, r := range res {
		sum += r.Duration
	}
	if wall >= sum {
		t.Errorf("wall %v >= sum of per-target times %v: targets ran one after another", wall, sum)
	}

	// Second round: nothing to do, no Sets.
	res = gnmidrv.ApplyFleet(context.Background(), plans[2:], 10, timeout)
	for i, r := range res {
		if r.Err != nil || r.Changed || tgs[i+2].sets.Load() != 1 {
			t.Errorf("re-apply %s: err=%v changed=%v sets=%d", r.Target, r.Err, r.Changed, tgs[i+2].sets.Load())
		}
	}
}
