package offload

import (
	"testing"

	"github.com/qosplane/qosplane/model"
)

// FuzzCompile compiles every policy the parser accepts, for every profile
// that fits its targets, and checks the plan's invariants: no panic, rules in
// precedence order, every non-hardware placement explained, TC queue groups
// contiguous, and Diff consistent with itself.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(nicPolicy))
	f.Add([]byte(manyFlows(20, 0)))
	f.Add([]byte("name: s\nclasses: [{name: a, rate: 1Mbit}, {name: b, priority: 3}]\nflows: [{class: a, match: {vlan: 3}}, {class: b, direction: both, match: {protocol: tcp, dst-port: 1-100}}]\ntargets: [{name: t, kind: switch, address: 'x:1', interfaces: [e]}, {name: n, kind: nic, interface: e, representors: [r]}]\n"))
	f.Add([]byte("name: c\nclasses: [{name: a, rate: 1Mbit}, {name: b, priority: 3, mark: {dscp: 10}}]\nflows: [{class: a, match: {cgroup: 'kubepods.slice/*', protocol: udp}}, {class: b, match: {cgroup: /system.slice/x.service, protocol: tcp, dst-port: 22}}, {class: b, match: {dst: 10.0.0.0/8}}]\ntargets: [{name: n, kind: nic, interface: e}, {name: t, kind: switch, address: 'x:1', interfaces: [e]}]\n"))
	profiles := Profiles()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := model.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, name := range profiles {
			c, err := LoadProfile(name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range p.Targets {
				tg := &p.Targets[i]
				if (tg.Kind == model.Switch) != (c.Kind == "switch") {
					continue
				}
				tp, err := CompileTarget(p, tg, c, p.Order())
				if err != nil {
					continue // admission refusals are fine
				}
				checkPlan(t, tp)
			}
		}
	})
}

func checkPlan(t *testing.T, tp *TargetPlan) {
	t.Helper()
	for i, r := range tp.Rules {
		if i > 0 && tp.Rules[i-1].Precedence > r.Precedence {
			t.Fatalf("rules out of order at %d", i)
		}
		if r.Where.Placement != Hardware && r.Where.Reason == "" {
			t.Fatalf("rule %s: %s without a reason", r.ID, r.Where.Placement)
		}
	}
	if q := tp.Queues; q != nil {
		var off uint16
		for _, tc := range q.TCs {
			if tc.Offset != off || tc.Count == 0 || len(tc.Classes) == 0 {
				t.Fatalf("tc %d: %d@%d, expected offset %d", tc.Index, tc.Count, tc.Offset, off)
			}
			off += tc.Count
		}
		for _, p := range q.PrioTC {
			if int(p) >= q.NumTC {
				t.Fatalf("prio map points at tc %d of %d", p, q.NumTC)
			}
		}
	}
	if ops := Diff(tp, tp); len(ops) != 0 {
		t.Fatalf("Diff(plan, plan) has %d ops", len(ops))
	}
	// Socket rules are held by the host's socket marker, not the device.
	if ops, n := Diff(nil, tp), len(deviceRules(tp.Rules)); len(ops) < n+len(tp.Classes) {
		t.Fatalf("Diff(nil, plan) has %d ops for %d device rules and %d classes", len(ops), n, len(tp.Classes))
	}
}
