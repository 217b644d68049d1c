package devlink

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/nsim"
)

// switchdev makes netdevsim device id with vfs VFs in switchdev mode, and a
// client.
func switchdev(t *testing.T, id, vfs int) (*nsim.Dev, Device, *Client) {
	t.Helper()
	d := labtest.NeedNetdevsim(t, id, 1)
	if vfs > nsim.DefaultMaxVFs {
		if err := d.SetMaxVFs(vfs); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetVFs(vfs); err != nil {
		t.Fatal(err)
	}
	labtest.Run(t, labtest.DevlinkPath(), "dev", "eswitch", "set", d.Handle(), "mode", "switchdev")
	c, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return d, Device{"netdevsim", d.Name()}, c
}

func rates(t *testing.T, d *nsim.Dev) nsim.Rates {
	t.Helper()
	r, err := d.ReadRates()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Leaves and nodes set through the encoder land in netdevsim (debugfs in
// Mbit/s) and read back through the kernel in bit/s.
func TestLabRateLeavesAndNodes(t *testing.T) {
	d, dev, c := switchdev(t, 21, 4)
	vfp, err := c.VFPorts(dev)
	if err != nil {
		t.Fatal(err)
	}
	for vf := 0; vf < 4; vf++ {
		if vfp[vf] != uint32(nsim.VFPortBase+vf) {
			t.Errorf("VF ports of %s = %v, want VF n at port %d+n", dev, vfp, nsim.VFPortBase)
		}
	}
	nd, err := d.Netdevs()
	if err != nil || len(nd) == 0 {
		t.Fatalf("netdevs of %s: %v %v", d.Name(), nd, err)
	}
	if got, err := c.DeviceOf(nd[0]); err != nil || got != dev {
		t.Errorf("DeviceOf(%s) = %v, %v; want %v", nd[0], got, err, dev)
	}
	rs, err := c.Rates(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("rates of %s = %v, want 4 leaves", dev, rs)
	}
	for i, r := range rs {
		if r.IsNode() || r.Port < nsim.VFPortBase || r.Port >= nsim.VFPortBase+4 || r.TxShare != 0 || r.TxMax != 0 {
			t.Errorf("rate %d = %#v, want an unlimited VF leaf", i, r)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Set(Leaf(dev, 129), Change{TxShare: u64p(20_000_000), TxMax: u64p(300_000_000)}))
	must(c.New(Node(dev, "g1"), Change{TxShare: u64p(100_000_000), TxMax: u64p(1_000_000_000)}))
	must(c.New(Node(dev, "g2"), Change{Parent: strp("g1")}))
	must(c.Set(Leaf(dev, 129), Change{Parent: strp("g1")}))
	must(c.Set(Leaf(dev, 130), Change{TxMax: u64p(5_000_000_000), Parent: strp("g2")}))
	got := rates(t, d)
	want := nsim.Rates{
		Leaves: map[int]nsim.Rate{0: {}, 1: {TxShareMbit: 20, TxMaxMbit: 300, Parent: "g1"}, 2: {TxMaxMbit: 5000, Parent: "g2"}, 3: {}},
		Nodes:  map[string]nsim.Rate{"g1": {TxShareMbit: 100, TxMaxMbit: 1000}, "g2": {Parent: "g1"}},
	}
	if !got.Equal(want) {
		t.Fatalf("debugfs = %+v, want %+v", got, want)
	}
	r, err := c.Get(Leaf(dev, 129))
	must(err)
	if r.TxShare != 20_000_000 || r.TxMax != 300_000_000 || r.Parent != "g1" {
		t.Errorf("kernel's leaf 129 = %#v", r)
	}
	r, err = c.Get(Node(dev, "g1"))
	must(err)
	if r.TxShare != 100_000_000 || r.TxMax != 1_000_000_000 || r.Parent != "" {
		t.Errorf("kernel's node g1 = %#v", r)
	}
	if _, err := c.Get(Node(dev, "nope")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing node: %v, want ErrNotFound", err)
	}
	// Undo in the order the core needs: children off, then nodes.
	must(c.Set(Leaf(dev, 130), Change{Parent: strp("")}))
	must(c.Set(Leaf(dev, 129), Change{Parent: strp("")}))
	must(c.Del(Node(dev, "g2")))
	must(c.Del(Node(dev, "g1")))
	if got := rates(t, d); len(got.Nodes) != 0 || got.Leaves[1].Parent != "" {
		t.Errorf("after undo: %+v", got)
	}
}

// Each refusal (netdevsim's units and ceiling, the core's re-parenting and
// deleting rules) comes back as an error with the kernel's message and
// leaves the device as it was.
func TestLabRateRefusalsLeaveDeviceAsItWas(t *testing.T) {
	d, dev, c := switchdev(t, 22, 4)
	setup := []error{
		c.New(Node(dev, "g1"), Change{TxMax: u64p(1_000_000_000)}),
		c.New(Node(dev, "g2"), Change{}),
		c.Set(Leaf(dev, 128), Change{TxShare: u64p(10_000_000), Parent: strp("g1")}),
	}
	for _, err := range setup {
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		op    func() error
		errno unix.Errno
		msg   string
	}{
		{"tx_share not whole Mbit/s", func() error {
			return c.Set(Leaf(dev, 129), Change{TxShare: u64p(10_500_000)})
		}, unix.EINVAL, "not in link speed units of 1Mbps"},
		{"tx_max above 5000 Mbit/s after an accepted tx_share (restored)", func() error {
			return c.Set(Leaf(dev, 128), Change{TxShare: u64p(40_000_000), TxMax: u64p(6_000_000_000)})
		}, unix.EINVAL, "exceed link maximum speed 5000Mbps"},
		{"re-parent without noparent", func() error {
			return c.Set(Leaf(dev, 128), Change{Parent: strp("g2")})
		}, unix.EBUSY, "already has parent"},
		{"delete a node with children", func() error {
			return c.Del(Node(dev, "g1"))
		}, unix.EBUSY, "Node has children"},
		{"new node with a refused tx_max", func() error {
			return c.New(Node(dev, "g3"), Change{TxMax: u64p(5_001_000_000)})
		}, unix.EINVAL, "exceed link maximum speed"},
		{"parent that does not exist", func() error {
			return c.Set(Leaf(dev, 129), Change{Parent: strp("nope")})
		}, unix.ENODEV, ""},
		{"node as its own parent", func() error {
			return c.Set(Node(dev, "g2"), Change{Parent: strp("g2")})
		}, unix.EINVAL, "Parent to self"},
	}
	for _, tc := range cases {
		before := rates(t, d)
		kbefore, err := c.Rates(dev)
		if err != nil {
			t.Fatal(err)
		}
		err = tc.op()
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %q, want %v with %q", tc.name, err, tc.errno, tc.msg)
		}
		t.Logf("%s: %v", tc.name, err)
		if after := rates(t, d); !after.Equal(before) {
			t.Errorf("%s: debugfs changed: %+v -> %+v", tc.name, before, after)
		}
		kafter, err := c.Rates(dev)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRates(kbefore, kafter) {
			t.Errorf("%s: the kernel's rates changed: %v -> %v", tc.name, kbefore, kafter)
		}
	}
}

func sameRates(a, b []Rate) bool {
	key := func(r Rate) string { return r.Object.String() }
	m := map[string]Rate{}
	for _, r := range a {
		m[key(r)] = r
	}
	if len(a) != len(b) {
		return false
	}
	for _, r := range b {
		if m[key(r)] != r {
			return false
		}
	}
	return true
}
