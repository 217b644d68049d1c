package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentStatusWatch runs the agent on a policy whose NIC does not exist
// here and reads its status: the failing target is reported with its error
// (the socket serves whatever the targets do), once and with --watch.
func TestAgentStatusWatch(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(policy, []byte("name: w\nclasses: [{name: c}]\ntargets: [{name: ghost, kind: nic, interface: qpghost0, profile: ice}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		code, _, _ := runCLIContext(ctx, "agent", policy, "--socket", sock, "--log-level", "error")
		done <- code
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("agent exit %d", code)
		}
	}()
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; {
		var code int
		code, out, _ = runCLI("status", "--socket", sock)
		if code == exitOK && strings.Contains(out, "FAILING") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failing target in the status:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out, "target ghost (nic, profile not probed yet): FAILING") || !strings.Contains(out, "qpghost0") {
		t.Errorf("status:\n%s", out)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer wcancel()
	code, out, _ := runCLIContext(wctx, "status", "--socket", sock, "--watch", "--interval", "50ms")
	if code != exitOK || strings.Count(out, "\033[H\033[2J") < 2 || strings.Count(out, "target ghost") < 2 {
		t.Errorf("--watch: exit %d, %d refreshes:\n%q", code, strings.Count(out, "\033[H\033[2J"), out)
	}
	if code, _, errOut := runCLI("status", "--socket", filepath.Join(dir, "nobody.sock")); code != exitInvalid || !strings.Contains(errOut, "no agent answers") {
		t.Errorf("status without an agent: exit %d: %s", code, errOut)
	}
}

// TestStatusWatchInterrupted: an agent that does not answer in time is an
// error for a single status, but a --watch interrupted while it waits for
// the answer ends normally.
func TestStatusWatchInterrupted(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "slow.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accept and never answer
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"status", "--socket", sock, "--watch"}, exitOK},
		{[]string{"status", "--socket", sock}, exitInvalid},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		code, _, errOut := runCLIContext(ctx, tc.args...)
		cancel()
		if code != tc.want {
			t.Errorf("%v, interrupted while the agent is silent: exit %d, want %d (%s)", tc.args, code, tc.want, errOut)
		}
	}
}
