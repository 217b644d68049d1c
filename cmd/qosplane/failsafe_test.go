package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/fallback/datapath"
)

// failModes are the pacer's fail-safe behaviours under test.
var failModes = []struct{ name, mode, onFailure string }{
	{"attach", "attach", ""},
	{"bridge-bypass", "bridge", "bypass"},
	{"bridge-block", "bridge", "block"},
}

// TestFailSafeKill kills the agent (SIGKILL) while traffic runs, in each
// mode: attach and bridge-bypass fail open (the outage is measured from the
// receiver's timestamps; ≤ 1 s asserted, LiveGrace expected, ~0 with tcx),
// bridge-block stays closed. A restarted agent adopts what the dead one
// left and shapes again at its first reconcile, never refusing with
// "already exists".
func TestFailSafeKill(t *testing.T) {
	for _, m := range failModes {
		t.Run(m.name, func(t *testing.T) {
			l := newFailLab(t, m.mode, m.onFailure)
			ctx := context.Background()
			l.startAgent(ctx)
			l.wantFailSafe(ctx, m.mode, m.onFailure)
			l.wantShaped("agent up")

			killAt := l.sendAround(300*time.Millisecond, 1500*time.Millisecond, func() time.Time { return l.signalAgent(syscall.SIGKILL) })
			gap, n := l.outage(killAt.Add(-50*time.Millisecond), killAt.Add(1500*time.Millisecond))
			if m.onFailure == "block" {
				// Frames already in flight may land just after the kill.
				_, late := l.outage(killAt.Add(100*time.Millisecond), killAt.Add(1500*time.Millisecond))
				t.Logf("RESULT failsafe kernel=%s mode=%s kill -9: %d probes passed from 100 ms after the kill (want 0)", kernelName(), m.name, late)
				if late > 0 {
					t.Errorf("block mode: %d probes passed after the agent died", late)
				}
			} else {
				t.Logf("RESULT failsafe kernel=%s mode=%s kill -9: outage %.1f ms (%d probes in the 1.55 s around the kill)", kernelName(), m.name, float64(gap)/1e6, n)
				if gap > time.Second {
					t.Errorf("outage after kill -9: %v, want ≤ 1 s", gap)
				}
				l.wantUnshaped("agent killed")
			}

			restart := time.Now()
			l.startAgent(ctx)
			t.Logf("RESULT failsafe kernel=%s mode=%s restart: shaping back after %.0f ms (one reconcile)", kernelName(), m.name, float64(time.Since(restart))/1e6)
			l.wantFirstReconcileOK(ctx)
			l.wantShaped("agent restarted")
			l.wantReach("agent restarted")
			if l.logsContain("already exists") {
				t.Errorf("an agent log says \"already exists\"")
			}

			l.signalAgent(syscall.SIGTERM)
			if m.onFailure == "bypass" {
				// A clean stop leaves the bypass forwarding (the next agent
				// adopts it); `qosplane remove` takes it away.
				l.wantReach("bypass after a clean stop")
				l.removeAll()
			}
			l.wantNothingLeft("after the last stop")
		})
	}
}

// TestFailSafeStop stops the agent (SIGSTOP) for 2 s: in attach and
// bridge-bypass mode the kernel takes the pacer for dead after LiveGrace
// and traffic flows unshaped; after SIGCONT it is shaped again.
func TestFailSafeStop(t *testing.T) {
	for _, m := range failModes[:2] {
		t.Run(m.name, func(t *testing.T) {
			l := newFailLab(t, m.mode, m.onFailure)
			ctx := context.Background()
			l.startAgent(ctx)
			l.wantShaped("agent up")
			done := make(chan struct{})
			start := time.Now()
			go func() {
				l.send(3 * time.Second)
				close(done)
			}()
			time.Sleep(500 * time.Millisecond)
			stopAt := l.signalAgent(syscall.SIGSTOP)
			time.Sleep(2 * time.Second)
			contAt := l.signalAgent(syscall.SIGCONT)
			<-done
			time.Sleep(100 * time.Millisecond)
			gap, _ := l.outage(start.Add(100*time.Millisecond), contAt.Add(400*time.Millisecond))
			during := l.bulkRateIn(stopAt.Add(500*time.Millisecond), contAt)
			t.Logf("RESULT failsafe kernel=%s mode=%s SIGSTOP 2 s: outage %.1f ms, bulk while stopped %.2f Mbit/s (class %.0f, offered %.0f)",
				kernelName(), m.name, float64(gap)/1e6, during/1e6, bulkRate/1e6, bulkOffered/1e6)
			if gap > time.Second {
				t.Errorf("outage while stopped: %v, want ≤ 1 s", gap)
			}
			if during < 0.8*bulkOffered {
				t.Errorf("bulk while the agent was stopped: %.2f Mbit/s, want it unshaped (~%.0f)", during/1e6, bulkOffered/1e6)
			}
			l.wantShaped("after SIGCONT")
			st, err := agent.FetchStatus(ctx, l.sock)
			if err != nil || len(st.Targets) != 1 || st.Targets[0].LastError != "" {
				t.Errorf("status after SIGCONT: %+v, %v", st, err)
			}
			l.signalAgent(syscall.SIGTERM)
			if m.onFailure == "bypass" {
				l.removeAll()
			}
			l.wantNothingLeft("after the last stop")
		})
	}
}

// TestFailSafeChaos starts and kills (SIGKILL, at a random moment while
// traffic runs) the agent in attach mode 20 times: after each kill the
// host reaches its peer; after a last clean stop nothing of qosplane's is
// left on the host.
func TestFailSafeChaos(t *testing.T) {
	l := newFailLab(t, "attach", "")
	ctx := context.Background()
	var outages []time.Duration
	for i := range 20 {
		l.startAgent(ctx)
		wait := time.Duration(rand.Int64N(int64(400 * time.Millisecond)))
		killAt := l.sendAround(wait, 600*time.Millisecond, func() time.Time { return l.signalAgent(syscall.SIGKILL) })
		gap, n := l.outage(killAt, killAt.Add(600*time.Millisecond))
		if n < 100 {
			t.Errorf("kill %d (%v into the traffic): %d probes after the kill: the host does not reach its peer\n%s", i+1, wait, n, l.log())
		}
		outages = append(outages, gap)
	}
	t.Logf("RESULT failsafe kernel=%s chaos: 20 kills, outage median %.1f ms, max %.1f ms", kernelName(), float64(median(outages))/1e6, float64(slices.Max(outages))/1e6)
	l.startAgent(ctx)
	l.wantShaped("after the chaos")
	l.signalAgent(syscall.SIGTERM)
	l.wantReach("after the clean stop")
	l.wantNothingLeft("after the clean stop")
	if l.logsContain("already exists") {
		t.Errorf("an agent log says \"already exists\"")
	}
}

// wantFailSafe checks what status says of the fail-safe in this mode.
func (l *failLab) wantFailSafe(ctx context.Context, mode, onFailure string) {
	l.t.Helper()
	st, err := agent.FetchStatus(ctx, l.sock)
	if err != nil {
		l.t.Fatal(err)
	}
	fs := st.Targets[0].FailSafe
	want := onFailure
	if mode == "attach" {
		want = wantSteering(l.t)
	}
	if !strings.Contains(fs, want) {
		l.t.Errorf("status fail_safe %q, want it to name %q", fs, want)
	}
	if !strings.Contains(fs, datapath.LiveGrace.String()) && onFailure != "block" {
		l.t.Errorf("status fail_safe %q does not give the liveness grace %v", fs, datapath.LiveGrace)
	}
}

// wantFirstReconcileOK fails if the agent's reconciles failed before
// it shaped (e.g. refusing an earlier agent's objects).
func (l *failLab) wantFirstReconcileOK(ctx context.Context) {
	l.t.Helper()
	st, err := agent.FetchStatus(ctx, l.sock)
	if err != nil {
		l.t.Fatal(err)
	}
	if tg := st.Targets[0]; tg.LastError != "" || !tg.LastErrorTime.IsZero() || tg.Applies != 1 {
		l.t.Errorf("restarted agent: last error %q at %v, %d applies: want the first reconcile to succeed", tg.LastError, tg.LastErrorTime, tg.Applies)
	}
}

// removeAll runs `qosplane remove` in the agent's namespace (a process:
// the command works from several goroutines, which a namespace switch of
// one thread would not cover).
func (l *failLab) removeAll() {
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command(l.ip, "netns", "exec", l.agentNS, exe, "remove", l.policy)
	cmd.Env = append(os.Environ(), envAsMain+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("qosplane remove: %v\n%s", err, out)
	}
}
