package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/offload"
)

// The VM has no source tree: the examples are copied into testdata. This
// test (run on the host, where the tree exists) keeps the copies current.
func TestExampleCopiesCurrent(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "examples")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Skipf("no source tree here (inside the VM): %v", err)
	}
	for _, e := range ents {
		a, _ := os.ReadFile(filepath.Join(src, e.Name()))
		b, err := os.ReadFile(filepath.Join("testdata", "examples", e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("testdata/examples/%s differs from examples/%s: cp examples/*.yaml e2e/kernel/testdata/examples/", e.Name(), e.Name())
		}
	}
}

// checkInstalled compares the device with the plan: the module's mqprio
// record with the queue layout, and iproute2's filter dump with the rules
// (every hardware/software rule has a filter at its pref with the right
// skip flag and a cookie carrying its fingerprint; nothing else of ours).
func checkInstalled(t *testing.T, tp *offload.TargetPlan) {
	t.Helper()
	dev := tp.Device.Interface
	s, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	if q := tp.Queues; q != nil {
		m := s.Mqprio
		if m == nil || m.NumTC != q.NumTC || m.Mode != "channel" || m.Shaper != "bw_rlimit" {
			t.Fatalf("module mqprio %+v, plan %d TCs", m, q.NumTC)
		}
		for i, tc := range q.TCs {
			if m.Count[i] != int(tc.Count) || m.Offset[i] != int(tc.Offset) || m.MaxRate[i] != tc.MaxRate.Bytes() || m.MinRate[i] != tc.MinRate.Bytes() {
				t.Fatalf("TC %d: module count %d offset %d max %d min %d; plan %+v", i, m.Count[i], m.Offset[i], m.MaxRate[i], m.MinRate[i], tc)
			}
		}
		for p := range 16 {
			if m.PrioTCMap[p] != int(q.PrioTC[p]) {
				t.Fatalf("prio %d -> TC %d, plan %d", p, m.PrioTCMap[p], q.PrioTC[p])
			}
		}
	}
	type loc struct{ dev, hook string }
	dumps := make(map[loc][]map[string]any)
	get := func(dev, hook string) []map[string]any {
		k := loc{dev, hook}
		if _, ok := dumps[k]; !ok {
			dumps[k] = filters(t, dev, hook)
		}
		return dumps[k]
	}
	installed, ntuple := 0, 0
	for _, r := range tp.Rules {
		if r.Where.Placement != offload.Hardware && r.Where.Placement != offload.Software {
			continue
		}
		installed++
		if len(r.Actions) == 1 && r.Actions[0].Kind == offload.SteerQueue {
			// An ethtool ntuple rule, not a filter: counted below.
			ntuple++
			continue
		}
		hook := "ingress"
		if r.Direction == offload.OnEgress {
			hook = "egress"
		}
		fp := offload.RuleFingerprint(&r)
		found := 0
		for _, f := range get(r.Device, hook) {
			if fmt.Sprint(f["pref"]) != fmt.Sprint(r.Precedence) {
				continue
			}
			if len(r.Actions) == 1 && r.Actions[0].Kind == offload.SteerTC {
				// A hw_tc steering rule has no action to carry a
				// cookie: the filter at its pref with its hw_tc.
				if o, _ := f["options"].(map[string]any); fmt.Sprint(o["hw_tc"]) != fmt.Sprint(r.Actions[0].TC) {
					continue
				}
			} else if !slices.ContainsFunc(cookies(f), func(c string) bool { return strings.HasSuffix(c, fp) }) {
				continue
			}
			found++
			o := f["options"].(map[string]any)
			if r.Where.Placement == offload.Hardware && (o["skip_sw"] != true || o["in_hw"] != true) {
				t.Errorf("rule %s: hardware rule not skip_sw/in_hw: %v", r.ID, o)
			}
			if r.Where.Placement == offload.Software && o["skip_hw"] != true {
				t.Errorf("rule %s: software rule not skip_hw: %v", r.ID, o)
			}
		}
		if found == 0 {
			t.Errorf("rule %s (%s %s pref %d, %s): no filter with its cookie", r.ID, r.Device, hook, r.Precedence, r.Where.Placement)
		}
	}
	if len(s.Ntuple) != ntuple {
		t.Errorf("%d ethtool ntuple rules on the device, %d in the plan", len(s.Ntuple), ntuple)
	}
	t.Logf("%s: %d rules installed (%d in the plan), %d module flower rules, %d ntuple rules", dev, installed, len(tp.Rules), len(s.Flower), len(s.Ntuple))
}

func TestExampleHostOnMlx5NIC(t *testing.T) {
	const dev = "qtn0"
	needIface(t, dev)
	var d *nic.Driver
	tp, caps := compileFor(t, "host.yaml", dev, nil, &d, t.TempDir())
	cleanupRemove(t, d)
	if caps.Profile != "mlx5-nic" {
		t.Fatalf("probed profile %q, want mlx5-nic", caps.Profile)
	}
	for _, n := range tp.Notes {
		t.Log("plan note:", n)
	}
	ops, err := apply(d, tp)
	if err != nil {
		t.Fatalf("apply %d ops: %v", len(ops), err)
	}
	checkInstalled(t, tp)
	assertConverged(t, d, tp)
	if tp.DCB == nil {
		t.Fatal("host.yaml on mlx5-nic plans DCB (PFC and RoCE classes); the plan has none")
	}
	{
		s, _ := qtnstate.Read(dev)
		if s.DCB == nil || s.DCB.ETS == nil || s.DCB.PFC == nil {
			t.Fatalf("module DCB %+v", s.DCB)
		}
		for p := range 8 {
			if s.DCB.ETS.PrioTC[p] != int(tp.DCB.PrioTC[p]) {
				t.Fatalf("DCB prio %d -> TC %d, plan %d", p, s.DCB.ETS.PrioTC[p], tp.DCB.PrioTC[p])
			}
		}
		var pfc int
		for _, p := range tp.DCB.PFC {
			pfc |= 1 << p
		}
		if s.DCB.PFC.PFCEn != pfc || len(s.DCB.App) != len(tp.DCB.App) {
			t.Fatalf("DCB pfc_en %#x app %v; plan %#x %v", s.DCB.PFC.PFCEn, s.DCB.App, pfc, tp.DCB.App)
		}
		for tc, r := range tp.DCB.MaxRate {
			if s.DCB.MaxRateKbps[tc] != r/1000 {
				t.Fatalf("DCB maxrate TC %d: %d kbit/s, plan %d bit/s", tc, s.DCB.MaxRateKbps[tc], r)
			}
		}
	}
	if err := d.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, _ := qtnstate.Read(dev)
	if s.Mqprio != nil || len(s.Flower) != 0 || len(filters(t, dev, "egress")) != 0 {
		t.Fatalf("after remove: mqprio %+v, %d hw rules", s.Mqprio, len(s.Flower))
	}
}

// TestExampleHostOnIceRefusal: host.yaml on ice either fits (the compiler
// drops min rates whose sum exceeds the probed 25 Gbit/s link, which ice
// refuses) and is checked like the others, or is refused and leaves
// nothing behind.
func TestExampleHostOnIceRefusal(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	var d *nic.Driver
	tp, caps := compileFor(t, "host.yaml", dev, nil, &d, t.TempDir())
	cleanupRemove(t, d)
	if caps.Profile != "ice" {
		t.Fatalf("probed profile %q", caps.Profile)
	}
	ops, err := apply(d, tp)
	if err == nil {
		// The plan fits this device: check it like the others.
		checkInstalled(t, tp)
		assertConverged(t, d, tp)
		return
	}
	// A plan the device refuses: nothing may be left, the caller re-plans.
	t.Logf("apply %d ops refused as expected: %v", len(ops), err)
	if !errors.Is(err, offload.ErrRefused) {
		t.Fatalf("want offload.ErrRefused, got %v", err)
	}
	s, _ := qtnstate.Read(dev)
	if s.Mqprio != nil || len(s.Flower) != 0 || len(filters(t, dev, "egress")) != 0 || len(filters(t, dev, "ingress")) != 0 {
		t.Fatalf("refusal left state: mqprio %+v flower %d", s.Mqprio, len(s.Flower))
	}
	if s.LastError != nil {
		t.Logf("device said: %s: %s (%s)", s.LastError.Op, s.LastError.Msg, s.LastError.Detail)
	}
}

func TestExampleHostOnSwitchdev(t *testing.T) {
	const dev = "qtn2"
	reps := []string{"qtn2r0", "qtn2r1"}
	needIface(t, append([]string{dev}, reps...)...)
	var d *nic.Driver
	tp, caps := compileFor(t, "host.yaml", dev, reps, &d, t.TempDir())
	cleanupRemove(t, d)
	if caps.Profile != "mlx5-switchdev" {
		t.Fatalf("probed profile %q, want mlx5-switchdev", caps.Profile)
	}
	nrep := 0
	for _, r := range tp.Rules {
		if r.Direction == offload.OnRepresentor && r.Where.Placement == offload.Hardware {
			nrep++
		}
	}
	if nrep == 0 {
		t.Fatal("no hardware representor rules in the plan")
	}
	ops, err := apply(d, tp)
	if err != nil {
		if !errors.Is(err, offload.ErrRefused) {
			t.Fatalf("apply %d ops: %v", len(ops), err)
		}
		// Refused: nothing may be left; then take the refused rules to
		// software (what a re-plan does) and apply again.
		t.Logf("device refused part of the plan (re-planning): %v", err)
		for _, rep := range append([]string{dev}, reps...) {
			if n := len(filters(t, rep, "ingress")); n != 0 {
				t.Fatalf("%s: %d filters left after refusal", rep, n)
			}
		}
		for i := range tp.Rules {
			r := &tp.Rules[i]
			if r.Direction == offload.OnRepresentor && r.Where.Placement == offload.Hardware && hasPeakMeter(r) {
				r.Where = offload.Where{Placement: offload.Software, Reason: "device refused: no peak rate in hardware meters"}
			}
		}
		if ops, err = apply(d, tp); err != nil {
			t.Fatalf("re-planned apply %d ops: %v", len(ops), err)
		}
	}
	checkInstalled(t, tp)
	assertConverged(t, d, tp)
	for _, rep := range reps {
		s, err := qtnstate.Read(rep)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]bool{}
		for _, fr := range s.Flower {
			for _, a := range fr.Actions {
				kinds[a.ID()] = true
			}
		}
		t.Logf("%s: %d hardware rules, action kinds %v", rep, len(s.Flower), kinds)
		wantPolice := false
		for _, r := range tp.Rules {
			if r.Device == rep && r.Where.Placement == offload.Hardware {
				for _, a := range r.Actions {
					wantPolice = wantPolice || a.Kind == offload.Police
				}
			}
		}
		if len(s.Flower) == 0 || kinds["police"] != wantPolice || !kinds["priority"] || !kinds["pedit"] || !kinds["csum"] {
			t.Errorf("%s: hardware actions %v (police expected: %v)", rep, kinds, wantPolice)
		}
	}
}

func hasPeakMeter(r *offload.Rule) bool {
	for _, a := range r.Actions {
		if a.Kind == offload.Police && a.Peak != 0 {
			return true
		}
	}
	return false
}

// host.yaml on the ixgbe, i40e, bnxt and cxgb4 test netdevs (qtn3, qtn5-7, which refuse
// what those drivers refuse in Linux 6.1), each probed by its driver name:
// applied, the device holds the plan and reads back equal, a re-apply and a
// restarted driver make no writes, remove clears it.
func TestExampleHostOnNewProfiles(t *testing.T) {
	for _, c := range []struct{ dev, profile string }{{"qtn3", "ixgbe"}, {"qtn5", "i40e"}, {"qtn6", "bnxt"}, {"qtn7", "cxgb4"}} {
		t.Run(c.profile, func(t *testing.T) {
			needIface(t, c.dev)
			dir := t.TempDir()
			var d *nic.Driver
			tp, caps := compileFor(t, "host.yaml", c.dev, nil, &d, dir)
			cleanupRemove(t, d)
			if caps.Profile != c.profile {
				t.Fatalf("probed profile %q, want %s", caps.Profile, c.profile)
			}
			for _, n := range tp.Notes {
				t.Log("plan note:", n)
			}
			if ops, err := apply(d, tp); err != nil {
				t.Fatalf("apply %d ops: %v", len(ops), err)
			}
			checkInstalled(t, tp)
			assertConverged(t, d, tp)
			if c.profile == "bnxt" {
				s, _ := qtnstate.Read(c.dev)
				if tp.DCB == nil || s.DCB == nil || s.DCB.PFC == nil || s.DCB.PFC.PFCEn != 1<<3 {
					t.Fatalf("bnxt DCB: plan %+v, device %+v", tp.DCB, s.DCB)
				}
			}
			w := d.Writes()
			if ops, err := apply(d, tp); err != nil || len(ops) != 0 || d.Writes() != w {
				t.Fatalf("re-apply: %d ops, %d writes, %v", len(ops), d.Writes()-w, err)
			}
			var d2 *nic.Driver
			tp2, _ := compileFor(t, "host.yaml", c.dev, nil, &d2, dir)
			if ops, err := apply(d2, tp2); err != nil || len(ops) != 0 || d2.Writes() != 0 {
				t.Fatalf("restarted driver: %d ops, %d writes, %v", len(ops), d2.Writes(), err)
			}
			if err := d2.Remove(t.Context()); err != nil {
				t.Fatal(err)
			}
			s, _ := qtnstate.Read(c.dev)
			if s.Mqprio != nil || len(s.Flower) != 0 || len(s.Ntuple) != 0 || len(filters(t, c.dev, "egress")) != 0 {
				t.Fatalf("after remove: mqprio %+v, %d flower, %d ntuple", s.Mqprio, len(s.Flower), len(s.Ntuple))
			}
		})
	}
}
