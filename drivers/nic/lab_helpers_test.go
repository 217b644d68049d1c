package nic

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/offload"
)

// The lab checks are shared with the other lab tests (package labtest).
func needIface(t *testing.T, ifname string) {
	t.Helper()
	labtest.NeedNICs(t, ifname)
}

func tcPath() string { return labtest.TCPath() }

func tcJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	return labtest.TCJSON(t, args...)
}

func tcRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(tcPath(), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tcFilters returns the filters (entries with options) of dev at hook.
func tcFilters(t *testing.T, dev, hk string) []map[string]any {
	var out []map[string]any
	for _, f := range tcJSON(t, "filter", "show", "dev", dev, hk) {
		if _, ok := f["options"]; ok {
			out = append(out, f)
		}
	}
	return out
}

func rootQdiscKind(t *testing.T, dev string) (kind, handle string) {
	for _, q := range tcJSON(t, "qdisc", "show", "dev", dev) {
		if q["root"] == true {
			k, _ := q["kind"].(string)
			h, _ := q["handle"].(string)
			return k, h
		}
	}
	return "", ""
}

func labDriver(t *testing.T, ifname, owner, stateDir string, reps ...string) *Driver {
	t.Helper()
	d, err := Open(offload.Device{Interface: ifname, Representors: reps}, owner, "", slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})), WithStateDir(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// converge runs Current, Diff and Apply, and returns the ops applied.
func converge(t *testing.T, d *Driver, want *offload.TargetPlan) []offload.Op {
	t.Helper()
	ctx := context.Background()
	cur, err := d.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops := offload.Diff(cur, want)
	if err := d.Apply(ctx, want, ops); err != nil {
		t.Fatalf("apply %d ops: %v", len(ops), err)
	}
	return ops
}

// assertConverged checks that Current gives no ops against want, without
// writes.
func assertConverged(t *testing.T, d *Driver, want *offload.TargetPlan) {
	t.Helper()
	before := d.Writes()
	cur, err := d.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ops := offload.Diff(cur, want); len(ops) != 0 {
		var ids []string
		for _, o := range ops {
			ids = append(ids, string(o.Kind)+" "+string(o.Object)+" "+o.ID)
		}
		t.Fatalf("not converged: %d ops: %s", len(ops), strings.Join(ids, "; "))
	}
	if w := d.Writes() - before; w != 0 {
		t.Fatalf("Current made %d writes", w)
	}
}

// removeAll removes what the driver owns and fails the test on error; used
// with t.Cleanup so that a failed test leaves the lab NIC clean.
func removeAll(t *testing.T, d *Driver) {
	t.Cleanup(func() {
		_ = qtnstate.SetFailNth(0)
		if err := d.Remove(context.Background()); err != nil {
			t.Errorf("cleanup remove: %v", err)
		}
	})
}

// applyFailingEach applies want with a failure injected at offload
// operation 1, 2, … (qostestnic's fail_nth) until the apply passes, at
// most limit times; after each failed apply check looks at the error and
// the device. It returns the n at which the apply passed.
func applyFailingEach(t *testing.T, d *Driver, want *offload.TargetPlan, limit int, check func(n int, err error)) int {
	t.Helper()
	ctx := context.Background()
	for n := 1; n <= limit; n++ {
		cur, err := d.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := qtnstate.SetFailNth(n); err != nil {
			t.Fatal(err)
		}
		err = d.Apply(ctx, want, offload.Diff(cur, want))
		_ = qtnstate.SetFailNth(0)
		if err == nil {
			return n
		}
		check(n, err)
	}
	t.Fatalf("the plan never applied in %d tries", limit)
	return 0
}
