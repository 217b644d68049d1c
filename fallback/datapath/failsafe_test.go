package datapath_test

import (
	"context"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/fallback/datapath"
)

// ownership runs f against a fresh routed lab's app namespace with a pacer
// driver for app0 in mode, after setup ran there (shell commands).
func ownership(t *testing.T, mode, peer string, setup ...string) (l *vethlab.Lab, d *datapath.Driver, applyErr error) {
	t.Helper()
	if why := vethlab.CheckRoot(); why != "" {
		t.Skip(why)
	}
	l = vethlab.ForTest(t, vethlab.Route)
	ctx := context.Background()
	for _, c := range setup {
		if out, err := l.App.Run(ctx, "sh", "-c", c); err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
	}
	tp := compilePlan(t, labPolicy("20Mbit", vethlab.AppIf, mode, peer, "udp", 5001))
	d, err := datapath.NewDriver(tp, testLog())
	if err != nil {
		t.Fatal(err)
	}
	applyErr = l.App.Do(func() error { return d.Apply(ctx, tp, nil) })
	t.Cleanup(func() { _ = l.App.Do(d.Close) })
	return l, d, applyErr
}

// state is what the app namespace holds that the pacer may touch.
func state(t *testing.T, l *vethlab.Lab, devs ...string) string {
	t.Helper()
	cmd := "ip -o link show | awk '{print $2}'"
	for _, d := range devs {
		cmd += "; tc qdisc show dev " + d + "; tc filter show dev " + d + " egress; tc filter show dev " + d + " ingress"
	}
	out, err := l.App.Run(context.Background(), "sh", "-c", cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAttachRefusesForeignLink: a link with the redirect veth's name that
// is not qosplane's (a veth to another peer, no owner alias) is refused with a message
// that says so, and left as it was.
func TestAttachRefusesForeignLink(t *testing.T) {
	l, _, err := ownership(t, "attach", "", "ip link add qpr2 type veth peer name qpx2")
	if err == nil || !strings.Contains(err.Error(), "is not qosplane's") {
		t.Fatalf("Apply with a foreign qpr2: %v, want a refusal naming it", err)
	}
	if s := state(t, l, vethlab.AppIf); !strings.Contains(s, "qpr2") || strings.Contains(s, "qpp2") || strings.Contains(s, "filter") {
		t.Errorf("the refusal changed the namespace:\n%s", s)
	}
}

// TestAttachAdoptsLegacy: what an agent from before fail-open left (the
// redirect veth without an alias, clsact and a u32 redirect into it at
// priority 1, a blackhole once that agent is gone) is adopted: the
// steering replaces the redirect, and Remove leaves nothing.
func TestAttachAdoptsLegacy(t *testing.T) {
	l, d, err := ownership(t, "attach", "",
		"ip link add qpr2 type veth peer name qpp2 && ip link set qpr2 up && ip link set qpp2 up",
		"tc qdisc add dev app0 clsact",
		"tc filter add dev app0 egress prio 1 protocol all u32 match u32 0 0 action mirred egress redirect dev qpr2")
	if err != nil {
		t.Fatalf("Apply over a legacy attachment: %v", err)
	}
	if s := state(t, l, vethlab.AppIf); strings.Contains(s, "u32") || !strings.Contains(d.FailSafe(), wantSteering(t)) {
		t.Errorf("legacy redirect not replaced (fail-safe %q):\n%s", d.FailSafe(), s)
	}
	if err := l.App.Do(func() error { return d.Remove(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	if s := state(t, l, vethlab.AppIf); strings.Contains(s, "qpr2") || strings.Contains(s, "clsact") || strings.Contains(s, "filter") {
		t.Errorf("Remove left something:\n%s", s)
	}
}

// TestBypassRefusesForeignFilter: a bridge whose interface has someone
// else's ingress filter at the bypass's priority is refused, and the
// filter stays.
func TestBypassRefusesForeignFilter(t *testing.T) {
	// The routed lab's app namespace has one interface; a veth is the
	// bridge's second.
	l, _, err := ownership(t, "bridge", "qpside",
		"ip link add qpside type veth peer name qpside2 && ip link set qpside up && ip link set qpside2 up",
		"tc qdisc add dev app0 clsact",
		"tc filter add dev app0 ingress prio 1 protocol all u32 match u32 0 0 flowid 1:1")
	if err == nil || !strings.Contains(err.Error(), "is not qosplane's") {
		t.Fatalf("Apply with a foreign ingress filter: %v, want a refusal naming it", err)
	}
	if s := state(t, l, vethlab.AppIf, "qpside"); !strings.Contains(s, "u32") || strings.Contains(s, "qosplane-bypass") {
		t.Errorf("the refusal changed the filters:\n%s", s)
	}
}
