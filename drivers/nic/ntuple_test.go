package nic

import (
	"net/netip"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/ethtoolnfc"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func ntupleRule(id string, m model.Match, queue uint16) offload.Rule {
	return offload.Rule{ID: id, Flow: id, Class: "c", Direction: offload.OnIngress, Device: "qtn3", Match: m,
		Actions: []offload.Action{{Kind: offload.SteerQueue, TC: 1, Queue: queue}}, Where: offload.Where{Placement: offload.Hardware}}
}

func TestNtupleSpec(t *testing.T) {
	r := ntupleRule("a", model.Match{Protocol: 17, Src: model.Prefix{Prefix: netip.MustParsePrefix("10.1.0.0/16")}, DstPort: model.PortRange{Lo: 53, Hi: 53}}, 4)
	if !isNtuple(&r) {
		t.Fatal("not an ntuple rule")
	}
	got, err := ntupleSpec(&r)
	if err != nil {
		t.Fatal(err)
	}
	want := ethtoolnfc.Rule{Type: ethtoolnfc.UDPv4,
		Value: ethtoolnfc.IP4{Src: netip.MustParseAddr("10.1.0.0"), DstPort: 53},
		Mask:  ethtoolnfc.IP4{Src: netip.MustParseAddr("255.255.0.0"), DstPort: 0xffff}, Ring: 4}
	if !got.Equal(&want) {
		t.Fatalf("spec %+v, want %+v", got, want)
	}
	any := ntupleRule("b", model.Match{Dst: model.Prefix{Prefix: netip.MustParsePrefix("192.0.2.1/32")}}, 0)
	if got, err := ntupleSpec(&any); err != nil || got.Type != ethtoolnfc.IPv4 || got.Mask.Dst != netip.MustParseAddr("255.255.255.255") {
		t.Fatalf("any-protocol rule: %+v %v", got, err)
	}
	for name, m := range map[string]model.Match{
		"ipv6":       {Dst: model.Prefix{Prefix: netip.MustParsePrefix("2001:db8::/32")}},
		"port range": {Protocol: 6, DstPort: model.PortRange{Lo: 1, Hi: 9}},
		"icmp":       {Protocol: 1},
		"vlan":       {VLAN: 5},
	} {
		r := ntupleRule(name, m, 0)
		if _, err := ntupleSpec(&r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
