package model

import (
	"fmt"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

func TestServiceTypeDefaults(t *testing.T) {
	p := mustParse(t, `
name: d
classes:
  - {name: be, service: best-effort}
  - {name: cl, service: controlled-load, rate: 1Mbit}
  - {name: g, service: guaranteed, rate: 1Mbit}
  - {name: nc, service: network-control}
  - {name: q, service: qualitative}
  - {name: none}
`)
	for _, tc := range []struct {
		class       string
		dscp, pcp   uint8
		prio        uint8
		mode        Mode
		ncDSCP, ncP uint8
	}{
		{"be", 0, 0, 0, Borrow, 0, 0},
		{"cl", 24, 4, 4, Borrow, 0, 0},
		{"g", 40, 5, 5, Shape, 0, 0},
		{"nc", 48, 7, 7, Shape, 0, 0},
		{"q", 0, 0, 1, Borrow, 0, 0},
		{"none", 0, 0, 0, Borrow, 0, 0},
	} {
		c, ok := p.ClassByName(tc.class)
		if !ok {
			t.Fatalf("class %s missing", tc.class)
		}
		if *c.Mark.DSCP != tc.dscp || *c.Mark.PCP != tc.pcp || c.Priority != tc.prio || c.NonConforming != tc.mode ||
			*c.MarkNonConforming.DSCP != tc.ncDSCP || *c.MarkNonConforming.PCP != tc.ncP || c.Weight != 1 || c.MaxSDU != 1518 {
			t.Errorf("class %s: got dscp %d pcp %d prio %d mode %s nc %d/%d weight %d maxsdu %d", tc.class,
				*c.Mark.DSCP, *c.Mark.PCP, c.Priority, c.NonConforming, *c.MarkNonConforming.DSCP, *c.MarkNonConforming.PCP, c.Weight, c.MaxSDU)
		}
	}
	if g, _ := p.ClassByName("g"); g.Bucket != 2*1518 {
		t.Errorf("1 Mbit/s bucket = %v, want two max-sdu (10 ms at rate is smaller)", g.Bucket)
	}
}

func TestMarkingOverrides(t *testing.T) {
	p := mustParse(t, `
name: o
marking:
  guaranteed: {dscp: 46}
  non-conforming: {dscp: 8, pcp: 1}
classes:
  - {name: policy-level, service: guaranteed, rate: 1Gbit}
  - {name: class-level, service: guaranteed, rate: 1Gbit, mark: {pcp: 6}, mark-non-conforming: {pcp: 2}}
  - {name: untouched, service: controlled-load, rate: 1Gbit}
`)
	check := func(name string, dscp, pcp, ncd, ncp uint8) {
		t.Helper()
		c, _ := p.ClassByName(name)
		if *c.Mark.DSCP != dscp || *c.Mark.PCP != pcp || *c.MarkNonConforming.DSCP != ncd || *c.MarkNonConforming.PCP != ncp {
			t.Errorf("%s: mark %d/%d nc %d/%d, want %d/%d nc %d/%d", name, *c.Mark.DSCP, *c.Mark.PCP,
				*c.MarkNonConforming.DSCP, *c.MarkNonConforming.PCP, dscp, pcp, ncd, ncp)
		}
	}
	check("policy-level", 46, 5, 8, 1)
	check("class-level", 46, 6, 8, 2)
	check("untouched", 24, 4, 8, 1)
	if c, _ := p.ClassByName("policy-level"); c.Bucket != 1250000 {
		t.Errorf("1 Gbit/s bucket = %v, want 10 ms = 1250000B", c.Bucket)
	}
}

func TestExplicitZeroIsNotDefault(t *testing.T) {
	p := mustParse(t, `
name: z
classes:
  - {name: g, service: guaranteed, rate: 1Mbit, priority: 0, mark: {dscp: 0, pcp: 0}}
`)
	c, _ := p.ClassByName("g")
	if c.Priority != 0 || *c.Mark.DSCP != 0 || *c.Mark.PCP != 0 {
		t.Errorf("explicit zeros replaced by defaults: prio %d dscp %d pcp %d", c.Priority, *c.Mark.DSCP, *c.Mark.PCP)
	}
}

func TestSpecificityOrder(t *testing.T) {
	p := mustParse(t, `
name: s
classes: [{name: c}]
flows:
  - {name: any, class: c}
  - {name: dst24, class: c, match: {dst: 10.0.0.0/24}}
  - {name: dst16, class: c, match: {dst: 10.0.0.0/16}}
  - {name: host, class: c, match: {dst: 10.0.0.1}}
  - {name: tcp-range, class: c, match: {protocol: tcp, dst: 10.0.0.0/24, dst-port: 1000-1999}}
  - {name: tcp-exact, class: c, match: {protocol: tcp, dst: 10.0.0.0/24, dst-port: 1500}}
  - {name: five-tuple, class: c, match: {protocol: tcp, src: 10.1.0.1, dst: 10.0.0.1, src-port: 40000, dst-port: 443}}
  - {name: udp, class: c, match: {protocol: udp}}
  - {name: b-dscp, class: c, match: {dscp: 46}}
  - {name: a-vlan, class: c, match: {vlan: 10}}
`)
	var got []string
	for _, i := range p.Order() {
		got = append(got, p.Flows[i].Name)
	}
	want := "five-tuple tcp-exact tcp-range host dst24 dst16 a-vlan udp b-dscp any"
	if strings.Join(got, " ") != want {
		t.Errorf("order\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestPortRangeBits(t *testing.T) {
	for _, tc := range []struct {
		r    PortRange
		bits int
	}{
		{PortRange{}, 0}, {PortRange{80, 80}, 16}, {PortRange{1000, 1001}, 15}, {PortRange{1024, 2047}, 6},
		{PortRange{1000, 1999}, 6}, {PortRange{1, 65535}, 0},
	} {
		if got := tc.r.bits(); got != tc.bits {
			t.Errorf("%v.bits() = %d, want %d", tc.r, got, tc.bits)
		}
	}
}

func TestConflicts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     string
		conflict bool
	}{
		{"same 5-tuple", "{protocol: udp, dst: 10.0.0.1, dst-port: 53}", "{protocol: udp, dst: 10.0.0.1, dst-port: 53}", true},
		{"different ports", "{protocol: udp, dst-port: 53}", "{protocol: udp, dst-port: 54}", false},
		{"different protocol", "{protocol: udp, dst-port: 53}", "{protocol: tcp, dst-port: 53}", false},
		{"overlapping ranges", "{protocol: udp, dst-port: 100-199}", "{protocol: udp, dst-port: 150-249}", true},
		{"disjoint ranges", "{protocol: udp, dst-port: 100-199}", "{protocol: udp, dst-port: 200-299}", false},
		{"crossed prefixes", "{src: 10.0.0.0/24, dst: 10.1.0.0/25}", "{src: 10.0.0.0/25, dst: 10.1.0.0/24}", true},
		{"disjoint prefixes", "{dst: 10.0.0.0/24}", "{dst: 10.0.1.0/24}", false},
		{"v4 vs v6 same bits", "{dst: 10.0.0.0/24}", "{src: \"2001:db8::/24\"}", false},
		{"vlan vs dscp", "{vlan: 10, protocol: tcp}", "{dscp: 10, protocol: tcp, interface: eth0}", false},
		{"different specificity", "{dst: 10.0.0.0/24}", "{dst: 10.0.0.0/25}", false},
		{"ingress vs egress", "{dst: 10.0.0.0/24}", "{dst: 10.0.0.0/24}\n    direction: ingress", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf("name: c\nclasses: [{name: x}]\nflows:\n  - name: a\n    class: x\n    match: %s\n  - name: b\n    class: x\n    match: %s\n", tc.a, tc.b)
			_, err := Parse("c.yaml", []byte(src))
			got := err != nil && strings.Contains(err.Error(), "equal specificity")
			if got != tc.conflict {
				t.Errorf("conflict = %v, want %v (err: %v)", got, tc.conflict, err)
			}
		})
	}
}

func TestAdmission(t *testing.T) {
	src := func(capacity string) string {
		return `
name: a
classes:
  - {name: g, service: guaranteed, rate: 40Gbit}
  - {name: cl, service: controlled-load, rate: 50Gbit}
  - {name: be, service: best-effort, rate: 80Gbit}
  - {name: other, service: guaranteed, rate: 50Gbit}
targets:
  - {name: t, kind: nic, interface: eth0, capacity: ` + capacity + `, classes: [g, cl, be]}
`
	}
	if _, err := Parse("a.yaml", []byte(src("90Gbit"))); err != nil {
		t.Errorf("90 Gbit/s reserved on 90 Gbit/s refused: %v", err)
	}
	_, err := Parse("a.yaml", []byte(src("89Gbit")))
	if err == nil || !strings.Contains(err.Error(), "reserved classes g (40Gbit), cl (50Gbit) need 90Gbit, more than the link capacity 89Gbit") {
		t.Errorf("want refusal naming g and cl only, got %v", err)
	}
}

// TestOrderDeterministic checks that equally specific flows sort by name
// whatever their order in the file.
func TestOrderDeterministic(t *testing.T) {
	var a, b strings.Builder
	a.WriteString("name: d\nclasses: [{name: c}]\nflows:\n")
	b.WriteString(a.String())
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&a, "  - {name: f%02d, class: c, match: {dst: 10.0.%d.0/24}}\n", i, i)
		fmt.Fprintf(&b, "  - {name: f%02d, class: c, match: {dst: 10.0.%d.0/24}}\n", 49-i, 49-i)
	}
	pa, pb := mustParse(t, a.String()), mustParse(t, b.String())
	oa, ob := pa.Order(), pb.Order()
	for i := range oa {
		if pa.Flows[oa[i]].Name != pb.Flows[ob[i]].Name {
			t.Fatalf("position %d: %s vs %s", i, pa.Flows[oa[i]].Name, pb.Flows[ob[i]].Name)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: x\nclasses: [{name: c, rate: 1Mbit}]\n",
		"name: x\nclasses: [{name: c}]\nflows: [{class: c, match: {dst: 10.0.0.0/8, protocol: tcp, dst-port: 1-2}}]\n",
		`{"name": "j", "classes": [{"name": "a", "service": "guaranteed", "rate": "1Gbit"}]}`,
		"name: x\nclasses: [{name: c}]\ntargets: [{name: t, kind: switch, address: 'a:1', interfaces: [e1]}]\n",
		"- a\n- b\n", "name: &a x\nclasses: [*a]\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// A valid policy has complete classes.
		for _, c := range p.Classes {
			if c.Mark.DSCP == nil || c.Mark.PCP == nil || c.MarkNonConforming.DSCP == nil || *c.Mark.DSCP > 63 || *c.Mark.PCP > 7 {
				t.Fatalf("class %q incomplete after defaults", c.Name)
			}
			if c.Peak != 0 && c.Peak < c.Rate {
				t.Fatalf("class %q: peak below rate accepted", c.Name)
			}
		}
		_ = p.Order()
	})
}

func TestPolicyNameCannotBreakOwnership(t *testing.T) {
	for _, name := range []string{"a--b", "a-", "x--"} {
		_, err := Parse("n.yaml", []byte("name: "+name+"\nclasses: [{name: c}]\n"))
		if err == nil || !strings.Contains(err.Error(), `may not contain "--" or end in "-"`) {
			t.Errorf("policy name %q: %v", name, err)
		}
	}
	if _, err := Parse("n.yaml", []byte("name: a-b.c_d\nclasses: [{name: c}]\n")); err != nil {
		t.Errorf("a-b.c_d refused: %v", err)
	}
}
