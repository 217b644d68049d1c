package nic

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
)

// The peer suite through the whole of qosplane (policy, compiler, driver):
// the kernel selftest tools/testing/selftests/drivers/net/netdevsim/
// devlink.sh rate_test (Linux 6.1) runs step by step with iproute2's
// devlink on one netdevsim device; at each point the selftest checks, the
// same configuration written as a policy is converged by the driver on
// another device, and the two debugfs states must be equal. The selftest's
// nested group (group2 under group1) has no policy form (rate groups have
// no parent in the model) and is left out.
func TestLabVFPeerRateTest(t *testing.T) {
	const vfs = 4
	na, _ := nsimPF(t, 45, vfs, true)
	nb, pf := nsimPF(t, 46, vfs, true)
	d := labDriver(t, pf, "qosplane-peer", t.TempDir())
	removeAll(t, d)
	dl := labtest.DevlinkPath()
	ref := func(args ...string) { labtest.Run(t, dl, append([]string{"port", "function", "rate"}, args...)...) }
	leaf := func(vf int) string { return na.Handle() + "/" + strconv.Itoa(128+vf) }
	last := vfs - 1

	// policy writes the plan: shares 10,20,.. and maxes 100,200,.. (0 =
	// not yet set), group1 with its limits, the last VF in group1.
	policy := func(withMax, group bool, gShare, gMax int, lastInGroup bool) string {
		var b strings.Builder
		b.WriteString("name: peer\nclasses:\n  - {name: be, service: best-effort}\ntargets:\n  - name: pf\n    kind: nic\n    interface: PF\n    capacity: 5Gbit\n    sriov:\n      mode: switchdev\n")
		if group {
			fmt.Fprintf(&b, "      groups:\n        - {name: group1, min: %dMbit, max: %dMbit}\n", gShare, gMax)
		}
		b.WriteString("      vfs:\n")
		for vf := 0; vf < vfs; vf++ {
			fmt.Fprintf(&b, "        - {vfs: %d, min: %dMbit", vf, 10*(vf+1))
			if withMax {
				fmt.Fprintf(&b, ", max: %dMbit", 100*(vf+1))
			}
			if lastInGroup && vf == last {
				b.WriteString(", group: group1")
			}
			b.WriteString("}\n")
		}
		return b.String()
	}
	step := 0
	check := func(what, src string) {
		t.Helper()
		step++
		converge(t, d, vfPlan(t, src, pf, "mlx5-switchdev"))
		a, err := na.ReadRates()
		if err != nil {
			t.Fatal(err)
		}
		b, err := nb.ReadRates()
		if err != nil {
			t.Fatal(err)
		}
		if !a.Equal(b) {
			t.Fatalf("point %d (%s): debugfs differs:\niproute2 %+v\nqosplane %+v", step, what, a, b)
		}
	}
	for vf := 0; vf < vfs; vf++ {
		ref("set", leaf(vf), "tx_share", strconv.Itoa(10*(vf+1))+"mbit")
	}
	check("leaf tx_share", policy(false, false, 0, 0, false))
	for vf := 0; vf < vfs; vf++ {
		ref("set", leaf(vf), "tx_max", strconv.Itoa(100*(vf+1))+"mbit")
	}
	check("leaf tx_max", policy(true, false, 0, 0, false))
	ref("add", na.Handle()+"/group1")
	ref("set", na.Handle()+"/group1", "tx_share", "10mbit")
	ref("set", na.Handle()+"/group1", "tx_max", "100mbit")
	check("group1 tx_share and tx_max", policy(true, true, 10, 100, false))
	ref("del", na.Handle()+"/group1")
	check("group1 deleted", policy(true, false, 0, 0, false))
	ref("add", na.Handle()+"/group1")
	ref("set", leaf(last), "parent", "group1")
	check("last leaf in group1", policy(true, true, 0, 0, true)) // a node without limits: min/max 0
	ref("set", leaf(last), "noparent")
	ref("del", na.Handle()+"/group1")
	check("noparent, group1 deleted", policy(true, false, 0, 0, false))
	t.Logf("peer suite through the driver: %d points of rate_test, debugfs equal at each", step)
}
