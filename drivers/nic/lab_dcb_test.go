package nic

import (
	"fmt"
	"os/exec"
	"slices"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// checkModuleDCB fails t unless the module's recorded DCB of dev is want:
// ETS (priority map, TSA, shares), max rates (kbit/s), PFC and the app
// table.
func checkModuleDCB(t *testing.T, dev string, want *offload.DCB) {
	t.Helper()
	s, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	if s.DCB == nil || s.DCB.ETS == nil || s.DCB.PFC == nil {
		t.Fatalf("module DCB %+v", s.DCB)
	}
	for i := range 8 {
		tsa := 2
		if slices.Contains(want.Strict, i) {
			tsa = 0
		}
		if s.DCB.ETS.PrioTC[i] != int(want.PrioTC[i]) || s.DCB.ETS.TcTxBW[i] != int(want.Bandwidth[i]) ||
			s.DCB.ETS.TcTSA[i] != tsa || s.DCB.MaxRateKbps[i] != want.MaxRate[i]/1000 {
			t.Fatalf("TC/prio %d: module ets %+v maxrate %v; want %+v", i, s.DCB.ETS, s.DCB.MaxRateKbps, want)
		}
	}
	var apps []string
	for _, e := range s.DCB.App {
		apps = append(apps, fmt.Sprintf("%d:%d>%d", e.Selector, e.Protocol, e.Priority))
	}
	var wantApps []string
	for _, e := range want.App {
		wantApps = append(wantApps, fmt.Sprintf("5:%d>%d", e.DSCP, e.Priority))
	}
	slices.Sort(apps)
	slices.Sort(wantApps)
	var pfcEn int
	for _, p := range want.PFC {
		pfcEn |= 1 << p
	}
	if s.DCB.PFC.PFCEn != pfcEn || !slices.Equal(apps, wantApps) {
		t.Fatalf("module pfc_en %#x apps %v; want %#x %v", s.DCB.PFC.PFCEn, apps, pfcEn, wantApps)
	}
}

// TestLabDCBDrift changes the device's DCB behind the driver's back with
// iproute2's dcb (ETS shares, an app entry deleted): Current reads the
// device (RTM_GETDCB), Diff sees a change, Apply puts the plan back.
func TestLabDCBDrift(t *testing.T) {
	const dev = "qtn0"
	needIface(t, dev)
	ctx := t.Context()
	owner := "qosplane-dcb-drift"
	d := labDriver(t, dev, owner, t.TempDir())
	removeAll(t, d)
	want := &offload.TargetPlan{Kind: model.NIC, Owner: owner, Device: offload.Device{Interface: dev},
		DCB: &offload.DCB{PrioTC: [8]uint8{0, 0, 0, 1, 2, 0, 0, 0}, Strict: []int{2}, Bandwidth: [8]uint8{70, 30},
			MaxRate: [8]uint64{1: 10_000_000_000}, PFC: []uint8{3},
			App: []offload.DSCPPrio{{DSCP: 26, Priority: 3}, {DSCP: 46, Priority: 4}}}}
	converge(t, d, want)
	assertConverged(t, d, want)
	checkModuleDCB(t, dev, want.DCB)
	for _, args := range [][]string{
		{"ets", "set", "dev", dev, "tc-bw", "0:40", "1:60"},
		{"app", "del", "dev", dev, "dscp-prio", "26:3"},
	} {
		if out, err := exec.Command("/usr/sbin/dcb", args...).CombinedOutput(); err != nil {
			t.Fatalf("dcb %v: %v: %s", args, err, out)
		}
	}
	s, _ := qtnstate.Read(dev)
	if s.DCB == nil || s.DCB.ETS == nil || s.DCB.ETS.TcTxBW[0] != 40 || len(s.DCB.App) != 1 {
		t.Fatalf("the drift did not reach the module: %+v", s.DCB)
	}
	before := d.Writes()
	cur, err := d.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Writes() != before {
		t.Fatalf("Current made %d writes", d.Writes()-before)
	}
	ops := offload.Diff(cur, want)
	if len(ops) != 1 || ops[0].Object != offload.ObjDCB || ops[0].Kind != offload.Change {
		t.Fatalf("Diff after drift: %+v", ops)
	}
	if cur.DCB.Bandwidth[0] != 40 || cur.DCB.Bandwidth[1] != 60 {
		t.Fatalf("Current DCB %+v, want the drifted shares 40/60", cur.DCB)
	}
	if err := d.Apply(ctx, want, ops); err != nil {
		t.Fatal(err)
	}
	checkModuleDCB(t, dev, want.DCB)
	assertConverged(t, d, want)
}
