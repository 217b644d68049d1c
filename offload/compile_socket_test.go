package offload

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

const cgroupPolicy = `
name: apps
classes:
  - name: bulk
    service: qualitative
    priority: 1
    mark: {dscp: 8}
  - name: pods
    service: controlled-load
    rate: 100Mbit
    priority: 3
  - name: web
    service: guaranteed
    rate: 200Mbit
    priority: 5
flows:
  - name: backup
    class: bulk
    match: {cgroup: system.slice/backup.service, protocol: tcp, dst-port: 873}
  - name: burstable
    class: pods
    match: {cgroup: "kubepods.slice/kubepods-burstable.slice/*"}
  - name: https
    class: web
    match: {protocol: tcp, dst-port: 443}
targets:
  - name: nic
    kind: nic
    interface: eth0
    capacity: 10Gbit
`

// Cgroup flows become socket rules, never flower rules: their priority is
// the class's TC priority and their DSCP the class's mark, and the plan
// says how the priority reaches the hardware.
func TestCompileSocketRules(t *testing.T) {
	p := parse(t, cgroupPolicy)
	plan := compileWith(t, p, profile(t, "mlx5-nic"))
	tp := plan.Targets[0]
	r := ruleByID(t, tp, "backup/socket/eth0")
	if r.Where.Placement != Socket || r.Direction != OnSocket || r.Match.Cgroup != "system.slice/backup.service" {
		t.Errorf("backup rule %+v", r)
	}
	bulk := tp.Classes[0]
	if bulk.Name != "bulk" {
		t.Fatalf("classes %v", tp.Classes)
	}
	want := []Action{{Kind: SetPriority, Priority: bulk.SkbPriority}, {Kind: SetDSCP, DSCP: 8}}
	if len(r.Actions) != 2 || r.Actions[0] != want[0] || r.Actions[1] != want[1] {
		t.Errorf("backup actions %+v, want %+v", r.Actions, want)
	}
	for _, r := range tp.Rules {
		if r.Match.Cgroup != "" && r.Direction != OnSocket {
			t.Errorf("cgroup flow %s placed as %s rule %s", r.Flow, r.Direction, r.ID)
		}
	}
	ruleByID(t, tp, "burstable/socket/eth0")
	ruleByID(t, tp, "https/egress/eth0")
	var out bytes.Buffer
	if err := plan.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, s := range []string{
		"cgroup system.slice/backup.service tcp * -> *:873",
		"socket (set once per socket, when it is created or connects)\n",
		"flow backup (cgroup system.slice/backup.service): socket priority",
		"through mqprio's map",
		", 2 socket\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("plan text lacks %q:\n%s", s, text)
		}
	}
	// The pacer: the socket marks, the pacer classifies by its rules.
	plan = compileWith(t, p, profile(t, "none"))
	if r := ruleByID(t, plan.Targets[0], "backup/socket/eth0"); r.Where.Placement != Socket {
		t.Errorf("pacer target: backup placed %v", r.Where)
	}
	// Socket rules are the host's socket marker's, not the device's.
	ops := Diff(nil, plan.Targets[0])
	if len(ops) == 0 {
		t.Error("diff of a plan with socket rules is empty")
	}
	for _, o := range ops {
		if o.Object == ObjRule && o.NewRule.Where.Placement == Socket {
			t.Errorf("diff has an op for socket rule %s", o.ID)
		}
	}
	noSockets := *plan.Targets[0]
	noSockets.Rules = slices.DeleteFunc(slices.Clone(noSockets.Rules), func(r Rule) bool { return r.Where.Placement == Socket })
	if ops := Diff(&noSockets, plan.Targets[0]); len(ops) != 0 {
		t.Errorf("a device without the socket rules differs by %d ops", len(ops))
	}
}
