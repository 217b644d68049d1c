package nic

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// The ixgbe, i40e, bnxt and cxgb4 profiles each on the qostestnic netdev
// that refuses what that driver refuses in Linux 6.1 (qtn3, qtn5-7; see
// qtn_main.c): a policy that uses what the profile offloads, compiled
// for the probed device and applied; the device holds the plan, reads back
// equal, a re-apply makes no writes, a failure injected at each offload
// operation rolls back, a driver restarted without its state file adopts.
var profileLab = []struct {
	dev, profile, policy string
	// check looks at the device after apply.
	check func(t *testing.T, tp *offload.TargetPlan, st *qtnstate.State)
}{
	{"qtn3", "ixgbe", `
name: x82599
classes:
  - {name: storage, service: guaranteed, rate: 4Gbit, mark: {dscp: 26, pcp: 3}}
  - {name: web, service: controlled-load, rate: 2Gbit}
  - {name: be, service: best-effort}
flows:
  - {name: iscsi, class: storage, direction: both, match: {protocol: tcp, dst-port: 3260}}
  - {name: https, class: web, direction: ingress, match: {protocol: tcp, dst-port: 443}}
  - {name: dns, class: be, direction: ingress, match: {protocol: udp, dst-port: 53}}
targets: [{name: nic, kind: nic, interface: qtn3, capacity: 10Gbit}]
`, func(t *testing.T, tp *offload.TargetPlan, st *qtnstate.State) {
		// ixgbe_set_dcb_queues' layout (16 queues per TC up to 4 TCs),
		// no rates; it is what the plan says.
		if m := st.Mqprio; m == nil || !reflect.DeepEqual(m.Count, []int{16, 16, 16}) || !reflect.DeepEqual(m.Offset, []int{0, 16, 32}) ||
			!reflect.DeepEqual(m.MaxRate, []uint64{0, 0, 0}) {
			t.Fatalf("mqprio %+v", st.Mqprio)
		}
		// One ntuple rule per flow, each to its TC's first queue: TC 2's
		// (32) lies past the 16 channels, in the rx queues DCB mode adds.
		if len(st.Ntuple) != 3 {
			t.Fatalf("ntuple %+v", st.Ntuple)
		}
		past := false
		for _, r := range st.Ntuple {
			cls := map[uint16]string{3260: "storage", 443: "web", 53: "be"}[r.DstPort]
			var want int64 = -1
			for _, c := range tp.Classes {
				if c.Name == cls {
					want = int64(tp.Queues.TCs[c.TC].Offset)
				}
			}
			if r.Queue != want {
				t.Errorf("ntuple rule %+v: queue %d, want %d (class %s)", r, r.Queue, want, cls)
			}
			past = past || r.Queue >= 16
		}
		if !past {
			t.Errorf("no rule steers past the 16 channels: %+v", st.Ntuple)
		}
	}},
	{"qtn5", "i40e", `
name: adq
classes:
  - {name: app, service: guaranteed, rate: 2Gbit}
  - {name: web, service: controlled-load, rate: 1Gbit, peak: 3Gbit}
  - {name: be, service: best-effort}
flows:
  - {name: app-in, class: app, direction: both, match: {protocol: tcp, dst: 10.0.0.5, dst-port: 8080}}
  - {name: web-in, class: web, direction: ingress, match: {protocol: tcp, dst: "2001:db8::6", dst-port: 443}}
  - {name: udp-in, class: app, direction: ingress, match: {protocol: udp, dst: 10.0.0.5, dst-port: 5000}}
  - {name: net-in, class: web, direction: ingress, match: {protocol: tcp, dst: 10.0.0.0/24, dst-port: 80}}
targets: [{name: nic, kind: nic, interface: qtn5, capacity: 25Gbit}]
`, func(t *testing.T, tp *offload.TargetPlan, st *qtnstate.State) {
		// TC 0 (be) takes 4 of its 6 queues (a power of two), TC 1 the rest.
		if m := st.Mqprio; m == nil || !reflect.DeepEqual(m.Count, []int{4, 7, 5}) || !reflect.DeepEqual(m.MinRate, []uint64{0, 0, 0}) ||
			!reflect.DeepEqual(m.MaxRate, []uint64{0, 375_000_000, 250_000_000}) {
			t.Fatalf("mqprio %+v", st.Mqprio)
		}
		// Two hardware hw_tc rules (TCP to a whole address and port);
		// UDP and a /24 stay off the device, with the plan's reason.
		hw := map[uint32]bool{}
		for _, r := range st.Flower {
			hw[r.ClassID&0xffff-0xffe0] = true
		}
		if len(st.Flower) != 2 || !hw[1] || !hw[2] {
			t.Fatalf("flower rules %+v, want hw_tc 1 and 2", st.Flower)
		}
		for id, why := range map[string]string{"udp-in/ingress/qtn5": "protocol udp", "net-in/ingress/qtn5": "whole addresses only"} {
			for _, r := range tp.Rules {
				if r.ID == id && (r.Where.Placement != offload.Unsupported || !strings.Contains(r.Where.Reason, why)) {
					t.Errorf("%s: %v", id, r.Where)
				}
			}
		}
	}},
	{"qtn6", "bnxt", `
name: bcm
classes:
  - {name: roce, service: guaranteed, rate: 10Gbit, pfc: true, mark: {dscp: 26, pcp: 3}}
  - {name: bulk, service: best-effort}
  - {name: ctl, service: network-control}
flows:
  - {name: bgp, class: ctl, match: {protocol: tcp, dst-port: 179}}
targets: [{name: nic, kind: nic, interface: qtn6, capacity: 25Gbit}]
`, func(t *testing.T, tp *offload.TargetPlan, st *qtnstate.State) {
		// The driver's layout: 8 rings per TC (the channel count), TC i
		// from 8i, no rates; it is what the plan says.
		if m := st.Mqprio; m == nil || !reflect.DeepEqual(m.Count, []int{8, 8, 8}) || !reflect.DeepEqual(m.Offset, []int{0, 8, 16}) ||
			!reflect.DeepEqual(m.MaxRate, []uint64{0, 0, 0}) {
			t.Fatalf("mqprio %+v", st.Mqprio)
		}
		if q := tp.Queues.TCs; q[1].Count != 8 || q[2].Offset != 16 {
			t.Fatalf("plan layout %+v", q)
		}
		// ETS (TC 0 100 %, TCs 1-2 strict) and PFC on priority 3.
		if d := st.DCB; d == nil || d.ETS == nil || d.PFC == nil || d.PFC.PFCEn != 1<<3 || d.ETS.PrioTC[3] != 1 || d.ETS.PrioTC[7] != 2 {
			t.Fatalf("DCB %+v", st.DCB)
		}
	}},
	{"qtn7", "cxgb4", `
name: chelsio
classes:
  - {name: storage, service: controlled-load, rate: 5Gbit, peak: 10Gbit}
  - {name: voice, service: guaranteed, rate: 500Mbit}
  - {name: be, service: best-effort, rate: 1Gbit, peak: 2Gbit}
flows:
  - {name: nvme, class: storage, direction: both, match: {protocol: tcp, dst: 10.40.0.0/24, dst-port: 4420}}
  - {name: rtp, class: voice, direction: ingress, match: {protocol: udp, dst-port: 5004}}
targets: [{name: nic, kind: nic, interface: qtn7, capacity: 25Gbit}]
`, func(t *testing.T, tp *offload.TargetPlan, st *qtnstate.State) {
		// Min and max rates per TC in bytes/s; be (TC 0), storage, voice.
		if m := st.Mqprio; m == nil || !reflect.DeepEqual(m.MinRate, []uint64{125_000_000, 625_000_000, 62_500_000}) ||
			!reflect.DeepEqual(m.MaxRate, []uint64{250_000_000, 1_250_000_000, 62_500_000}) {
			t.Fatalf("mqprio %+v", st.Mqprio)
		}
		// Two ntuple rules with different masks (cxgb4 keeps one per
		// rule), each to its TC's first queue.
		if len(st.Ntuple) != 2 {
			t.Fatalf("ntuple %+v", st.Ntuple)
		}
		for _, r := range st.Ntuple {
			want := map[uint16]int64{4420: int64(tp.Queues.TCs[1].Offset), 5004: int64(tp.Queues.TCs[2].Offset)}[r.DstPort]
			if r.Queue != want || want == 0 {
				t.Errorf("ntuple rule %+v: queue %d, want %d", r, r.Queue, want)
			}
		}
	}},
}

// deviceSnapshot is what a rolled-back apply must leave as it found.
type deviceSnapshot struct {
	Mqprio   *qtnstate.Mqprio
	Flower   int
	Ntuple   int
	DCB      string
	HwTc, NT bool
}

func snapshot(t *testing.T, dev string) deviceSnapshot {
	t.Helper()
	st := mustState(t, dev)
	dcb, err := json.Marshal(st.DCB)
	if err != nil {
		t.Fatal(err)
	}
	// A DCB never set reads as zeros through dcbnl, and a rollback or a
	// remove writes those zeros back: the same values.
	d := strings.NewReplacer(`"ets":null`, `"ets":{"prio_tc":[0,0,0,0,0,0,0,0],"tc_tsa":[0,0,0,0,0,0,0,0],"tc_tx_bw":[0,0,0,0,0,0,0,0]}`,
		`"pfc":null`, `"pfc":{"pfc_en":0,"mbc":0,"delay":0}`).Replace(string(dcb))
	return deviceSnapshot{Mqprio: st.Mqprio, Flower: len(st.Flower), Ntuple: len(st.Ntuple), DCB: d, HwTc: st.HwTcOffload, NT: st.NtupleOn}
}

func TestLabNewProfiles(t *testing.T) {
	for _, pc := range profileLab {
		t.Run(pc.profile, func(t *testing.T) {
			needIface(t, pc.dev)
			ctx := context.Background()
			dir := t.TempDir()
			p, err := model.Parse(pc.profile+".yaml", []byte(pc.policy))
			if err != nil {
				t.Fatal(err)
			}
			owner := "qosplane-" + p.Name
			d := labDriver(t, pc.dev, owner, dir)
			removeAll(t, d)

			// Probe picks the profile by the driver name.
			caps, err := d.Probe(ctx)
			if err != nil || caps.Profile != pc.profile {
				t.Fatalf("probe of %s: %+v, %v; want profile %s", pc.dev, caps, err, pc.profile)
			}
			want, err := offload.CompileTarget(p, &p.Targets[0], caps, p.Order())
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range want.Notes {
				t.Log("plan note:", n)
			}
			empty := snapshot(t, pc.dev)

			// A failure injected at each offload operation rolls back
			// to the empty device; the first n past the last operation
			// applies.
			n := applyFailingEach(t, d, want, 20, func(n int, err error) {
				if !strings.Contains(err.Error(), "rolled back") {
					t.Fatalf("fail_nth %d: %v", n, err)
				}
				if got := snapshot(t, pc.dev); !reflect.DeepEqual(got, empty) {
					t.Fatalf("fail_nth %d: device not rolled back:\n%+v\nwas\n%+v", n, got, empty)
				}
			})
			t.Logf("%s: %d offload operations failed one by one and rolled back; the plan applies", pc.profile, n-1)
			st := mustState(t, pc.dev)
			pc.check(t, want, st)
			m := st.Mqprio
			if m == nil || m.NumTC != want.Queues.NumTC {
				t.Fatalf("mqprio %+v, plan %d TCs", m, want.Queues.NumTC)
			}
			for i, tc := range want.Queues.TCs {
				if m.Count[i] != int(tc.Count) || m.Offset[i] != int(tc.Offset) || m.MaxRate[i] != tc.MaxRate.Bytes() || m.MinRate[i] != tc.MinRate.Bytes() {
					t.Fatalf("TC %d on the device: %d@%d min %d max %d; plan %+v", i, m.Count[i], m.Offset[i], m.MinRate[i], m.MaxRate[i], tc)
				}
			}

			// Read back equals the plan; a re-apply makes no writes.
			assertConverged(t, d, want)
			w := d.Writes()
			if ops := converge(t, d, want); len(ops) != 0 || d.Writes() != w {
				t.Fatalf("re-apply: %d ops, %d writes", len(ops), d.Writes()-w)
			}

			// Restart with the state file (the agent's restart): no ops,
			// no writes; its remove puts the device back as it was.
			d1 := labDriver(t, pc.dev, owner, dir)
			w = d1.Writes()
			if ops := converge(t, d1, want); len(ops) != 0 || d1.Writes() != w {
				t.Fatalf("restart: %d ops, %d writes", len(ops), d1.Writes()-w)
			}
			if err := d1.Remove(ctx); err != nil {
				t.Fatal(err)
			}
			if got := snapshot(t, pc.dev); !reflect.DeepEqual(got, empty) {
				t.Fatalf("after remove:\n%+v\nwas\n%+v", got, empty)
			}
			converge(t, d1, want)

			// Restart without the state file: a driver given the plan
			// adopts what is on the device, without writes.
			if err := os.Remove(filepath.Join(dir, "nic-"+owner+"@"+pc.dev+".json")); err != nil {
				t.Fatal(err)
			}
			d2 := labDriver(t, pc.dev, owner, dir)
			if _, err := d2.Probe(ctx); err != nil {
				t.Fatal(err)
			}
			d2.Reference(want)
			w = d2.Writes()
			cur, err := d2.Current(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ops := offload.Diff(cur, want)
			notInstalled := map[string]bool{}
			for _, r := range want.Rules {
				notInstalled[r.ID] = r.Where.Placement == offload.Unsupported
			}
			for _, op := range ops {
				if op.Object != offload.ObjClass && !(op.Object == offload.ObjRule && notInstalled[op.ID]) {
					t.Fatalf("after restart: op %s %s %q; only classes and unsupported rules (recorded, not installed) may differ", op.Kind, op.Object, op.ID)
				}
			}
			if err := d2.Apply(ctx, want, ops); err != nil || d2.Writes() != w {
				t.Fatalf("restart: %v, %d writes", err, d2.Writes()-w)
			}
			assertConverged(t, d2, want)

			// Remove takes everything off; the DCB settings from before
			// qosplane went with the state file, so an adopted DCB stays
			// as it is (with its file, remove restores them: above).
			if err := d2.Remove(ctx); err != nil {
				t.Fatal(err)
			}
			got := snapshot(t, pc.dev)
			if got.Mqprio != nil || got.Flower != 0 || got.Ntuple != 0 || (want.DCB == nil) != (got.DCB == empty.DCB) {
				t.Fatalf("after remove: %+v, was %+v", got, empty)
			}
		})
	}
}
