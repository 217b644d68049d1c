package ethtoolnfc

import (
	"fmt"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestDriverNameAndChannels asks the kernel about a veth pair made for the
// test (root): the driver is "veth", its channels (veth_get_channels) one
// receive and one transmit queue; the same answers many times over, on a
// goroutine whose stack grows between the calls (what lost safchain's).
func TestDriverNameAndChannels(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a veth pair (CI runs as root)")
	}
	name := fmt.Sprintf("qpdi%d", os.Getpid()%100000)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	c, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var grow func(n int) int
	grow = func(n int) int {
		var pad [512]byte
		if n == 0 {
			got, err := c.DriverName(name)
			if err != nil || got != "veth" {
				t.Fatalf("DriverName(%s) = %q, %v; want veth", name, got, err)
			}
			return int(pad[0])
		}
		return grow(n-1) + int(pad[n%len(pad)])
	}
	for i := range 200 {
		grow(i % 64)
	}
	ch, err := c.Channels(name)
	if err != nil || ch.RX != 1 || ch.TX != 1 {
		t.Fatalf("Channels(%s) = %+v, %v; want 1 rx and 1 tx", name, ch, err)
	}
	if _, err := c.DriverName("qpdi-none0"); err == nil {
		t.Error("DriverName of a missing interface: no error")
	}
}
