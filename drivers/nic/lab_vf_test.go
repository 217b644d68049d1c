package nic

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/nsim"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// vfPlan compiles policy src for the netdevsim PF pf with profile prof and
// keeps its SR-IOV part (netdevsim has no mqprio or flower offload).
func vfPlan(t *testing.T, src, pf, prof string) *offload.TargetPlan {
	t.Helper()
	p, err := model.Parse("vf.yaml", []byte(strings.ReplaceAll(src, "PF", pf)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := offload.LoadProfile(prof)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := offload.CompileTarget(p, &p.Targets[0], c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tp.SRIOV == nil || tp.SRIOV.Where.Placement != offload.Hardware {
		t.Fatalf("plan has no SR-IOV part in hardware: %+v", tp.SRIOV)
	}
	return &offload.TargetPlan{Target: tp.Target, Kind: tp.Kind, Owner: tp.Owner, Profile: tp.Profile, Device: tp.Device,
		Classes: []offload.ClassPlan{}, Rules: []offload.Rule{}, SRIOV: tp.SRIOV}
}

// nsimPF makes netdevsim device id with vfs VFs (switchdev mode if asked)
// and returns it with its PF netdev.
func nsimPF(t *testing.T, id, vfs int, switchdev bool) (*nsim.Dev, string) {
	t.Helper()
	d := labtest.NeedNetdevsim(t, id, 1)
	nd, err := d.Netdevs()
	if err != nil || len(nd) != 1 {
		t.Fatalf("netdevs of %s: %v %v", d.Name(), nd, err)
	}
	if vfs > nsim.DefaultMaxVFs {
		if err := d.SetMaxVFs(vfs); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetVFs(vfs); err != nil {
		t.Fatal(err)
	}
	if switchdev {
		labtest.Run(t, labtest.DevlinkPath(), "dev", "eswitch", "set", d.Handle(), "mode", "switchdev")
	}
	return d, nd[0]
}

// vfRow is what a legacy VF table entry holds of QoS (rates in Mbit/s).
type vfRow struct {
	Vlan, Qos                   int
	MinTxRate, MaxTxRate, Trust uint32
}

func vfTable(t *testing.T, pf string) map[int]vfRow {
	t.Helper()
	l, err := netlink.LinkByName(pf)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]vfRow{}
	for _, v := range l.Attrs().Vfs {
		out[v.ID] = vfRow{Vlan: v.Vlan, Qos: v.Qos, MinTxRate: v.MinTxRate, MaxTxRate: v.MaxTxRate, Trust: v.Trust}
	}
	return out
}

const legacyPolicy = `
name: vfs
classes:
  - {name: gold, service: guaranteed, rate: 1Gbit}
targets:
  - name: pf
    kind: nic
    interface: PF
    capacity: 10Gbit
    sriov:
      vfs:
        - {vfs: 0-1, class: gold, vlan: 100, qos: 5, trust: true}
        - {vfs: 3, min: 99.6Mbit, max: 500Mbit}
`

// Legacy mode: VF rates (whole Mbit/s), VLAN with PCP and trust read back
// through IFLA_VFINFO_LIST; re-apply and a restarted driver make 0 writes;
// a failure at a later VF rolls the earlier ones back; removal restores.
func TestLabVFLegacy(t *testing.T) {
	_, pf := nsimPF(t, 41, 4, false)
	dir := t.TempDir()
	d := labDriver(t, pf, "qosplane-vfs", dir)
	removeAll(t, d)
	before := vfTable(t, pf)
	want := vfPlan(t, legacyPolicy, pf, "mlx5-nic")
	if ops := converge(t, d, want); len(ops) != 3 {
		t.Fatalf("%d ops, want 3 (one per VF)", len(ops))
	}
	got := vfTable(t, pf)
	for _, n := range []int{0, 1} {
		if v := got[n]; v.MinTxRate != 1000 || v.MaxTxRate != 1000 || v.Vlan != 100 || v.Qos != 5 || v.Trust != 1 {
			t.Errorf("VF %d = %+v, want min/max 1000 Mbit/s vlan 100 qos 5 trust on", n, v)
		}
	}
	if v := got[3]; v.MinTxRate != 100 || v.MaxTxRate != 500 || v.Vlan != 0 {
		t.Errorf("VF 3 = %+v, want min 100 (99.6 rounded) max 500", v)
	}
	if got[2] != before[2] {
		t.Errorf("VF 2 changed: %+v -> %+v", before[2], got[2])
	}
	if out := labtest.Run(t, "/usr/sbin/ip", "link", "show", pf); !strings.Contains(out, "vf 0") || !strings.Contains(out, "vlan 100, qos 5") {
		t.Errorf("ip link show %s:\n%s", pf, out)
	}
	w := d.Writes()
	assertConverged(t, d, want)
	if ops := converge(t, d, want); len(ops) != 0 || d.Writes() != w {
		t.Errorf("re-apply: %d ops, %d writes", len(ops), d.Writes()-w)
	}
	d2 := labDriver(t, pf, "qosplane-vfs", dir)
	assertConverged(t, d2, want)

	// Drift: a VF changed behind qosplane's back is put right.
	labtest.Run(t, "/usr/sbin/ip", "link", "set", pf, "vf", "1", "min_tx_rate", "7")
	if ops := converge(t, d, want); len(ops) != 1 || vfTable(t, pf)[1].MinTxRate != 1000 {
		t.Errorf("drift: %d ops, VF 1 %+v", len(ops), vfTable(t, pf)[1])
	}

	// A refused VF (netdevsim takes qos 0-7) after an accepted one: both
	// stay as they were.
	bad := vfPlan(t, legacyPolicy, pf, "mlx5-nic")
	bad.SRIOV.VFs[0].Max, bad.SRIOV.VFs[0].Min = 2_000_000_000, 0
	bad.SRIOV.VFs[2].QoS = 9
	mid := vfTable(t, pf)
	cur, err := d.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = d.Apply(context.Background(), bad, offload.Diff(cur, bad))
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("apply with a refused VF: %v", err)
	}
	t.Logf("refused: %v", err)
	if after := vfTable(t, pf); !sameVFs(after, mid) {
		t.Errorf("after the rollback: %+v, want %+v", after, mid)
	}
	assertConverged(t, d, want)

	// A restart that lost the state file (/run) adopts the VFs the device
	// holds as planned: no ops, no writes; Remove then clears them.
	if err := os.Remove(d.path); err != nil {
		t.Fatal(err)
	}
	d3 := labDriver(t, pf, "qosplane-vfs", dir)
	d3.Reference(want)
	assertConverged(t, d3, want)
	if ops := converge(t, d3, want); len(ops) != 0 || d3.Writes() != 0 {
		t.Errorf("apply after adoption: %d ops, %d writes", len(ops), d3.Writes())
	}
	if err := d3.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := vfTable(t, pf); !sameVFs(after, before) {
		t.Errorf("after remove: %+v, want %+v", after, before)
	}
}

func sameVFs(a, b map[int]vfRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

const switchdevPolicy = `
name: vfs
classes:
  - {name: bulk, service: best-effort, rate: 50Mbit, peak: 500Mbit}
targets:
  - name: pf
    kind: nic
    interface: PF
    capacity: 5Gbit
    sriov:
      mode: switchdev
      groups:
        - {name: g1, min: 100Mbit, max: 2Gbit}
        - {name: g2, max: G2MAX}
      vfs:
        - {vfs: 0-1, class: bulk, group: g1}
        - {vfs: 2, max: 300Mbit, group: g2}
        - {vfs: 3, max: VF3MAX, group: VF3GROUP}
`

func switchdevWant(t *testing.T, pf, g2max, vf3max, vf3group string) *offload.TargetPlan {
	return vfPlan(t, strings.NewReplacer("G2MAX", g2max, "VF3MAX", vf3max, "VF3GROUP", vf3group).Replace(switchdevPolicy), pf, "mlx5-switchdev")
}

// Switchdev mode: groups and leaves through devlink rate, read back from
// netdevsim's debugfs; moving a VF to another group (noparent first);
// re-apply and restart make 0 writes; a refusal rolls back; removal.
func TestLabVFSwitchdev(t *testing.T) {
	ns, pf := nsimPF(t, 42, 4, true)
	dir := t.TempDir()
	d := labDriver(t, pf, "qosplane-vfs", dir)
	removeAll(t, d)
	want := switchdevWant(t, pf, "1Gbit", "100Mbit", "g1")
	converge(t, d, want)
	check := func(want nsim.Rates) {
		t.Helper()
		got, err := ns.ReadRates()
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(want) {
			t.Fatalf("debugfs = %+v\nwant %+v", got, want)
		}
	}
	check(nsim.Rates{
		Leaves: map[int]nsim.Rate{0: {TxShareMbit: 50, TxMaxMbit: 500, Parent: "g1"}, 1: {TxShareMbit: 50, TxMaxMbit: 500, Parent: "g1"},
			2: {TxMaxMbit: 300, Parent: "g2"}, 3: {TxMaxMbit: 100, Parent: "g1"}},
		Nodes: map[string]nsim.Rate{"g1": {TxShareMbit: 100, TxMaxMbit: 2000}, "g2": {TxMaxMbit: 1000}},
	})
	w := d.Writes()
	if ops := converge(t, d, want); len(ops) != 0 || d.Writes() != w {
		t.Errorf("re-apply: %d ops, %d writes", len(ops), d.Writes()-w)
	}
	assertConverged(t, labDriver(t, pf, "qosplane-vfs", dir), want)

	// VF 3 moves from g1 to g2 (the core wants noparent first), g2 grows.
	want = switchdevWant(t, pf, "1500Mbit", "200Mbit", "g2")
	if ops := converge(t, d, want); len(ops) != 2 {
		t.Errorf("move: %d ops, want 2 (group g2, VF 3)", len(ops))
	}
	moved := nsim.Rates{
		Leaves: map[int]nsim.Rate{0: {TxShareMbit: 50, TxMaxMbit: 500, Parent: "g1"}, 1: {TxShareMbit: 50, TxMaxMbit: 500, Parent: "g1"},
			2: {TxMaxMbit: 300, Parent: "g2"}, 3: {TxMaxMbit: 200, Parent: "g2"}},
		Nodes: map[string]nsim.Rate{"g1": {TxShareMbit: 100, TxMaxMbit: 2000}, "g2": {TxMaxMbit: 1500}},
	}
	check(moved)

	// netdevsim refuses VF 3 above 5000 Mbit/s after g2 changed: all back.
	bad := switchdevWant(t, pf, "800Mbit", "200Mbit", "g1")
	bad.SRIOV.VFs[3].Max = 6_000_000_000
	cur, err := d.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = d.Apply(context.Background(), bad, offload.Diff(cur, bad))
	if err == nil || !strings.Contains(err.Error(), "5000Mbps") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("apply above netdevsim's 5000 Mbit/s: %v", err)
	}
	t.Logf("refused: %v", err)
	check(moved)
	assertConverged(t, d, want)

	if err := d.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(nsim.Rates{Leaves: map[int]nsim.Rate{0: {}, 1: {}, 2: {}, 3: {}}, Nodes: map[string]nsim.Rate{}})
}
