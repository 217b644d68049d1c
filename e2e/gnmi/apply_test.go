package gnmi_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
)

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestApplyAccepted: a valid policy is accepted by the schema-validating
// target and reads back as applied; re-applying sends no Set.
func TestApplyAccepted(t *testing.T) {
	tg, tp, d, ctx := labOpened(t)

	res, err := d.Sync(ctx, tp)
	mustf(t, err, "first sync")
	if !res.Changed || tg.sets.Load() != 1 {
		t.Fatalf("first sync: changed=%v sets=%d, want one Set", res.Changed, tg.sets.Load())
	}
	got := dump(t, tg.client(t))
	for _, want := range []string{
		"/qos/classifiers/classifier[name=qosplane-lab--ipv4]/terms/term[id=00020-cams]/conditions/transport/config/destination-port",
		"/qos/scheduler-policies/scheduler-policy[name=qosplane-lab]/schedulers/scheduler[sequence=1]/two-rate-three-color/config/pir",
		"/qos/interfaces/interface[interface-id=Ethernet2]/output/scheduler-policy/config/name",
		"/qos/queues/queue[name=qosplane-lab--voice]/config/queue-id",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("read back lacks %s", want)
		}
	}
	if v := got["/qos/classifiers/classifier[name=qosplane-lab--ipv4]/terms/term[id=00020-cams]/conditions/transport/config/destination-port"]; !strings.Contains(v, "8000..8100") {
		t.Errorf("port range reads back as %s", v)
	}
	t.Logf("target holds %d config leaves under /qos after apply", len(got))

	// Idempotent: a second sync (and a fresh driver's) sends no Set.
	res, err = d.Sync(ctx, tp)
	mustf(t, err, "second sync")
	d2, err := gnmidrv.Open(ctx, tp, testLog(t))
	mustf(t, err, "open 2")
	t.Cleanup(func() { d2.Close() })
	res2, err := d2.Sync(ctx, tp)
	mustf(t, err, "third sync")
	if res.Changed || res2.Changed || tg.sets.Load() != 1 {
		t.Fatalf("re-apply sent a Set: changed=%v/%v sets=%d paths=%v", res.Changed, res2.Changed, tg.sets.Load(), res.Paths)
	}

	// Current reports the plan's classes and rules, none drifted.
	cur, err := d.Current(ctx)
	mustf(t, err, "current")
	if len(cur.Classes) != len(tp.Classes) || len(cur.Rules) != len(tp.Rules) {
		t.Fatalf("current: %d classes %d rules, want %d/%d", len(cur.Classes), len(cur.Rules), len(tp.Classes), len(tp.Rules))
	}
	for _, c := range cur.Classes {
		if c.Where.Reason != "" {
			t.Errorf("class %s reported as %q", c.Name, c.Where.Reason)
		}
	}
}
