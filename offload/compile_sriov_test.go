package offload

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
)

const sriovPolicy = `
name: vfs
classes:
  - {name: gold, service: guaranteed, rate: 2Gbit}
  - {name: bulk, service: best-effort, rate: 100Mbit}
targets:
  - name: pf
    kind: nic
    interface: eth0
    capacity: 25Gbit
    sriov:
      mode: MODE
      GROUPS
      vfs:
        - {vfs: 0-1, class: gold, vlan: 100, qos: 5, trust: true GROUP}
        - {vfs: 2, min: 2500kbit, max: 7.4Mbit}
        - {vfs: 3, max: 30Gbit}
`

func sriovPlan(t *testing.T, mode, prof string) *TargetPlan {
	t.Helper()
	src := strings.ReplaceAll(sriovPolicy, "MODE", mode)
	if mode == "switchdev" {
		src = strings.ReplaceAll(src, "GROUPS", "groups: [{name: tenants, min: 1Gbit, max: 10Gbit}]")
		src = strings.ReplaceAll(src, " GROUP}", ", group: tenants}")
	} else {
		src = strings.ReplaceAll(src, "GROUPS", "")
		src = strings.ReplaceAll(src, " GROUP}", "}")
	}
	return compileWith(t, parse(t, src), profile(t, prof)).Targets[0]
}

// Legacy mode: whole Mbit/s (IFLA_VF_RATE), rounding and the link's clamp
// noted, VLAN with PCP and trust carried.
func TestSRIOVLegacy(t *testing.T) {
	tp := sriovPlan(t, "legacy", "mlx5-nic")
	sp := tp.SRIOV
	if sp == nil || sp.Mode != "legacy" || sp.Where.Placement != Hardware || len(sp.VFs) != 4 {
		t.Fatalf("sriov plan = %+v", sp)
	}
	tr := true
	want := []VFPlan{
		{VF: 0, Class: "gold", Min: 2e9, Max: 2e9, VLAN: 100, QoS: 5, Trust: &tr, Where: Where{Placement: Hardware}},
		{VF: 1, Class: "gold", Min: 2e9, Max: 2e9, VLAN: 100, QoS: 5, Trust: &tr, Where: Where{Placement: Hardware}},
		{VF: 2, Min: 3e6, Max: 7e6, Where: Where{Placement: Hardware}},
		{VF: 3, Max: 25e9, Where: Where{Placement: Hardware}},
	}
	for i, w := range want {
		g := sp.VFs[i]
		if g.VF != w.VF || g.Class != w.Class || g.Min != w.Min || g.Max != w.Max || g.VLAN != w.VLAN || g.QoS != w.QoS ||
			(g.Trust == nil) != (w.Trust == nil) || g.Where != w.Where {
			t.Errorf("VF %d = %+v, want %+v", i, g, w)
		}
	}
	for _, n := range []string{"VF 2: min 2.5Mbit rounded to 3Mbit", "VF 2: max 7.4Mbit rounded to 7Mbit", "VF 3: max 30Gbit rounded to 25Gbit"} {
		if !hasNote(tp, n) {
			t.Errorf("no note %q in %q", n, tp.Notes)
		}
	}
	var b bytes.Buffer
	if err := (&Plan{Targets: []*TargetPlan{tp}}).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sriov: legacy mode, 4 VFs, hardware", "100/5", "summary: 5 hardware"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("plan text lacks %q:\n%s", s, b.String())
		}
	}
}

// Switchdev mode: devlink rate groups; a VF VLAN is not a switchdev-mode
// setting and is left out with the reason; the rest is carried.
func TestSRIOVSwitchdev(t *testing.T) {
	tp := sriovPlan(t, "switchdev", "mlx5-switchdev")
	sp := tp.SRIOV
	if len(sp.Groups) != 1 || sp.Groups[0] != (VFGroupPlan{Name: "tenants", Min: 1e9, Max: 10e9}) {
		t.Fatalf("groups = %+v", sp.Groups)
	}
	v := sp.VFs[0]
	if v.Group != "tenants" || v.VLAN != 0 || v.Trust != nil || v.Min != 2e9 || v.Where.Placement != Hardware {
		t.Errorf("VF 0 = %+v", v)
	}
	if !hasNote(tp, "VF 0: not in hardware: vlan 100 qos 5") || !hasNote(tp, "trust (profile mlx5-switchdev cannot set it)") {
		t.Errorf("notes = %q", tp.Notes)
	}
}

// A profile without SR-IOV QoS, or without the policy's mode, carries none
// of it and says why.
func TestSRIOVUnsupported(t *testing.T) {
	for _, c := range []struct{ mode, prof, why string }{
		{"legacy", "mlx5-switchdev", "profile mlx5-switchdev has no SR-IOV legacy mode"},
		{"legacy", "none", "profile none has no SR-IOV QoS"},
	} {
		tp := sriovPlan(t, c.mode, c.prof)
		if tp.SRIOV.Where.Placement != Unsupported || !strings.Contains(tp.SRIOV.Where.Reason, c.why) {
			t.Errorf("%s on %s: %+v", c.mode, c.prof, tp.SRIOV.Where)
		}
		for _, v := range tp.SRIOV.VFs {
			if v.Where.Placement != Unsupported {
				t.Errorf("%s on %s: VF %d placed %v", c.mode, c.prof, v.VF, v.Where)
			}
		}
	}
}

// Admission against the probed link counts every VF of a range.
func TestSRIOVAdmission(t *testing.T) {
	p := parse(t, strings.NewReplacer("MODE", "legacy", "GROUPS", "", " GROUP}", "}", "capacity: 25Gbit", "").Replace(sriovPolicy))
	c := profile(t, "mlx5-nic")
	c.LinkSpeed = 4e9 // two gold VFs need 4 Gbit/s plus VF 2's 2.5 Mbit/s
	_, err := Compile(p, func(*model.Target) (*Capabilities, error) { return c, nil })
	if err == nil || !strings.Contains(err.Error(), "minimum shares of 4 VFs add up to 4002.5Mbit") {
		t.Fatalf("compile: %v", err)
	}
}
