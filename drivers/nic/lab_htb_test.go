package nic

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
)

// TestLabHTBEncoding sends the HTB offload qdisc and classes qosplane
// encodes (htb.go) to the kernel and reads them back from the test NIC
// (qtn4, mlx5 with HTB offload) and from the kernel's class dump.
func TestLabHTBEncoding(t *testing.T) {
	needIface(t, "qtn4")
	d := labDriver(t, "qtn4", "qosplane-htb", t.TempDir())
	if err := d.setFeature("qtn4", "hw-tc-offload", true); err != nil {
		t.Fatal(err)
	}
	const major = 0x51520000
	idx, err := ifindex("qtn4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.c.write(tc.RTMDelQdisc, 0, tc.QdiscMsg(idx, major, tc.HRoot, "htb", nil))
		_ = d.setFeature("qtn4", "hw-tc-offload", false)
	})
	if err := d.c.write(tc.RTMNewQdisc, unix.NLM_F_CREATE|unix.NLM_F_EXCL, tc.QdiscMsg(idx, major, tc.HRoot, "htb", tc.HTBQdiscOptions(0x10, true))); err != nil {
		t.Fatalf("htb offload qdisc: %v", err)
	}
	classes := []struct {
		minor, parent uint32
		c             tc.HTBClass
	}{
		{1, 0, tc.HTBClass{RateBytes: 1_250_000_000, CeilBytes: 5_000_000_000, BurstBytes: 1 << 20, CBurstByte: 1 << 20}},
		{0x10, 1, tc.HTBClass{RateBytes: 125_000_000, CeilBytes: 625_000_000, BurstBytes: 64 << 10, CBurstByte: 64 << 10}},
	}
	for _, cl := range classes {
		opts, err := cl.c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.c.write(tc.RTMNewTclass, unix.NLM_F_CREATE|unix.NLM_F_EXCL, tc.QdiscMsg(idx, major|cl.minor, major|cl.parent, "htb", opts)); err != nil {
			t.Fatalf("htb class %x: %v", cl.minor, err)
		}
	}
	h := mustState(t, "qtn4").HTB
	if h == nil || h.Handle != major>>16 || h.DefCls != 0x10 {
		t.Fatalf("htb on the device: %+v", h)
	}
	top, leaf := h.Node(1), h.Node(0x10)
	if top == nil || leaf == nil || top.Rate != 1_250_000_000 || top.Ceil != 5_000_000_000 || top.QID != -1 ||
		leaf.Rate != 125_000_000 || leaf.Ceil != 625_000_000 || leaf.QID < 16 || leaf.MaxAverageBw != 5000 || leaf.BwShare != 2 {
		t.Fatalf("nodes: %+v", h.Nodes)
	}
	// The kernel's view (iproute2 6.1 prints htb classes as text only,
	// even with -j): the 64-bit ceil came through, both offloaded.
	out := tcRun(t, "class", "show", "dev", "qtn4")
	for _, want := range []string{"class htb 5152:1 root rate 10Gbit ceil 40Gbit", "class htb 5152:10 parent 5152:1 prio 0 rate 1Gbit ceil 5Gbit"} {
		if !strings.Contains(out, want) {
			t.Fatalf("tc class show dev qtn4: no %q in\n%s", want, out)
		}
	}
	if strings.Count(out, "offload") != 2 {
		t.Fatalf("tc class show dev qtn4: want both classes offloaded\n%s", out)
	}
}

func mustState(t *testing.T, dev string) *qtnstate.State {
	t.Helper()
	s, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
