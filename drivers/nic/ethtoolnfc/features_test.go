package ethtoolnfc

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// testVeth makes a veth pair for the test (root) and returns its names.
func testVeth(t *testing.T, prefix string) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a veth pair (CI runs as root)")
	}
	name := fmt.Sprintf("%s%d", prefix, os.Getpid()%100000)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	return name, name + "p"
}

// ethtoolK parses `ethtool -k dev`: feature name -> on, and whether it is
// [fixed].
func ethtoolK(t *testing.T, dev string) (on, fixed map[string]bool) {
	t.Helper()
	out, err := exec.Command("ethtool", "-k", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("ethtool -k %s: %v\n%s", dev, err, out)
	}
	on, fixed = map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(l), ": ")
		if !ok {
			continue
		}
		on[name] = strings.HasPrefix(v, "on")
		fixed[name] = strings.Contains(v, "[fixed]")
	}
	return on, fixed
}

// TestFeaturesOnVeth reads a veth's features, link speed and statistics
// from the kernel and compares them with ethtool's (iproute2's peer), then
// turns a changeable feature off and on again, read back both ways.
func TestFeaturesOnVeth(t *testing.T) {
	dev, peer := testVeth(t, "qpft")
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Fatal("ethtool is not installed: make deps installs it")
	}
	c, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	feats, err := c.Features(dev)
	if err != nil {
		t.Fatal(err)
	}
	on, fixed := ethtoolK(t, dev)
	same := 0
	for name, f := range feats {
		if _, ok := on[name]; !ok {
			continue // ethtool prints some under legacy names
		}
		same++
		if f.Active != on[name] || f.Changeable == fixed[name] {
			t.Errorf("feature %s: %+v; ethtool -k says on=%v fixed=%v", name, f, on[name], fixed[name])
		}
	}
	if same < 10 {
		t.Fatalf("only %d features in common with ethtool -k (of %d read)", same, len(feats))
	}

	// rx-vlan-stag-hw-parse is changeable on veth (VETH_FEATURES has
	// NETIF_F_HW_VLAN_STAG_RX), and ethtool -k prints it under that name.
	const name = "rx-vlan-stag-hw-parse"
	if f := feats[name]; !f.Changeable || !f.Active {
		t.Fatalf("%s on veth: %+v, want changeable and on", name, f)
	}
	for _, want := range []bool{false, true} {
		if err := c.SetFeature(dev, name, want); err != nil {
			t.Fatal(err)
		}
		on, _ := ethtoolK(t, dev)
		if v, ok := on[name]; !ok || v != want {
			t.Fatalf("after SetFeature(%s, %v) ethtool -k says %v (printed: %v)", name, want, v, ok)
		}
	}
	if err := c.SetFeature(dev, "no-such-feature", true); err == nil || !strings.Contains(err.Error(), `no feature "no-such-feature"`) {
		t.Errorf("unknown feature: %v", err)
	}
	if err := c.SetFeature(dev, "rx-gro-hw", true); err == nil {
		t.Error("a fixed feature (rx-gro-hw on veth) turned on without an error")
	}

	// veth_get_link_ksettings: 10000 Mbit/s.
	if s, err := c.Speed(dev); err != nil || s != 10000 {
		t.Errorf("Speed(%s) = %d, %v; want 10000", dev, s, err)
	}
	// veth's ethtool -S carries peer_ifindex.
	st, err := c.Stats(dev)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := netlink.LinkByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	if got := st["peer_ifindex"]; got != uint64(pl.Attrs().Index) {
		t.Errorf("peer_ifindex %d, want %d (stats %v)", got, pl.Attrs().Index, st)
	}
	out, err := exec.Command("ethtool", "-S", dev).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "peer_ifindex: "+strconv.Itoa(pl.Attrs().Index)) {
		t.Errorf("ethtool -S %s: %v\n%s", dev, err, out)
	}
}
