package nic

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/offload"
)

// fakeConfigfs makes <root>/rdma_cm/<dev>/ports/<port>/default_roce_tos
// files holding "0", as the kernel's configfs shows them.
func fakeConfigfs(t *testing.T, dev string, ports ...string) string {
	root := t.TempDir()
	for _, p := range ports {
		dir := filepath.Join(root, "rdma_cm", dev, "ports", p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "default_roce_tos"), []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The RoCE default ToS on "lo" (its dumps need no privilege and no
// offload) with a temporary configfs tree.
func TestRoCEDefaultToS(t *testing.T) {
	cfs := fakeConfigfs(t, "mlx5_0", "1", "2")
	d, err := Open(offload.Device{Interface: "lo"}, "qosplane-roce", "none", nil,
		WithStateDir(t.TempDir()), WithConfigfs(cfs), WithRDMADevice("mlx5_0"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	want := &offload.TargetPlan{Owner: "qosplane-roce", Device: offload.Device{Interface: "lo"},
		RoCE: []offload.RoCE{{Class: "roce", TOS: 26 << 2}}}
	cur, err := d.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(ctx, want, offload.Diff(cur, want)); err != nil {
		t.Fatal(err)
	}
	p1 := filepath.Join(cfs, "rdma_cm/mlx5_0/ports/1/default_roce_tos")
	p2 := filepath.Join(cfs, "rdma_cm/mlx5_0/ports/2/default_roce_tos")
	if readFile(t, p1) != "104" || readFile(t, p2) != "104" {
		t.Fatalf("ports hold %q %q, want 104", readFile(t, p1), readFile(t, p2))
	}
	cur, _ = d.Current(ctx)
	if ops := offload.Diff(cur, want); len(ops) != 0 {
		t.Fatalf("not converged: %+v", ops)
	}
	// Someone changed it: drift is seen and repaired.
	os.WriteFile(p2, []byte("0\n"), 0o644)
	cur, _ = d.Current(ctx)
	if ops := offload.Diff(cur, want); len(ops) != 1 {
		t.Fatalf("drift: %d ops", len(ops))
	} else if err := d.Apply(ctx, want, ops); err != nil {
		t.Fatal(err)
	}
	if readFile(t, p2) != "104" {
		t.Fatal("drift not repaired")
	}
	// A port that cannot be read: refused before any write.
	os.Remove(p2)
	os.Mkdir(p2, 0o755)
	b := &offload.TargetPlan{Owner: want.Owner, Device: want.Device, RoCE: []offload.RoCE{{Class: "roce", TOS: 46 << 2}}}
	cur, _ = d.Current(ctx)
	w := d.Writes()
	if err := d.Apply(ctx, b, offload.Diff(cur, b)); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("apply with a broken port: %v", err)
	}
	if readFile(t, p1) != "104" || d.Writes() != w {
		t.Fatalf("port 1 holds %q, %d writes; want 104 and none", readFile(t, p1), d.Writes()-w)
	}
	os.Remove(p2)
	os.WriteFile(p2, []byte("104\n"), 0o644)
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if readFile(t, p1) != "0" || readFile(t, p2) != "0" {
		t.Fatalf("remove left %q %q, want the previous 0", readFile(t, p1), readFile(t, p2))
	}
}
