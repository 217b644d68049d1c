package nic

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/drivers/nic/wire/wiretest"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// The golden byte slices below are derived by hand from the kernel's uapi
// structs (6.1 headers; sizes checked with a C program): each line is one
// attribute header or struct field. They assume a little-endian host.

func TestMqprioBytes(t *testing.T) {
	wiretest.LittleEndian(t)
	q := &offload.QueueLayout{
		NumTC:  2,
		PrioTC: [16]uint8{0, 1},
		TCs: []offload.TC{
			{Index: 0, Count: 8, Offset: 0, MaxRate: 1_000_000_000},
			{Index: 1, Count: 8, Offset: 8, MaxRate: 2_500_000_000},
		},
	}
	o, err := mqprioFromLayout(q)
	if err != nil {
		t.Fatal(err)
	}
	want := wiretest.Hex(t, `
		02                                # num_tc
		0001 0000 0000 0000 0000 0000 0000 0000 # prio_tc_map[16]
		01                                # hw
		0800 0800 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 # count[16]
		0000 0800 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 # offset[16]
		0000                              # NLA_ALIGN(82) = 84
		0600 0100 0100 0000               # TCA_MQPRIO_MODE u16 channel
		0600 0200 0100 0000               # TCA_MQPRIO_SHAPER u16 bw_rlimit
		1c00 0480                         # TCA_MQPRIO_MAX_RATE64 | NLA_F_NESTED, 28 bytes
		0c00 0400 40597307 00000000       # 125000000 B/s = 1 Gbit/s
		0c00 0400 205fa012 00000000       # 312500000 B/s = 2.5 Gbit/s
	`)
	got := o.Encode()
	wiretest.DiffBytes(t, "mqprio", got, want)
	back, err := tc.DecodeMqprio(got)
	if err != nil {
		t.Fatal(err)
	}
	if !o.SameLayout(back) || !back.Channel || !back.Shaper {
		t.Fatalf("decode(encode) = %+v, want %+v", back, o)
	}
	// A changed rate is a different layout.
	other := o
	other.MaxRate = []uint64{125000000, 1}
	if o.SameLayout(other) {
		t.Fatal("layouts with different max rates compare equal")
	}
}

func TestMqprioRefusesBadLayout(t *testing.T) {
	for name, q := range map[string]*offload.QueueLayout{
		"no tcs":      {NumTC: 0},
		"count":       {NumTC: 1, TCs: []offload.TC{{Index: 0}}},
		"map too far": {NumTC: 1, PrioTC: [16]uint8{3}, TCs: []offload.TC{{Index: 0, Count: 1}}},
		"index":       {NumTC: 1, TCs: []offload.TC{{Index: 1, Count: 1}}},
	} {
		if _, err := mqprioFromLayout(q); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func mustPrefix(s string) model.Prefix { return model.Prefix{Prefix: netip.MustParsePrefix(s)} }

func TestFlowerEgressBytes(t *testing.T) {
	wiretest.LittleEndian(t)
	r := &offload.Rule{
		ID: "voice/egress/eth0", Flow: "voice", Class: "voice", Direction: offload.OnEgress, Device: "eth0",
		Precedence: 100,
		Match:      model.Match{Dst: mustPrefix("192.0.2.0/24"), Protocol: model.UDP, DstPort: model.PortRange{Lo: 5000, Hi: 5000}},
		Actions:    []offload.Action{{Kind: offload.SetPriority, Priority: 5}, {Kind: offload.SetDSCP, DSCP: 46}},
		Where:      offload.Where{Placement: offload.Software, Reason: "egress is classified in software"},
	}
	fs, _, err := ruleFilters("qosplane-test", r)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Family != 4 || fs[0].Hook != tc.HookEgress || fs[0].Flags != tc.FlagSkipHW {
		t.Fatalf("filters = %+v", fs)
	}
	cookie, _ := makeCookie("qosplane-test", offload.RuleFingerprint(r))
	want := append(wiretest.Hex(t, `
		0600 0800 0800 0000          # KEY_ETH_TYPE be16 0x0800
		0500 0900 11 000000          # KEY_IP_PROTO udp
		0800 0c00 c0000200           # KEY_IPV4_DST 192.0.2.0
		0800 0d00 ffffff00           # KEY_IPV4_DST_MASK /24
		0600 1500 1388 0000          # KEY_UDP_DST be16 5000
		0600 2600 ffff 0000          # KEY_UDP_DST_MASK
		0800 1600 01000000           # FLAGS skip_hw
		dc00 0300                    # ACT, 220 bytes
		4800 0100                    #  action 1, 72 bytes
		0c00 0100 736b62656469 7400  #   KIND "skbedit\0"
		2400 0280                    #   OPTIONS | NESTED, 36 bytes
		1800 0200 00000000 00000000 03000000 00000000 00000000 # SKBEDIT_PARMS tc_gen, action pipe
		0800 0300 05000000           #    SKBEDIT_PRIORITY 5
		1400 0600                    #   COOKIE, 16 bytes follow
	`), cookie...)
	want = append(want, wiretest.Hex(t, `
		6000 0200                    #  action 2, 96 bytes
		0a00 0100 7065646974 00 0000 #   KIND "pedit\0" + pad
		5000 0280                    #   OPTIONS | NESTED, 80 bytes
		3400 0400                    #    PEDIT_PARMS_EX, 48 bytes
		00000000 00000000 03000000 00000000 00000000 # tc_gen, action pipe
		01 00 0000                   #     nkeys 1, flags 0, pad
		ff03ffff                     #     mask: keep all but the DSCP bits of byte 1
		00b80000                     #     val: 46<<2 = 0xb8 in byte 1 (TOS)
		00000000 00000000 00000000 00000000 # off 0, at, offmask, shift
		1800 0580                    #    PEDIT_KEYS_EX | NESTED
		1400 0680                    #     PEDIT_KEY_EX | NESTED
		0600 0100 0200 0000          #      HTYPE ip4
		0600 0200 0000 0000          #      CMD set
		3000 0300                    #  action 3, 48 bytes
		0900 0100 6373756d 00 000000 #   KIND "csum\0" + pad
		2000 0280                    #   OPTIONS | NESTED
		1c00 0100 00000000 00000000 03000000 00000000 00000000 01000000 # CSUM_PARMS, iph
	`)...)
	got, err := fs[0].EncodeOptions()
	if err != nil {
		t.Fatal(err)
	}
	wiretest.DiffBytes(t, "flower options", got, want)

	fs[0].Handle = 0x51500001
	msg, err := fs[0].EncodeMsg(7)
	if err != nil {
		t.Fatal(err)
	}
	wantHdr := wiretest.Hex(t, `
		00 00 0000    # family AF_UNSPEC, pads
		07000000      # ifindex 7
		01005051      # handle 0x51500001
		f3ffffff      # parent ffff:fff3 (clsact egress)
		00036400      # info: pref 100 << 16 | htons(ETH_P_ALL)
		0b00 0100 666c6f77657200 00 # KIND "flower\0"
	`)
	wiretest.DiffBytes(t, "tcmsg", msg[:len(wantHdr)], wantHdr)
	if h := native.Uint16(msg[len(wantHdr)+2:]); h != tc.TCAOptions|tc.NLAFNested {
		t.Fatalf("options attribute type %#x", h)
	}
}

func TestFlowerSplitsFamiliesForDSCP(t *testing.T) {
	r := &offload.Rule{ID: "x", Direction: offload.OnEgress, Device: "eth0", Precedence: 10,
		Match:   model.Match{Protocol: model.TCP, DstPort: model.PortRange{Lo: 1000, Hi: 2000}},
		Actions: []offload.Action{{Kind: offload.SetDSCP, DSCP: 46}},
		Where:   offload.Where{Placement: offload.Software}}
	fs, _, err := ruleFilters("o", r)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Family != 4 || fs[1].Family != 6 {
		t.Fatalf("want an IPv4 and an IPv6 filter, got %+v", fs)
	}
	if len(fs[0].Acts) != 2 || fs[0].Acts[1].Kind != tc.ActCsum || len(fs[1].Acts) != 2 {
		t.Fatalf("pedit+csum in both families (same layout): %+v / %+v", fs[0].Acts, fs[1].Acts)
	}
	opts, err := fs[1].EncodeOptions()
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range [][]byte{
		wiretest.Hex(t, "0600 0800 86dd 0000"), // KEY_ETH_TYPE ipv6
		wiretest.Hex(t, "0600 5900 03e8 0000"), // PORT_DST_MIN 1000
		wiretest.Hex(t, "0600 5a00 07d0 0000"), // PORT_DST_MAX 2000
		wiretest.Hex(t, "f03fffff 0b800000"),   // IPv6 traffic class key: 46 = 0b1011_10
		wiretest.Hex(t, "0600 0100 0300 0000"), // HTYPE ip6
	} {
		if !bytes.Contains(opts, frag) {
			t.Errorf("IPv6 filter lacks %x", frag)
		}
	}
}

func TestFlowerHwTCBytes(t *testing.T) {
	wiretest.LittleEndian(t)
	r := &offload.Rule{ID: "s", Direction: offload.OnIngress, Device: "eth0", Precedence: 3,
		Match:   model.Match{Dst: mustPrefix("10.0.0.1/32"), Protocol: model.TCP, DstPort: model.PortRange{Lo: 80, Hi: 80}},
		Actions: []offload.Action{{Kind: offload.SteerTC, TC: 3}},
		Where:   offload.Where{Placement: offload.Hardware}}
	fs, _, err := ruleFilters("o", r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs[0].EncodeOptions()
	if err != nil {
		t.Fatal(err)
	}
	want := wiretest.Hex(t, `
		0800 0100 e3ffffff  # CLASSID TC_H_MAKE(ffff:, ffe0+3)
		0600 0800 0800 0000 # KEY_ETH_TYPE ipv4
		0500 0900 06 000000 # IP_PROTO tcp
		0800 0c00 0a000001  # IPV4_DST
		0800 0d00 ffffffff  # IPV4_DST_MASK
		0600 1300 0050 0000 # TCP_DST 80
		0600 2400 ffff 0000 # TCP_DST_MASK
		0800 1600 02000000  # FLAGS skip_sw (the kernel's bit 1, not vishvananda's swapped encoding)
	`)
	wiretest.DiffBytes(t, "hw_tc", got, want)
	if fs[0].Hook.Parent() != 0xFFFFFFF2 {
		t.Fatalf("ingress parent %#x", fs[0].Hook.Parent())
	}
}

func TestVlanModifyAndPoliceBytes(t *testing.T) {
	wiretest.LittleEndian(t)
	var a nla.Builder
	if err := (tc.Act{Kind: tc.ActVlan, Control: tc.ActPipe, VID: 10, PCP: 5}).EncodeOptions(&a); err != nil {
		t.Fatal(err)
	}
	wiretest.DiffBytes(t, "vlan", a.B, wiretest.Hex(t, `
		1c00 0200 00000000 00000000 03000000 00000000 00000000 03000000 # VLAN_PARMS tc_gen + v_action modify
		0600 0300 0a00 0000 # PUSH_VLAN_ID 10
		0500 0600 05 000000 # PUSH_VLAN_PRIORITY 5
	`))
	if err := (tc.Act{Kind: tc.ActVlan, PCP: 5}).EncodeOptions(&nla.Builder{}); err == nil {
		t.Fatal("vlan modify without a VLAN id was accepted")
	}

	a = nla.Builder{}
	pol := tc.Act{Kind: tc.ActPolice, Rate: 1_250_000, Burst: 15000, Control: tc.ActShot, Conform: tc.ActPipe, Index: 0x51000007}
	if err := pol.EncodeOptions(&a); err != nil {
		t.Fatal(err)
	}
	wantTbf := wiretest.Hex(t, `
		3c00 0100           # POLICE_TBF, struct tc_police (56 bytes)
		07000051            # index (shared meter)
		02000000            # action (exceed): drop
		00000000            # limit
		6cdc0200            # burst: 15000 B at 1.25 MB/s = 12 ms = 187500 ticks of 64 ns
		ffff0000            # mtu 65535
		08 01 0000 ffff 0000 d0121300 # rate: cell_log 8, ethernet, cell_align -1, 1250000 B/s
		000000000000000000000000      # no peak rate
		00000000 00000000 00000000    # refcnt, bindcnt, capab
		0404 0200           # POLICE_RATE: the 1024-byte rate table
	`)
	wiretest.DiffBytes(t, "police head", a.B[:len(wantTbf)], wantTbf)
	tail := a.B[len(wantTbf)+1024:]
	wiretest.DiffBytes(t, "police tail", tail, wiretest.Hex(t, "0800 0500 03000000")) // POLICE_RESULT conform pipe

	// Above 4 GB/s (34 Gbit/s) the 64-bit rate attribute carries it.
	a = nla.Builder{}
	big := tc.Act{Kind: tc.ActPolice, Rate: 50_000_000_000 / 8, Burst: 1 << 20, Control: tc.ActShot, Conform: tc.ActPipe}
	if err := big.EncodeOptions(&a); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(a.B, wiretest.Hex(t, "0c00 0800 806e8774 01000000")) { // RATE64 6250000000
		t.Fatal("no TCA_POLICE_RATE64 for 50 Gbit/s")
	}
}

func TestBorrowLayout(t *testing.T) {
	r := &offload.Rule{ID: "b", Direction: offload.OnEgress, Device: "eth0", Precedence: 1,
		Match: model.Match{Src: mustPrefix("10.0.0.0/8")},
		Actions: []offload.Action{
			{Kind: offload.Police, Rate: 10_000_000, Burst: 15000, Exceed: &offload.Exceed{DSCP: 0, DemotePriority: 0}},
			{Kind: offload.SetPriority, Priority: 5},
			{Kind: offload.SetDSCP, DSCP: 46},
		},
		Where: offload.Where{Placement: offload.Software}}
	fs, _, err := ruleFilters("o", r)
	if err != nil {
		t.Fatal(err)
	}
	acts := fs[0].Acts
	kinds := make([]tc.ActKind, len(acts))
	for i, a := range acts {
		kinds[i] = a.Kind
	}
	wantKinds := []tc.ActKind{tc.ActPolice, tc.ActSkbedit, tc.ActPedit, tc.ActCsum, tc.ActSkbedit, tc.ActPedit, tc.ActCsum}
	if !equalKinds(kinds, wantKinds) {
		t.Fatalf("actions %v, want %v", kinds, wantKinds)
	}
	// Exceeding packets run 1-3 and stop; conforming ones skip 4 actions
	// (the kernel's jump count is from the start of the list) and run 4-6.
	if acts[0].Control != tc.ActPipe || acts[0].Conform != tc.ActJump|4 {
		t.Fatalf("police exceed %#x conform %#x", acts[0].Control, acts[0].Conform)
	}
	if acts[3].Control != tc.ActOK || acts[1].Priority != 0 || acts[2].DSCP != 0 || acts[4].Priority != 5 || acts[5].DSCP != 46 {
		t.Fatalf("exceed/conform actions wrong: %+v", acts)
	}
	if acts[0].Cookie == nil || acts[1].Cookie != nil {
		t.Fatal("cookie not on the first unshared action alone")
	}
}

func equalKinds(a, b []tc.ActKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCookieRoundTrip(t *testing.T) {
	c, err := makeCookie("qosplane-lab", "0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != tc.CookieMaxSize {
		t.Fatalf("cookie %d bytes", len(c))
	}
	tag, fp, ok := parseCookie(c)
	if !ok || fp != "0123456789abcdef" || tag != ownerTag("qosplane-lab") || tag == ownerTag("other") {
		t.Fatalf("parseCookie = %x %q %v", tag, fp, ok)
	}
	if _, _, ok := parseCookie([]byte("foreign")); ok {
		t.Fatal("foreign cookie parsed as ours")
	}
}

func TestRuleRefusals(t *testing.T) {
	base := offload.Rule{ID: "r", Direction: offload.OnEgress, Device: "eth0", Where: offload.Where{Placement: offload.Software}}
	for name, mod := range map[string]func(r *offload.Rule){
		"steer on egress":  func(r *offload.Rule) { r.Actions = []offload.Action{{Kind: offload.SteerTC, TC: 1}} },
		"switch direction": func(r *offload.Rule) { r.Direction = offload.OnClassifier },
		"two borrowing meters": func(r *offload.Rule) {
			r.Actions = []offload.Action{{Kind: offload.Police, Rate: 1e6, Burst: 1e4, Exceed: &offload.Exceed{}}, {Kind: offload.Police, Rate: 1e6, Burst: 1e4, Exceed: &offload.Exceed{}}}
		},
		"police without burst": func(r *offload.Rule) { r.Actions = []offload.Action{{Kind: offload.Police, Rate: 1e6}} },
	} {
		r := base
		mod(&r)
		if _, _, err := ruleFilters("o", &r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r := base
	r.Where.Placement = offload.Pacer
	if fs, _, err := ruleFilters("o", &r); err != nil || fs != nil {
		t.Errorf("pacer rule: %v %v, want nothing installed", fs, err)
	}
}

// A dump message is our own encoding plus what the kernel adds: the
// in_hw flag and count, action stats. tc.ParseFilter must read them back.
func TestParseFilterDump(t *testing.T) {
	wiretest.LittleEndian(t)
	r := &offload.Rule{ID: "p", Direction: offload.OnIngress, Device: "eth0", Precedence: 42,
		Match:   model.Match{Dst: mustPrefix("10.0.0.0/8")},
		Actions: []offload.Action{{Kind: offload.SetDSCP, DSCP: 10}},
		Where:   offload.Where{Placement: offload.Hardware}}
	fs, _, err := ruleFilters("owner", r)
	if err != nil {
		t.Fatal(err)
	}
	f := &fs[0]
	f.Handle = handleMagic | 9
	opts, err := f.EncodeOptions()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel reports the flags with in_hw set and the count.
	opts = bytes.Replace(opts, wiretest.Hex(t, "0800 1600 02000000"), wiretest.Hex(t, "0800 1600 06000000"), 1)
	var a nla.Builder
	a.Raw(tc.TCAFlowerInHWCount, native.AppendUint32(nil, 1))
	opts = append(opts, a.B...)
	msg := nla.Builder{B: tc.Msg(3, f.Handle, f.Hook.Parent(), tc.FilterInfo(f.Pref))}
	msg.Str(tc.TCAKind, "flower")
	msg.Raw(tc.TCAOptions|tc.NLAFNested, opts)
	idx, d, err := tc.ParseFilter(msg.B)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 3 || d.Pref != 42 || d.Handle != handleMagic|9 || d.Kind != "flower" || d.Flags != tc.FlagSkipSW|tc.FlagInHW || d.InHW != 1 {
		t.Fatalf("parsed %+v", d)
	}
	fp, ok := ourCookie(&d, ownerTag("owner"))
	if !ok || fp != offload.RuleFingerprint(r) {
		t.Fatalf("cookie fingerprint %q %v", fp, ok)
	}
	if _, ok := ourCookie(&d, ownerTag("someone else")); ok {
		t.Fatal("another owner's tag matched")
	}
	if strings.Join(d.ActionKinds, ",") != "pedit,csum" {
		t.Fatalf("actions %v", d.ActionKinds)
	}
}
