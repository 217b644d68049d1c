package devlink

import (
	"strconv"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/nsim"
)

// The peer suite: the steps of the kernel selftest
// tools/testing/selftests/drivers/net/netdevsim/devlink.sh rate_test
// (Linux 6.1) run with iproute2's devlink on one netdevsim device and
// through this package on another; after every step the two devices'
// debugfs states must be equal.
func TestLabPeerRateTest(t *testing.T) {
	const vfs = 4
	da, _, _ := switchdev(t, 31, vfs)
	db, dev, c := switchdev(t, 32, vfs)
	dl := labtest.DevlinkPath()
	ref := func(args ...string) { labtest.Run(t, dl, append([]string{"port", "function", "rate"}, args...)...) }
	leafA := func(vf int) string { return da.Handle() + "/" + strconv.Itoa(nsim.VFPortBase+vf) }
	leafB := func(vf int) Object { return Leaf(dev, uint32(nsim.VFPortBase+vf)) }
	mbit := func(n int) *uint64 { return u64p(uint64(n) * 1_000_000) }
	step := 0
	check := func(what string, err error) {
		t.Helper()
		step++
		if err != nil {
			t.Fatalf("step %d (%s) through qosplane: %v", step, what, err)
		}
		a, b := rates(t, da), rates(t, db)
		if !a.Equal(b) {
			t.Fatalf("step %d (%s): debugfs differs:\niproute2 %+v\nqosplane %+v", step, what, a, b)
		}
	}
	last := vfs - 1 // the selftest's r_obj after its loops: the last leaf
	for vf, rate := 0, 10; vf < vfs; vf, rate = vf+1, rate+10 {
		ref("set", leafA(vf), "tx_share", strconv.Itoa(rate)+"mbit")
		check("leaf tx_share", c.Set(leafB(vf), Change{TxShare: mbit(rate)}))
	}
	for vf, rate := 0, 100; vf < vfs; vf, rate = vf+1, rate+100 {
		ref("set", leafA(vf), "tx_max", strconv.Itoa(rate)+"mbit")
		check("leaf tx_max", c.Set(leafB(vf), Change{TxMax: mbit(rate)}))
	}
	ref("add", da.Handle()+"/group1")
	check("add group1", c.New(Node(dev, "group1"), Change{}))
	ref("set", da.Handle()+"/group1", "tx_share", "10mbit")
	check("group1 tx_share", c.Set(Node(dev, "group1"), Change{TxShare: mbit(10)}))
	ref("set", da.Handle()+"/group1", "tx_max", "100mbit")
	check("group1 tx_max", c.Set(Node(dev, "group1"), Change{TxMax: mbit(100)}))
	ref("del", da.Handle()+"/group1")
	check("del group1", c.Del(Node(dev, "group1")))
	ref("add", da.Handle()+"/group1")
	check("add group1 again", c.New(Node(dev, "group1"), Change{}))
	ref("set", leafA(last), "parent", "group1")
	check("leaf parent group1", c.Set(leafB(last), Change{Parent: strp("group1")}))
	ref("add", da.Handle()+"/group2")
	check("add group2", c.New(Node(dev, "group2"), Change{}))
	ref("set", da.Handle()+"/group2", "parent", "group1")
	check("group2 parent group1", c.Set(Node(dev, "group2"), Change{Parent: strp("group1")}))
	ref("del", da.Handle()+"/group2")
	check("del group2", c.Del(Node(dev, "group2")))
	ref("set", leafA(last), "noparent")
	check("leaf noparent", c.Set(leafB(last), Change{Parent: strp("")}))
	ref("del", da.Handle()+"/group1")
	check("del group1 again", c.Del(Node(dev, "group1")))
	final := rates(t, db)
	t.Logf("peer suite: %d steps, debugfs equal after each; final state %+v", step, final)
	if final.Leaves[last].TxMaxMbit != 400 || final.Leaves[0].TxShareMbit != 10 || len(final.Nodes) != 0 {
		t.Errorf("final state %+v is not the selftest's", final)
	}
}
