package model

import "testing"

func TestSRIOVLoads(t *testing.T) {
	p, err := Parse("sriov.yaml", []byte(`
name: vfs
classes:
  - {name: gold, service: guaranteed, rate: 2Gbit}
  - {name: silver, service: controlled-load, rate: 1Gbit, peak: 4Gbit}
targets:
  - name: pf
    kind: nic
    interface: eth0
    capacity: 25Gbit
    sriov:
      vfs:
        - {vfs: 0-3, class: gold, vlan: 100, qos: 5, trust: true}
        - {vfs: 4, class: silver, max: 3Gbit}
        - {vfs: 5, min: 500Mbit}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Targets[0].SRIOV
	if s == nil || s.Mode != SRIOVLegacy || len(s.VFs) != 3 {
		t.Fatalf("sriov = %+v", s)
	}
	for i, want := range [][2]Rate{{2e9, 2e9}, {1e9, 3e9}, {500e6, 0}} {
		if mn, mx := s.VFs[i].Limits(p); mn != want[0] || mx != want[1] {
			t.Errorf("vfs[%d] limits = %v, %v; want %v, %v", i, mn, mx, want[0], want[1])
		}
	}
	if v := s.VFs[0]; v.VLAN != 100 || v.QoS == nil || *v.QoS != 5 || v.Trust == nil || !*v.Trust {
		t.Errorf("vfs[0] = %+v", v)
	}
}

func TestParseVFRange(t *testing.T) {
	for in, want := range map[string][2]int{"3": {3, 3}, "0-7": {0, 7}, " 2-2 ": {2, 2}} {
		a, b, err := ParseVFRange(in)
		if err != nil || a != want[0] || b != want[1] {
			t.Errorf("ParseVFRange(%q) = %d, %d, %v", in, a, b, err)
		}
	}
	for _, in := range []string{"", "-1", "3-1", "a-b", "1-", "70000"} {
		if _, _, err := ParseVFRange(in); err == nil {
			t.Errorf("ParseVFRange(%q) accepted", in)
		}
	}
}
