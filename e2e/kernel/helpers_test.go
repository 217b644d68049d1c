// Package kernel holds end-to-end tests of the NIC driver inside the kernel
// lab VM (bash e2e/kernellab/run.sh ./e2e/kernel): example policies
// compiled for the lab's test NICs and applied, and the same kind of rules
// in the kernel's software path on a veth pair with real packets.
package kernel

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic"
	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// The lab checks are shared with the other lab tests (package labtest).
func need(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	labtest.Need(t, ok, format, args...)
}

func needIface(t *testing.T, names ...string) {
	t.Helper()
	labtest.NeedNICs(t, names...)
}

func tcPath() string { return labtest.TCPath() }

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	return labtest.Run(t, name, args...)
}

func tcJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	return labtest.TCJSON(t, args...)
}

// filters returns the filter entries (with options) at dev's hook.
func filters(t *testing.T, dev, hook string) []map[string]any {
	var out []map[string]any
	for _, f := range tcJSON(t, "filter", "show", "dev", dev, hook) {
		if _, ok := f["options"]; ok {
			out = append(out, f)
		}
	}
	return out
}

// cookies returns the action cookies (hex) of a tc -j filter entry.
func cookies(f map[string]any) []string {
	var out []string
	o, _ := f["options"].(map[string]any)
	acts, _ := o["actions"].([]any)
	for _, a := range acts {
		if c, ok := a.(map[string]any)["cookie"].(string); ok {
			out = append(out, c)
		}
	}
	return out
}

// repoRoot finds the repository root (the directory with go.mod); inside
// the VM the test runs from a copy of its testdata, so examples are looked
// up relative to the source tree and then to the working directory.
func examplePath(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	for _, p := range []string{
		filepath.Join(filepath.Dir(file), "..", "..", "examples", name),
		filepath.Join("testdata", "examples", name),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("example %s not found", name)
	return ""
}

// compileFor loads an example policy, points its first NIC target at
// ifname (and reps), probes the device and compiles the target.
func compileFor(t *testing.T, example, ifname string, reps []string, d **nic.Driver, stateDir string) (*offload.TargetPlan, *offload.Capabilities) {
	t.Helper()
	p, err := model.LoadFile(examplePath(t, example))
	if err != nil {
		t.Fatal(err)
	}
	var tgt *model.Target
	for i := range p.Targets {
		if p.Targets[i].Kind == model.NIC {
			tgt = &p.Targets[i]
			break
		}
	}
	if tgt == nil {
		t.Fatalf("%s has no NIC target", example)
	}
	tgt.Interface, tgt.Representors, tgt.PCI = ifname, reps, ""
	owner := "qosplane-" + p.Name
	drv, err := nic.Open(offload.Device{Interface: ifname, Representors: reps}, owner, tgt.Profile,
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nic.WithStateDir(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	*d = drv
	caps, err := drv.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := offload.CompileTarget(p, tgt, caps, p.Order())
	if err != nil {
		t.Fatal(err)
	}
	return tp, caps
}

func cleanupRemove(t *testing.T, d *nic.Driver) {
	t.Cleanup(func() {
		_ = qtnstate.SetFailNth(0)
		if err := d.Remove(context.Background()); err != nil {
			t.Errorf("cleanup remove: %v", err)
		}
	})
}

func apply(d *nic.Driver, want *offload.TargetPlan) ([]offload.Op, error) {
	ctx := context.Background()
	cur, err := d.Current(ctx)
	if err != nil {
		return nil, err
	}
	ops := offload.Diff(cur, want)
	return ops, d.Apply(ctx, want, ops)
}

func assertConverged(t *testing.T, d *nic.Driver, want *offload.TargetPlan) {
	t.Helper()
	w := d.Writes()
	cur, err := d.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ops := offload.Diff(cur, want); len(ops) != 0 {
		t.Fatalf("not converged: %d ops, first %s %s %s", len(ops), ops[0].Kind, ops[0].Object, ops[0].ID)
	}
	if d.Writes() != w {
		t.Fatalf("Current wrote %d times", d.Writes()-w)
	}
}
