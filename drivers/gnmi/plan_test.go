package gnmi

import (
	"net/netip"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func prefix(s string) model.Prefix { return model.Prefix{Prefix: netip.MustParsePrefix(s)} }

func u8(v uint8) *uint8 { return &v }

// labPlan is a hand-built switch plan exercising every construct: strict
// and shared levels, a shaper, a two-rate policer with remark, a
// discarding policer, IPv4 and IPv6 classifiers, ports and ranges, DSCP
// matches and remarks.
func labPlan() *offload.TargetPlan {
	hw := offload.Where{Placement: offload.Hardware}
	owner := "qosplane-lab"
	return &offload.TargetPlan{
		Target: "leaf1", Kind: model.Switch, Owner: owner, Profile: "openconfig-switch",
		Device: offload.Device{Address: "127.0.0.1:0", Interfaces: []string{"Ethernet1", "Ethernet2"}},
		Classes: []offload.ClassPlan{
			{Name: "voice", Service: model.Guaranteed, Priority: 5, Weight: 1, Queue: owner + "--voice", QueueID: 5,
				Rate: 10_000_000, Bucket: 12_500, NonConforming: model.Shape,
				Mark: offload.Mark{DSCP: 46, PCP: 5}, Where: hw},
			{Name: "video", Service: model.ControlledLoad, Priority: 4, Weight: 1, Queue: owner + "--video", QueueID: 4,
				Rate: 50_000_000, Peak: 80_000_000, Bucket: 62_500, NonConforming: model.Borrow,
				Mark: offload.Mark{DSCP: 24, PCP: 4}, MarkNonConforming: offload.Mark{DSCP: 8, PCP: 1}, Where: hw},
			{Name: "bulk", Service: model.BestEffort, Priority: 0, Weight: 3, Queue: owner + "--bulk", QueueID: 1,
				NonConforming: model.Borrow, Where: hw},
			{Name: "scavenger", Service: model.Qualitative, Priority: 0, Weight: 1, Queue: owner + "--scavenger", QueueID: 0,
				Rate: 5_000_000, Bucket: 3_036, NonConforming: model.Discard, Where: hw},
			{Name: "lossless", Service: model.BestEffort, Priority: 3, Weight: 1,
				Where: offload.Where{Placement: offload.Unsupported, Reason: "PFC is not in openconfig-qos"}},
		},
		Rules: []offload.Rule{
			{ID: "sip/classifier/" + owner + "--ipv4", Flow: "sip", Class: "voice", Direction: offload.OnClassifier, Device: owner + "--ipv4",
				Precedence: 10, Match: model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: 5060, Hi: 5060}},
				Actions: []offload.Action{{Kind: offload.SetClass}, {Kind: offload.SetDSCP, DSCP: 46}, {Kind: offload.SetPCP, PCP: 5}}, Where: hw},
			{ID: "cams/classifier/" + owner + "--ipv4", Flow: "cams", Class: "video", Direction: offload.OnClassifier, Device: owner + "--ipv4",
				Precedence: 20, Match: model.Match{Dst: prefix("10.1.0.0/16"), Protocol: model.TCP, DstPort: model.PortRange{Lo: 8000, Hi: 8100}},
				Actions: []offload.Action{{Kind: offload.SetClass}, {Kind: offload.SetDSCP, DSCP: 24}}, Where: hw},
			{ID: "ef/classifier/" + owner + "--ipv4", Flow: "ef", Class: "voice", Direction: offload.OnClassifier, Device: owner + "--ipv4",
				Precedence: 30, Match: model.Match{DSCP: u8(46)},
				Actions: []offload.Action{{Kind: offload.SetClass}}, Where: hw},
			{ID: "backup6/classifier/" + owner + "--ipv6", Flow: "backup6", Class: "bulk", Direction: offload.OnClassifier, Device: owner + "--ipv6",
				Precedence: 40, Match: model.Match{Src: prefix("2001:db8::/32"), Protocol: model.TCP, SrcPort: model.PortRange{Lo: 873, Hi: 873}},
				Actions: []offload.Action{{Kind: offload.SetClass}, {Kind: offload.SetDSCP, DSCP: 10}}, Where: hw},
			{ID: "vlan/classifier/" + owner + "--ipv4", Flow: "vlan", Class: "bulk", Direction: offload.OnClassifier, Device: owner + "--ipv4",
				Precedence: 50, Match: model.Match{VLAN: 100},
				Actions: []offload.Action{{Kind: offload.SetClass}}, Where: offload.Where{Placement: offload.Unsupported, Reason: "no VLAN match in openconfig-qos"}},
		},
	}
}
