package gnmi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
)

// buildQosplane builds the qosplane binary once per test.
func buildQosplane(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "qosplane")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/qosplane/qosplane/cmd/qosplane").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

const cliPolicy = `
name: cli
classes:
  - {name: voice, service: guaranteed, rate: 2Gbit, mark: {dscp: 46}}
  - {name: web, service: qualitative, priority: 2, weight: 3}
  - {name: rest, service: best-effort}
flows:
  - {name: ef, class: voice, match: {dscp: 46}}
  - {name: https, class: web, match: {protocol: tcp, dst: 10.1.0.0/16, dst-port: 443}}
targets:
  - name: leaf
    kind: switch
    address: %s
    interfaces: [Ethernet1]
    tls: {ca-file: %s, server-name: localhost}
`

// TestCLIAgainstSwitch drives the qosplane binary against a gNMI target:
// apply, apply again (no Set), the agent adopting the state and repairing
// drift, status over its socket, SIGTERM leaving the state, and remove.
func TestCLIAgainstSwitch(t *testing.T) {
	bin := buildQosplane(t)
	tg := startTarget(t, normal)
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(fmt.Sprintf(cliPolicy, tg.addr, testPKI(t).caFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "qosplane.sock")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("qosplane %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	c := tg.client(t)

	out := run("apply", policy, "--socket", sock)
	if tg.sets.Load() != 1 || !strings.Contains(out, "target leaf (switch, profile openconfig-switch): ok") {
		t.Fatalf("apply: %d Sets\n%s", tg.sets.Load(), out)
	}
	if n := countWith(dump(t, c), "qosplane-cli--ipv4"); n == 0 {
		t.Fatal("the classifier is not on the switch")
	}
	out = run("apply", policy, "--socket", sock)
	if tg.sets.Load() != 1 || !strings.Contains(out, "0 ops") {
		t.Fatalf("second apply sent a Set (%d) or did work:\n%s", tg.sets.Load(), out)
	}

	agent := exec.Command(bin, "agent", policy, "--socket", sock, "--interval", "300ms", "--log-format", "json")
	var logs strings.Builder
	agent.Stdout, agent.Stderr = &logs, &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	status := func() map[string]any {
		var st struct {
			Targets []map[string]any `json:"targets"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := exec.Command(bin, "status", "--socket", sock, "-o", "json").Output()
			if err == nil && json.Unmarshal(out, &st) == nil && len(st.Targets) == 1 && st.Targets[0]["last_success"] != "0001-01-01T00:00:00Z" {
				return st.Targets[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no status from the agent: %v\n%s", err, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	st := status()
	if st["last_ops"].(float64) != 0 || tg.sets.Load() != 1 {
		t.Fatalf("the agent did not adopt the state: %v, %d Sets\n%s", st, tg.sets.Load(), logs.String())
	}

	// Drift: another client deletes one of our classifier terms; the agent
	// puts it back.
	termID := ""
	for p := range dump(t, c) {
		if i := strings.Index(p, "term[id="); i >= 0 && strings.Contains(p, "qosplane-cli--ipv4") && strings.Contains(p, "https") {
			termID = strings.TrimSuffix(strings.SplitN(p[i+len("term[id="):], "]", 2)[0], "]")
		}
	}
	if termID == "" {
		t.Fatal("no https term on the switch")
	}
	termPath := &gpb.Path{Origin: "openconfig", Elem: []*gpb.PathElem{{Name: "qos"}, {Name: "classifiers"},
		{Name: "classifier", Key: map[string]string{"name": "qosplane-cli--ipv4"}}, {Name: "terms"}, {Name: "term", Key: map[string]string{"id": termID}}}}
	if _, err := c.Set(context.Background(), &gpb.SetRequest{Delete: []*gpb.Path{termPath}}); err != nil {
		t.Fatal(err)
	}
	hasTerm := func() bool {
		for p := range dump(t, c) {
			if strings.Contains(p, "term[id="+termID+"]") {
				return true
			}
		}
		return false
	}
	if hasTerm() {
		t.Fatal("the drift injection did not delete the term")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !hasTerm() {
		if time.Now().After(deadline) {
			t.Fatalf("drift not repaired\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := run("status", "--socket", sock, "--rules"); !strings.Contains(out, "https/classifier/qosplane-cli--ipv4") {
		t.Errorf("status table:\n%s", out)
	}

	// SIGTERM: the agent stops and, by default, leaves the state.
	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := agent.Wait(); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, logs.String())
	}
	if countWith(dump(t, c), "qosplane-cli") == 0 {
		t.Fatal("SIGTERM removed the state")
	}
	run("remove", policy)
	if n := countWith(dump(t, c), "qosplane-cli"); n != 0 {
		t.Fatalf("remove left %d owned leaves", n)
	}
}
