package offload

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
)

// TestNewProfilesOnExamples compiles every example's NIC targets for the
// i40e, bnxt and cxgb4 profiles (at a 25 Gbit/s probed link, as the lab's
// test NIC) and checks where each part of the plan goes and why.
func TestNewProfilesOnExamples(t *testing.T) {
	type want struct {
		layout   string // "count@offset" per TC
		maxRates []model.Rate
		minRates []model.Rate
		hw, sw   []string // rule IDs placed in hardware / software
		unsup    map[string]string
		notes    []string
		dcb      bool
	}
	cases := []struct {
		profile, example string
		want             want
	}{
		{"i40e", "host.yaml", want{
			// TC 0's 4 queues are a power of two already.
			layout: "4@0 3@4 3@7 3@10 3@13",
			// 40G ceilings clamp to the 25G link; their sum (50.2G) is
			// more than i40e takes, so no TC keeps a max rate.
			maxRates: []model.Rate{0, 0, 0, 0, 0},
			minRates: []model.Rate{0, 0, 0, 0, 0},
			sw:       []string{"bgp/egress/ens1f0np0", "rocev2/egress/ens1f0np0"},
			unsup: map[string]string{
				"rocev2/ingress/ens1f0np0":   "i40e cannot offload a rule without a match on dst on ingress",
				"nvme-tcp/ingress/ens1f0np0": "address prefix 10.40.0.0/24 (whole addresses only)",
			},
			notes: []string{"max rates sum to 50.2Gbit, above the link 25Gbit, which i40e refuses", "profile i40e has no DCB"},
		}},
		{"i40e", "lab.yaml", want{
			// 16 channels for 3 TCs: 6 is no power of two, TC 0 takes 4.
			layout:   "4@0 7@4 5@11",
			maxRates: []model.Rate{0, 0, 50e6},
			minRates: []model.Rate{0, 0, 0},
			sw:       []string{"voice-udp/egress/pa", "bulk-tcp/egress/pa"},
			notes:    []string{"TC 0: i40e needs a power of two queues there: 4 (not 6), TC 1 takes the other 2", "TC 2: max rate 20Mbit rounded to 50Mbit (i40e granularity 50Mbit, limit 200Mbit)"},
		}},
		{"bnxt", "host.yaml", want{
			layout:   "16@0 16@16 16@32 16@48 16@64",
			maxRates: []model.Rate{0, 0, 0, 0, 0},
			minRates: []model.Rate{0, 0, 0, 0, 0},
			unsup: map[string]string{
				"rocev2/ingress/ens1f0np0": "bnxt offloads no ingress flower rules",
			},
			notes: []string{"bnxt lays out the transmit queues itself (mqprio is taken as a TC count): each TC gets 16 queues", "TC 2: bnxt has no per-TC max rate; 40Gbit is not enforced in hardware"},
			dcb:   true,
		}},
		{"bnxt", "lab.yaml", want{
			layout:   "16@0 16@16 16@32",
			maxRates: []model.Rate{0, 0, 0},
			minRates: []model.Rate{0, 0, 0},
			sw:       []string{"voice-udp/egress/pa"},
		}},
		{"cxgb4", "host.yaml", want{
			layout: "4@0 3@4 3@7 3@10 3@13",
			// The max rates' sum exceeds the link: dropped; so does the
			// min rates' (45.15G: roce's 40G clamped to the link).
			maxRates: []model.Rate{0, 0, 0, 0, 0},
			minRates: []model.Rate{0, 0, 0, 0, 0},
			hw:       []string{"rocev2/ingress/ens1f0np0", "nvme-tcp/ingress/ens1f0np0"},
			notes: []string{"cxgb4 has no flower hw_tc on ingress: received flows are steered with ethtool ntuple rules",
				"TCs 0, 1, 2, 3, 4 have no max rate: cxgb4 programs a TC without one with a max rate of 0",
				"max rates sum to 50.2Gbit, above the link 25Gbit, which cxgb4 refuses",
				"min rates sum to 45.15Gbit, above the link 25Gbit: no TC gets a min rate"},
		}},
		{"cxgb4", "lab.yaml", want{
			// Capacity 200 Mbit/s: 20M + 50M (borrow, no peak: unlimited)
			// + 30M (discard, no peak: unlimited) max.
			layout:   "6@0 5@6 5@11",
			maxRates: []model.Rate{0, 0, 20e6},
			minRates: []model.Rate{30e6, 50e6, 20e6},
			notes:    []string{"TCs 0, 1 have no max rate: cxgb4 programs a TC without one with a max rate of 0"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.profile+"/"+tc.example, func(t *testing.T) {
			p, err := model.LoadFile(filepath.Join("..", "examples", tc.example))
			if err != nil {
				t.Fatal(err)
			}
			c := profile(t, tc.profile)
			c.LinkSpeed = 25e9
			tgt := p.Targets[0]
			tgt.Profile = ""
			tp, err := CompileTarget(p, &tgt, c, p.Order())
			if err != nil {
				t.Fatal(err)
			}
			var layout []string
			var maxR, minR []model.Rate
			for _, q := range tp.Queues.TCs {
				layout = append(layout, fmt.Sprintf("%d@%d", q.Count, q.Offset))
				maxR, minR = append(maxR, q.MaxRate), append(minR, q.MinRate)
			}
			if got := strings.Join(layout, " "); got != tc.want.layout {
				t.Errorf("layout %q, want %q", got, tc.want.layout)
			}
			if !slices.Equal(maxR, tc.want.maxRates) || !slices.Equal(minR, tc.want.minRates) {
				t.Errorf("max rates %v min rates %v, want %v %v", maxR, minR, tc.want.maxRates, tc.want.minRates)
			}
			for _, id := range tc.want.hw {
				if r := ruleByID(t, tp, id); r.Where.Placement != Hardware {
					t.Errorf("%s: %v, want hardware", id, r.Where)
				}
			}
			for _, id := range tc.want.sw {
				if r := ruleByID(t, tp, id); r.Where.Placement != Software || !strings.Contains(r.Where.Reason, tc.profile+" offloads no egress flower rules") {
					t.Errorf("%s: %v, want software (no egress flower)", id, r.Where)
				}
			}
			for id, why := range tc.want.unsup {
				if r := ruleByID(t, tp, id); r.Where.Placement != Unsupported || !strings.Contains(r.Where.Reason, why) {
					t.Errorf("%s: %v, want unsupported (%s)", id, r.Where, why)
				}
			}
			for _, n := range tc.want.notes {
				if !hasNote(tp, n) {
					t.Errorf("no note %q in\n%s", n, strings.Join(tp.Notes, "\n"))
				}
			}
			if (tp.DCB != nil) != tc.want.dcb {
				t.Errorf("DCB planned: %v, want %v", tp.DCB != nil, tc.want.dcb)
			}
			var buf bytes.Buffer
			if err := (&Plan{Policy: p.Name, Targets: []*TargetPlan{tp}}).WriteText(&buf); err != nil || !strings.Contains(buf.String(), "profile "+tc.profile) {
				t.Errorf("plan text: %v\n%s", err, buf.String())
			}
		})
	}
}

const i40ePolicy = `
name: adq
classes:
  - {name: app, service: guaranteed, rate: 120Mbit}
  - {name: be, service: best-effort}
flows:
  - {name: ok, class: app, direction: ingress, match: {protocol: tcp, dst: 10.0.0.5, dst-port: 8080}}
  - {name: udp, class: app, direction: ingress, match: {protocol: udp, dst: 10.0.0.5, dst-port: 5000}}
  - {name: v6, class: app, direction: ingress, match: {protocol: tcp, dst: "2001:db8::5", dst-port: 443}}
  - {name: v6net, class: app, direction: ingress, match: {protocol: tcp, dst: "2001:db8::/64", dst-port: 443}}
  - {name: noport, class: app, direction: ingress, match: {protocol: tcp, dst: 10.0.0.6}}
  - {name: src, class: app, direction: ingress, match: {protocol: tcp, src: 10.1.0.1, dst: 10.0.0.7, dst-port: 80}}
  - {name: dscp, class: app, direction: ingress, match: {protocol: tcp, dst: 10.0.0.8, dst-port: 80, dscp: 46}}
  - {name: tc0, class: be, direction: ingress, match: {protocol: tcp, dst: 10.0.0.9, dst-port: 80}}
targets:
  - {name: nic, kind: nic, interface: eth0, capacity: 10Gbit}
`

// TestI40EFlowerLimits: an i40e ADQ rule goes to hardware only as TCP to a
// whole destination address and port (i40e_add_del_cloud_filter_big_buf),
// to a TC >= 1; the plan says which limit stops the others.
func TestI40EFlowerLimits(t *testing.T) {
	tp := compileWith(t, parse(t, i40ePolicy), profile(t, "i40e")).Targets[0]
	for _, id := range []string{"ok/ingress/eth0", "v6/ingress/eth0"} {
		if r := ruleByID(t, tp, id); r.Where.Placement != Hardware || r.Actions[0].Kind != SteerTC || r.Actions[0].TC != 1 {
			t.Errorf("%s: %+v, want hardware hw_tc 1", id, r)
		}
	}
	for id, why := range map[string]string{
		"udp/ingress/eth0":    "protocol udp (only tcp)",
		"v6net/ingress/eth0":  "address prefix 2001:db8::/64 (whole addresses only)",
		"noport/ingress/eth0": "a rule without a match on dst-port",
		"src/ingress/eth0":    "cannot offload match on src on ingress",
		"dscp/ingress/eth0":   "cannot offload match on dscp on ingress",
		"tc0/ingress/eth0":    "hw_tc must be >= 1",
	} {
		r := ruleByID(t, tp, id)
		if r.Where.Placement != Unsupported || !strings.Contains(r.Where.Reason, why) {
			t.Errorf("%s: %v, want unsupported (%s)", id, r.Where, why)
		}
	}
	// 120 Mbit/s goes to the 50 Mbit/s credit grid; no min rate.
	if app := tp.Queues.TCs[1]; app.MaxRate != 100e6 || app.MinRate != 0 {
		t.Errorf("TC 1: max %v min %v, want 100Mbit and none", app.MaxRate, app.MinRate)
	}
	// Two TCs of 16 channels: 8 each, TC 0's a power of two already.
	if q := tp.Queues.TCs; q[0].Count != 8 || q[1].Count != 8 || hasNote(tp, "power of two") {
		t.Errorf("queues %+v, notes %q", q, tp.Notes)
	}
	// One TC over 6 channels: TC 0 uses 4 of them.
	c := profile(t, "i40e")
	c.Channels = 6
	one := parse(t, "name: one\nclasses: [{name: be, service: best-effort}]\ntargets: [{name: n, kind: nic, interface: eth0}]\n")
	tp = compileWith(t, one, c).Targets[0]
	if tp.Queues.TCs[0].Count != 4 || !hasNote(tp, "TC 0: i40e needs a power of two queues there: 4 of 6 channels used") {
		t.Errorf("one TC over 6 channels: %+v, notes %q", tp.Queues.TCs, tp.Notes)
	}
}

// TestProfileNewFieldsChecked: the fields the new profiles brought are
// checked when a profile file is read.
func TestProfileNewFieldsChecked(t *testing.T) {
	_, err := ParseProfile("bad.yaml", []byte(`profile: x
kind: nic
queue-layout: diagonal
offload:
  ingress:
    matches: [dst]
    actions: [steer-tc]
    require: [dst-port]
    protocols: [icmp]
`))
	if err == nil {
		t.Fatal("bad profile accepted")
	}
	for _, want := range []string{
		`bad.yaml:3:15: queue-layout: unknown queue layout "diagonal"`,
		`offload.ingress.require[0]: required match "dst-port" is not in matches`,
		`offload.ingress.protocols[0]: unknown protocol "icmp" (use tcp, udp or sctp)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestTCQueuesMaxChecked: a cap on the driver's layout needs that layout,
// an entry per TC count at most and positive counts.
func TestTCQueuesMaxChecked(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"traffic-classes: 2\nchannels: 4\ntc-queues-max: [4]\n", "tc-queues-max: caps a layout the driver makes: it needs queue-layout rings-per-tc"},
		{"traffic-classes: 2\nchannels: 4\nqueue-layout: rings-per-tc\ntc-queues-max: [4, 4, 4]\n", "tc-queues-max: 3 entries for 2 traffic classes"},
		{"traffic-classes: 2\nchannels: 4\nqueue-layout: rings-per-tc\ntc-queues-max: [4, 0]\n", "tc-queues-max[1]: 0 queues: want at least 1"},
	} {
		_, err := ParseProfile("bad.yaml", []byte("profile: x\nkind: nic\n"+c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}
