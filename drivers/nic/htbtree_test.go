package nic

import (
	"strings"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/htb"
	"github.com/qosplane/qosplane/offload"
)

func testHTBPlan() *offload.HTBPlan {
	return &offload.HTBPlan{Handle: offload.HTBHandle, Default: "bulk", Rate: 25_000_000_000, Where: offload.Where{Placement: offload.Hardware},
		Classes: []offload.HTBClass{
			{Class: "voice", Minor: 0x20, Rate: 2_000_000_000, Ceil: 2_000_000_000, Burst: 64 << 10},
			{Class: "bulk", Minor: 0x30, Rate: 1_000_000, Ceil: 25_000_000_000, Burst: 1518},
		}}
}

// htbTreeOf turns the plan into the kernel's units (bytes/s) and refuses,
// before any write, a tree the kernel or the driver would not take.
func TestHTBTreeOf(t *testing.T) {
	tr, err := htbTreeOf(testHTBPlan())
	if err != nil {
		t.Fatal(err)
	}
	if tr.handle != 0x51520000 || tr.defcls != 0x30 || tr.top.RateBytes != 3_125_000_000 || tr.top.CeilBytes != 3_125_000_000 ||
		len(tr.leaves) != 2 || tr.leaves[0].c.RateBytes != 250_000_000 || tr.leaves[1].c.CeilBytes != 3_125_000_000 || tr.top.BurstBytes != 64<<10 {
		t.Fatalf("tree %+v", tr)
	}
	for name, c := range map[string]struct {
		edit func(*offload.HTBPlan)
		err  string
	}{
		"no default":     {func(h *offload.HTBPlan) { h.Default = "gone" }, `default class "gone"`},
		"ceil below":     {func(h *offload.HTBPlan) { h.Classes[0].Ceil = 1_000_000 }, `htb class "voice" (5152:20): htb class: ceil`},
		"zero rate":      {func(h *offload.HTBPlan) { h.Classes[1].Rate = 0 }, `htb class "bulk"`},
		"minor taken":    {func(h *offload.HTBPlan) { h.Classes[1].Minor = 0x20 }, "minor 0x20"},
		"the top minor":  {func(h *offload.HTBPlan) { h.Classes[1].Minor = 1 }, "minor 0x1"},
		"software":       {func(h *offload.HTBPlan) { h.Where.Placement = offload.Software }, "offloaded HTB only"},
		"no classes":     {func(h *offload.HTBPlan) { h.Classes = nil }, "with 0 classes"},
		"zero link rate": {func(h *offload.HTBPlan) { h.Rate = 0 }, "top class 5152:1"},
	} {
		h := testHTBPlan()
		c.edit(h)
		if _, err := htbTreeOf(h); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.err)
		}
	}
}

// holds compares what the device dumped with the tree; plan reports the
// device's rates against the record, so that Diff sees the difference.
func TestHTBDeviceHolds(t *testing.T) {
	rec := testHTBPlan()
	tr, _ := htbTreeOf(rec)
	dev := func() *htbDevice {
		return &htbDevice{offloaded: true, defcls: 0x30,
			classes: map[uint32]htb.Class{1: tr.top, 0x20: tr.leaves[0].c, 0x30: tr.leaves[1].c},
			parents: map[uint32]uint32{1: 0, 0x20: 1, 0x30: 1}}
	}
	if !dev().holds(&tr) {
		t.Fatal("the device holding the tree does not hold it")
	}
	if p := dev().plan(rec); offload.Fingerprint(p.Classes) != offload.Fingerprint(rec.Classes) || p.Default != "bulk" || p.Rate != rec.Rate {
		t.Fatalf("plan from an equal device %+v", p)
	}
	for name, edit := range map[string]func(*htbDevice){
		"not offloaded": func(d *htbDevice) { d.offloaded = false },
		"other default": func(d *htbDevice) { d.defcls = 0x20 },
		"ceil changed":  func(d *htbDevice) { c := d.classes[0x20]; c.CeilBytes++; d.classes[0x20] = c },
		"leaf gone":     func(d *htbDevice) { delete(d.classes, 0x30) },
		"extra class":   func(d *htbDevice) { d.classes[0x40], d.parents[0x40] = tr.top, 1 },
		"moved":         func(d *htbDevice) { d.parents[0x30] = 0x20 },
	} {
		d := dev()
		edit(d)
		if d.holds(&tr) {
			t.Errorf("%s: holds", name)
		}
		if p := d.plan(rec); offload.Fingerprint(p) == offload.Fingerprint(rec) {
			t.Errorf("%s: the device's plan equals the record", name)
		}
	}
}
