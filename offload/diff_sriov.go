package offload

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// diffSRIOV appends the VF and rate group operations from cur to want:
// groups that come or change first (VFs join them), then VF deletes,
// changes and adds by index, then groups that go (after their members
// left). Only VFs placed in hardware are the device's. A change of mode
// deletes everything of the old mode and adds the new.
func diffSRIOV(ops []Op, cur, want *SRIOVPlan) []Op {
	curMode, wantMode := "", ""
	var curVFs, wantVFs map[int]*VFPlan
	var curGroups, wantGroups []VFGroupPlan
	if cur != nil {
		curMode, curVFs, curGroups = cur.Mode, hwVFs(cur), cur.Groups
	}
	if want != nil {
		wantMode, wantVFs, wantGroups = want.Mode, hwVFs(want), want.Groups
	}
	if curMode != wantMode && cur != nil && want != nil {
		ops = diffSRIOV(ops, cur, nil)
		return diffSRIOV(ops, nil, want)
	}
	cg := map[string]*VFGroupPlan{}
	for i := range curGroups {
		cg[curGroups[i].Name] = &curGroups[i]
	}
	wg := map[string]*VFGroupPlan{}
	for i := range wantGroups {
		wg[wantGroups[i].Name] = &wantGroups[i]
	}
	for i := range wantGroups {
		w := &wantGroups[i]
		if c, ok := cg[w.Name]; !ok {
			ops = append(ops, Op{Kind: Add, Object: ObjVFGroup, ID: w.Name, NewVFGroup: w, SRIOVMode: wantMode})
		} else if *c != *w {
			ops = append(ops, Op{Kind: Change, Object: ObjVFGroup, ID: w.Name, OldVFGroup: c, NewVFGroup: w, SRIOVMode: wantMode})
		}
	}
	for _, n := range sortedVFs(curVFs) {
		if _, ok := wantVFs[n]; !ok {
			ops = append(ops, Op{Kind: Delete, Object: ObjVF, ID: vfID(n), OldVF: curVFs[n], SRIOVMode: curMode})
		}
	}
	for _, n := range sortedVFs(wantVFs) {
		w := wantVFs[n]
		if c, ok := curVFs[n]; !ok {
			ops = append(ops, Op{Kind: Add, Object: ObjVF, ID: vfID(n), NewVF: w, SRIOVMode: wantMode})
		} else if !c.SameOnDevice(w) {
			ops = append(ops, Op{Kind: Change, Object: ObjVF, ID: vfID(n), OldVF: c, NewVF: w, SRIOVMode: wantMode})
		}
	}
	for i := range curGroups {
		c := &curGroups[i]
		if _, ok := wg[c.Name]; !ok {
			ops = append(ops, Op{Kind: Delete, Object: ObjVFGroup, ID: c.Name, OldVFGroup: c, SRIOVMode: curMode})
		}
	}
	return ops
}

func vfID(n int) string { return "vf " + strconv.Itoa(n) }

// SameOnDevice compares what the device holds of two VF plans: limits,
// group, VLAN and PCP, trust (nil: not managed).
func (v *VFPlan) SameOnDevice(w *VFPlan) bool {
	if v.Min != w.Min || v.Max != w.Max || v.Group != w.Group || v.VLAN != w.VLAN || v.QoS != w.QoS {
		return false
	}
	if (v.Trust == nil) != (w.Trust == nil) {
		return false
	}
	return v.Trust == nil || *v.Trust == *w.Trust
}

func hwVFs(sp *SRIOVPlan) map[int]*VFPlan {
	m := map[int]*VFPlan{}
	if sp.Where.Placement != Hardware {
		return m
	}
	for i := range sp.VFs {
		if sp.VFs[i].Where.Placement == Hardware {
			m[sp.VFs[i].VF] = &sp.VFs[i]
		}
	}
	return m
}

func sortedVFs(m map[int]*VFPlan) []int { return slices.Sorted(maps.Keys(m)) }

// String is for messages: "vf 3 min 1Gbit max 2Gbit group g vlan 10/5".
func (v *VFPlan) String() string {
	s := fmt.Sprintf("vf %d min %v max %v", v.VF, v.Min, v.Max)
	if v.Group != "" {
		s += " group " + v.Group
	}
	if v.VLAN != 0 {
		s += fmt.Sprintf(" vlan %d/%d", v.VLAN, v.QoS)
	}
	return s
}
