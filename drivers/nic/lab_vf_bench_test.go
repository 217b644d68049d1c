package nic

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
)

// The SR-IOV benchmark in the lab VM: 64 VFs with rates in 8 rate groups
// (netdevsim's max_vfs raised from 4 to 64) applied through qosplane
// (model, compiler, driver) on one netdevsim device, re-applied (0
// writes), and the same configuration with iproute2's devlink, one command
// per object, on another; both devices' debugfs must be equal.
func TestLabVFBench64(t *testing.T) {
	const vfs, groups = 64, 8
	nq, pf := nsimPF(t, 43, vfs, true)
	ni, _ := nsimPF(t, 44, vfs, true)
	var b strings.Builder
	b.WriteString("name: bench\nclasses:\n  - {name: be, service: best-effort}\ntargets:\n  - name: pf\n    kind: nic\n    interface: PF\n    capacity: 25Gbit\n    sriov:\n      mode: switchdev\n      groups:\n")
	for g := 0; g < groups; g++ {
		fmt.Fprintf(&b, "        - {name: g%d, min: %dMbit, max: %dMbit}\n", g, 100+g, 2000+100*g)
	}
	b.WriteString("      vfs:\n")
	for v := 0; v < vfs; v++ {
		fmt.Fprintf(&b, "        - {vfs: %d, min: %dMbit, max: %dMbit, group: g%d}\n", v, 10+v, 100+10*v, v%groups)
	}
	want := vfPlan(t, b.String(), pf, "mlx5-switchdev")
	d := labDriver(t, pf, "qosplane-bench", t.TempDir())
	removeAll(t, d)

	t0 := time.Now()
	w0 := d.Writes()
	ops := converge(t, d, want)
	apply, applyWrites := time.Since(t0), d.Writes()-w0
	t0, w0 = time.Now(), d.Writes()
	if again := converge(t, d, want); len(again) != 0 {
		t.Fatalf("re-apply: %d ops", len(again))
	}
	reapply, reapplyWrites := time.Since(t0), d.Writes()-w0
	if reapplyWrites != 0 {
		t.Errorf("re-apply made %d writes", reapplyWrites)
	}

	dl := labtest.DevlinkPath()
	run := func(args ...string) {
		if out, err := exec.Command(dl, args...).CombinedOutput(); err != nil {
			t.Fatalf("devlink %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t0 = time.Now()
	for g := 0; g < groups; g++ {
		run("port", "function", "rate", "add", ni.Handle()+"/g"+strconv.Itoa(g),
			"tx_share", strconv.Itoa(100+g)+"mbit", "tx_max", strconv.Itoa(2000+100*g)+"mbit")
	}
	for v := 0; v < vfs; v++ {
		run("port", "function", "rate", "set", ni.Handle()+"/"+strconv.Itoa(128+v),
			"tx_share", strconv.Itoa(10+v)+"mbit", "tx_max", strconv.Itoa(100+10*v)+"mbit", "parent", "g"+strconv.Itoa(v%groups))
	}
	iproute := time.Since(t0)

	rq, err := nq.ReadRates()
	if err != nil {
		t.Fatal(err)
	}
	ri, err := ni.ReadRates()
	if err != nil {
		t.Fatal(err)
	}
	if !rq.Equal(ri) || len(rq.Leaves) != vfs || len(rq.Nodes) != groups {
		t.Fatalf("debugfs differs or incomplete: qosplane %d leaves %d nodes, equal %v", len(rq.Leaves), len(rq.Nodes), rq.Equal(ri))
	}
	t.Logf("benchmark (lab VM, TCG): %d VFs + %d groups, debugfs equal: qosplane apply %d ops %d writes %v; re-apply %d writes %v; iproute2 devlink %d commands %v",
		vfs, groups, len(ops), applyWrites, apply.Round(time.Millisecond), reapplyWrites, reapply.Round(time.Millisecond),
		vfs+groups, iproute.Round(time.Millisecond))
}
