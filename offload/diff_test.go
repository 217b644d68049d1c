package offload

import (
	"slices"
	"strings"
	"testing"
)

func opsString(ops []Op) string {
	var s []string
	for _, o := range ops {
		s = append(s, string(o.Kind)+" "+string(o.Object)+" "+o.ID)
	}
	return strings.Join(s, "\n")
}

func TestDiff(t *testing.T) {
	base := `
name: d
classes:
  - {name: a, service: guaranteed, rate: 1Gbit}
  - {name: b, service: best-effort}
flows:
  - {name: wide, class: b, match: {dst: 10.0.0.0/8}}
  - {name: narrow, class: a, match: {protocol: udp, dst: 10.1.0.0/16, dst-port: 5000}}
  - {name: gone, class: a, match: {protocol: tcp, dst-port: 22}}
targets: [{name: n, kind: nic, interface: eth0, capacity: 10Gbit}]
`
	next := `
name: d
classes:
  - {name: a, service: guaranteed, rate: 2Gbit}
  - {name: b, service: best-effort}
  - {name: c, service: controlled-load, rate: 1Gbit}
flows:
  - {name: wide, class: b, match: {dst: 10.0.0.0/8}}
  - {name: narrow, class: a, match: {protocol: udp, dst: 10.1.0.0/16, dst-port: 5001}}
  - {name: new, class: c, match: {protocol: tcp, dst-port: 443}}
  - {name: newer, class: c, match: {protocol: tcp, dst: 10.9.9.9, dst-port: 443}}
targets: [{name: n, kind: nic, interface: eth0, capacity: 10Gbit}]
`
	c := profile(t, "mlx5-nic")
	cur := compileWith(t, parse(t, base), c).Targets[0]
	want := compileWith(t, parse(t, next), c).Targets[0]
	if ops := Diff(cur, cur); len(ops) != 0 {
		t.Fatalf("Diff(x, x) = %s", opsString(ops))
	}
	got := opsString(Diff(cur, want))
	// Deletes first, then the layout, then classes, then rule changes and
	// adds, most specific first. TCs go lowest priority first, so adding c
	// (priority 4) moves a to TC 2: its skb priority changes, and so do
	// the actions of its flow narrow.
	wantOps := strings.TrimSpace(`
delete rule gone/egress/eth0
change queues queues
change class a
add class c
change rule narrow/egress/eth0
add rule newer/egress/eth0
add rule new/egress/eth0`)
	if got != wantOps {
		t.Errorf("ops:\n%s\nwant:\n%s", got, wantOps)
	}
	// Applying the diff to nothing adds everything, layout before rules.
	all := Diff(nil, want)
	if all[0].Object != ObjQueues || all[len(all)-1].Object != ObjRule || len(all) != 1+3+4 {
		t.Errorf("Diff(nil, want):\n%s", opsString(all))
	}
	// Removing everything deletes rules least specific first, then classes
	// and the layout.
	none := Diff(want, nil)
	if none[0].ID != "wide/egress/eth0" || none[len(none)-1].Object != ObjQueues {
		t.Errorf("Diff(want, nil):\n%s", opsString(none))
	}
}

// TestDiffStoredFingerprint checks that a rule read back with only its
// fingerprint compares equal to the plan it came from, and not to another.
func TestDiffStoredFingerprint(t *testing.T) {
	tp := compileWith(t, parse(t, nicPolicy), profile(t, "mlx5-switchdev")).Targets[0]
	read := *tp
	read.Rules = nil
	for _, r := range tp.Rules {
		read.Rules = append(read.Rules, Rule{ID: r.ID, Stored: RuleFingerprint(&r)})
	}
	if ops := Diff(&read, tp); len(ops) != 0 {
		t.Fatalf("fingerprinted current differs: %s", opsString(ops))
	}
	read.Rules[2].Stored = "0000000000000000"
	if ops := Diff(&read, tp); len(ops) != 1 || ops[0].Kind != Change || ops[0].ID != read.Rules[2].ID {
		t.Fatalf("changed fingerprint: %s", opsString(ops))
	}
}

func TestRuleEqualAndFingerprintAgree(t *testing.T) {
	tp := compileWith(t, parse(t, nicPolicy), profile(t, "mlx5-switchdev")).Targets[0]
	for i := range tp.Rules {
		for j := range tp.Rules {
			a, b := &tp.Rules[i], &tp.Rules[j]
			if a.Equal(b) != (RuleFingerprint(a) == RuleFingerprint(b)) {
				t.Errorf("%s vs %s: Equal %v but fingerprints %s %s", a.ID, b.ID, a.Equal(b), RuleFingerprint(a), RuleFingerprint(b))
			}
		}
	}
	r := tp.Rules[0]
	r2 := r
	r2.Actions = slices.Clone(r.Actions)
	d := uint8(7)
	r2.Match.DSCP = &d
	if r.Equal(&r2) || RuleFingerprint(&r) == RuleFingerprint(&r2) {
		t.Error("a DSCP match change is not seen")
	}
}
