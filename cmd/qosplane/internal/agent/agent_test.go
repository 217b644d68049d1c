package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

const twoTargets = `
name: site
classes:
  - {name: voice, service: guaranteed, rate: %s}
  - {name: bulk}
flows:
  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 5004}}
targets:
  - {name: nic, kind: nic, interface: eth0}
  - {name: leaf, kind: switch, address: "127.0.0.1:1", interfaces: [Ethernet1]}
`

func writePolicy(t *testing.T, path, rate string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(fmt.Sprintf(twoTargets, rate)), 0o644); err != nil {
		t.Fatal(err)
	}
}

type harness struct {
	t      *testing.T
	a      *Agent
	cancel context.CancelFunc
	done   chan error
	path   string
}

func start(t *testing.T, f Factory, path string, mod func(*Config)) *harness {
	t.Helper()
	cfg := Config{PolicyPath: path, Factory: f, Interval: time.Hour, WatchInterval: 20 * time.Millisecond,
		CountersInterval: 20 * time.Millisecond, TargetTimeout: 2 * time.Second, BackoffMin: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, a: a, cancel: cancel, done: make(chan error, 1), path: path}
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("agent did not stop")
	}
}

// waitFor polls cond until it holds or 10 s pass.
func (h *harness) waitFor(what string, cond func(Status) bool) Status {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := h.a.Status()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; status: %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func target(s Status, name string) TargetStatus {
	for _, t := range s.Targets {
		if t.Name == name {
			return t
		}
	}
	return TargetStatus{}
}

func reconciled(names ...string) func(Status) bool {
	return func(s Status) bool {
		for _, n := range names {
			if target(s, n).LastSuccess.IsZero() {
				return false
			}
		}
		return true
	}
}

func wantPlan(t *testing.T, path, name, profile string) *offload.TargetPlan {
	t.Helper()
	p, err := model.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := offload.LoadProfile(profile)
	c.LinkSpeed = 100e9
	for i := range p.Targets {
		if p.Targets[i].Name == name {
			tp, err := offload.CompileTarget(p, &p.Targets[i], c, p.Order())
			if err != nil {
				t.Fatal(err)
			}
			return tp
		}
	}
	t.Fatalf("no target %s", name)
	return nil
}

func TestReconcileThenRestartAdoptsWithoutWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	h := start(t, f, path, nil)
	h.waitFor("both targets", reconciled("nic", "leaf"))
	nic, leaf := f.device("nic", ""), f.device("leaf", "")
	if ops := offload.Diff(nic.snapshot(), wantPlan(t, path, "nic", "ice")); len(ops) != 0 {
		t.Errorf("nic holds a different plan: %d ops", len(ops))
	}
	if ops := offload.Diff(leaf.snapshot(), wantPlan(t, path, "leaf", "openconfig-switch")); len(ops) != 0 {
		t.Errorf("leaf holds a different plan: %d ops", len(ops))
	}
	h.stop()
	if nic.removes != 0 || nic.plan == nil || nic.closes != 1 {
		t.Fatalf("default shutdown: removes %d, plan kept %v, closes %d", nic.removes, nic.plan != nil, nic.closes)
	}
	// A restarted agent adopts the state: no Apply at all.
	h2 := start(t, f, path, nil)
	s := h2.waitFor("adoption", reconciled("nic", "leaf"))
	if nic.applies != 1 || leaf.applies != 1 || target(s, "nic").LastOps != 0 || target(s, "nic").Applies != 0 {
		t.Errorf("restart wrote: nic applies %d, leaf applies %d, status %+v", nic.applies, leaf.applies, target(s, "nic"))
	}
}

func TestReloadValidAndInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	h := start(t, f, path, nil)
	h.waitFor("first reconcile", reconciled("nic", "leaf"))
	nic := f.device("nic", "")

	writePolicy(t, path, "2Gbit")
	h.a.Reload()
	h.waitFor("2 Gbit/s applied", func(Status) bool {
		tp := nic.snapshot()
		return tp != nil && tp.Classes[0].Rate == 2e9
	})

	// An invalid policy is refused; the devices keep the running plan.
	before := nic.applies
	if err := os.WriteFile(path, []byte("name: site\nclasses: [{name: voice, service: guaranteed}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := h.waitFor("refusal", func(s Status) bool { return s.PolicyError != "" })
	if !strings.Contains(s.PolicyError, "classes[0].rate: a guaranteed class needs a rate") || s.Policy != "site" {
		t.Errorf("policy error %q (running %q)", s.PolicyError, s.Policy)
	}
	time.Sleep(100 * time.Millisecond)
	if nic.applies != before || nic.snapshot().Classes[0].Rate != 2e9 {
		t.Errorf("an invalid policy changed the device")
	}
	// Fixing the file recovers.
	writePolicy(t, path, "3Gbit")
	h.waitFor("recovery", func(s Status) bool {
		tp := nic.snapshot()
		return s.PolicyError == "" && tp != nil && tp.Classes[0].Rate == 3e9
	})
}

func TestDriftIsRepaired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	h := start(t, f, path, func(c *Config) { c.Interval = 30 * time.Millisecond })
	h.waitFor("first reconcile", reconciled("nic"))
	nic := f.device("nic", "")
	nic.mu.Lock()
	nic.plan.Rules = nil // someone deleted our rules
	nic.mu.Unlock()
	h.waitFor("repair", func(Status) bool {
		tp := nic.snapshot()
		return tp != nil && len(tp.Rules) > 0 && nic.applies >= 2
	})
	if ops := offload.Diff(nic.snapshot(), wantPlan(t, path, "nic", "ice")); len(ops) != 0 {
		t.Errorf("after repair %d ops remain", len(ops))
	}
}

func TestFailingAndHangingTargetsDoNotBlockOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	f.device("nic", "ice").failWith = errors.New("netlink: device busy")
	f.device("leaf", "openconfig-switch").hang = true
	third := filepath.Join(t.TempDir(), "p.yaml")
	data, _ := os.ReadFile(path)
	data = append(data, []byte("  - {name: leaf2, kind: switch, address: \"127.0.0.1:2\", interfaces: [Ethernet1]}\n")...)
	if err := os.WriteFile(third, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h := start(t, f, third, func(c *Config) { c.TargetTimeout = 200 * time.Millisecond })
	h.waitFor("leaf2 reconciled while the others fail", reconciled("leaf2"))
	s := h.waitFor("failures recorded", func(s Status) bool {
		return target(s, "nic").ConsecutiveFailures >= 2 && target(s, "leaf").LastError != ""
	})
	if !strings.Contains(target(s, "nic").LastError, "netlink: device busy") {
		t.Errorf("nic error: %q", target(s, "nic").LastError)
	}
	if !strings.Contains(target(s, "leaf").LastError, "deadline exceeded") {
		t.Errorf("hanging leaf error: %q", target(s, "leaf").LastError)
	}
	if f.device("leaf2", "").plan == nil {
		t.Error("leaf2 holds nothing")
	}
	// Backoff: the next attempt is scheduled after the last one.
	if n := target(s, "nic"); !n.NextAttempt.After(n.LastAttempt) {
		t.Errorf("no backoff scheduled: %+v", n)
	}
}

func TestRefusedOffloadFallsBackToPacer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	f.device("nic", "ice").failWith = fmt.Errorf("mqprio: %w: Error: ice: rate not a multiple of 500 kbit/s", offload.ErrRefused)
	h := start(t, f, path, nil)
	s := h.waitFor("pacer fallback", reconciled("nic"))
	p := f.pacer("nic").snapshot()
	if p == nil || p.Pacer == nil || target(s, "nic").Pacer == "" || target(s, "nic").PacerCount == 0 {
		t.Fatalf("fallback not applied: pacer plan %+v status %+v", p, target(s, "nic"))
	}
	// Periodic reconciles do not hammer the device with the refused plan.
	h.a.mu.Lock()
	w := h.a.workers["nic"]
	h.a.mu.Unlock()
	for range 3 {
		w.kickNow()
		time.Sleep(30 * time.Millisecond)
	}
	if d := f.device("nic", ""); d.attempts != 1 || d.applies != 0 {
		t.Errorf("refused device tried %d times, written %d times; want 1 and 0", d.attempts, d.applies)
	}
	if s := h.a.Status(); target(s, "nic").LastError != "" {
		t.Errorf("reconcile on the pacer failed: %s", target(s, "nic").LastError)
	}
	h.stop()
	// Without --on-exit remove the pacer is closed (attach mode hands the
	// egress back; a bypass bridge keeps forwarding), not removed.
	if pd := f.pacer("nic"); pd.closes != 1 || pd.removes != 0 {
		t.Errorf("on exit the pacer was closed %d times and removed %d times; want 1 and 0", pd.closes, pd.removes)
	}
}

func TestShutdownRemoves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	h := start(t, f, path, func(c *Config) { c.RemoveOnExit = true })
	h.waitFor("reconcile", reconciled("nic", "leaf"))
	h.stop()
	for _, n := range []string{"nic", "leaf"} {
		if d := f.device(n, ""); d.removes != 1 || d.plan != nil {
			t.Errorf("%s: removes %d", n, d.removes)
		}
	}
}

func TestTargetLeavingThePolicyIsRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	h := start(t, f, path, nil)
	h.waitFor("reconcile", reconciled("nic", "leaf"))
	data, _ := os.ReadFile(path)
	cut := strings.Replace(string(data), "  - {name: leaf, kind: switch, address: \"127.0.0.1:1\", interfaces: [Ethernet1]}\n", "", 1)
	if err := os.WriteFile(path, []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitFor("leaf removed", func(s Status) bool { return len(s.Targets) == 1 && f.device("leaf", "").snapshot() == nil })
}

func TestStatusSocketAndMetrics(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	writePolicy(t, path, "1Gbit")
	sock := filepath.Join(dir, "run", "qosplane.sock")
	f := newFakeFactory()
	h := start(t, f, path, func(c *Config) { c.StatusSocket = sock; c.MetricsAddr = "127.0.0.1:0" })
	h.waitFor("counters", func(s Status) bool {
		return reconciled("nic", "leaf")(s) && target(s, "nic").Classes[0].Counters.Bytes > 0 && target(s, "nic").Classes[0].Achieved > 0
	})
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st, err)
	}
	s, err := FetchStatus(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	if s.Policy != "site" || len(s.Targets) != 2 || target(*s, "nic").Classes[0].Name != "voice" || target(*s, "nic").Hardware == 0 {
		t.Errorf("status over the socket: %+v", s)
	}
	resp, err := http.Get("http://" + h.a.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var parser expfmt.TextParser
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	bytes := fams["qosplane_class_bytes_total"]
	if bytes == nil || len(bytes.Metric) != 4 {
		t.Fatalf("qosplane_class_bytes_total: %v", bytes)
	}
	found := false
	for _, m := range bytes.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["target"] == "nic" && labels["class"] == "voice" {
			found = labels["placement"] == "hardware" && m.Counter.GetValue() > 0
		}
	}
	if !found {
		t.Errorf("no nic/voice bytes with a hardware placement label: %v", bytes)
	}
	if g := fams["qosplane_class_configured_rate_bits"]; g == nil {
		t.Error("no configured rate metric")
	}
	if v := fams["qosplane_policy_valid"]; v == nil || v.Metric[0].Gauge.GetValue() != 1 {
		t.Errorf("policy_valid: %v", v)
	}
	// A second agent on the same socket is refused, not allowed to steal it.
	a2, _ := New(Config{PolicyPath: path, Factory: f, StatusSocket: sock})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a2.Run(ctx); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Errorf("second agent on the socket: %v", err)
	}
}

func TestApplyOnceAndRemoveAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, "1Gbit")
	f := newFakeFactory()
	a, err := New(Config{PolicyPath: path, Factory: f})
	if err != nil {
		t.Fatal(err)
	}
	s, serve, err := a.ApplyOnce(context.Background())
	if err != nil || serve != nil {
		t.Fatalf("ApplyOnce: %v (pacer serving %v)", err, serve != nil)
	}
	if target(s, "nic").LastOps == 0 || f.device("nic", "").closes != 1 || f.device("nic", "").plan == nil {
		t.Errorf("apply: %+v", target(s, "nic"))
	}
	// Apply again: nothing to do.
	s, _, _ = a.ApplyOnce(context.Background())
	if target(s, "nic").LastOps != 0 || f.device("nic", "").applies != 1 {
		t.Errorf("second apply wrote: %+v", target(s, "nic"))
	}
	if err := a.RemoveAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.device("nic", "").plan != nil || f.device("leaf", "").plan != nil {
		t.Error("remove left state")
	}
	// A pacer target keeps serving until the context ends.
	f.device("nic", "ice").failWith = fmt.Errorf("%w: no", offload.ErrRefused)
	_, serve, err = a.ApplyOnce(context.Background())
	if err != nil || serve == nil {
		t.Fatalf("pacer apply: %v, serve %v", err, serve != nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	serve(ctx)
	if f.pacer("nic").removes != 1 {
		t.Error("the pacer was not stopped after serving")
	}
}
