package offload

import (
	"strings"
	"testing"
)

// Groups come first and go last; VFs are diffed by index on what the
// device holds; VFs not in hardware are not the device's; a mode change
// deletes the old mode's objects and adds the new.
func TestDiffSRIOV(t *testing.T) {
	hw := Where{Placement: Hardware}
	cur := &TargetPlan{SRIOV: &SRIOVPlan{Mode: "switchdev", Where: hw,
		Groups: []VFGroupPlan{{Name: "old", Max: 1e9}, {Name: "g", Max: 1e9}},
		VFs:    []VFPlan{{VF: 0, Max: 1e8, Group: "old", Where: hw}, {VF: 1, Max: 1e8, Where: hw}, {VF: 2, Max: 1e8, Class: "a", Where: hw}}}}
	want := &TargetPlan{SRIOV: &SRIOVPlan{Mode: "switchdev", Where: hw,
		Groups: []VFGroupPlan{{Name: "g", Max: 2e9}, {Name: "new"}},
		VFs: []VFPlan{{VF: 1, Max: 2e8, Group: "new", Where: hw}, {VF: 2, Max: 1e8, Class: "b", Where: hw},
			{VF: 3, Max: 1e8, Where: hw}, {VF: 4, Where: Where{Placement: Unsupported}}}}}
	got := opsString(Diff(cur, want))
	const exp = "change vf-group g\nadd vf-group new\ndelete vf vf 0\nchange vf vf 1\nadd vf vf 3\ndelete vf-group old"
	if got != exp {
		t.Errorf("ops:\n got %s\nwant %s", got, exp)
	}
	if ops := Diff(want, want); len(ops) != 0 {
		t.Errorf("equal plans: %s", opsString(ops))
	}
	legacy := &TargetPlan{SRIOV: &SRIOVPlan{Mode: "legacy", Where: hw, VFs: []VFPlan{{VF: 1, Max: 2e8, Where: hw}}}}
	got = opsString(Diff(cur, legacy))
	if !strings.HasPrefix(got, "delete vf vf 0\ndelete vf vf 1\ndelete vf vf 2\ndelete vf-group old\ndelete vf-group g\nadd vf vf 1") {
		t.Errorf("mode change: %s", got)
	}
}
