package veth

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/offload"
)

// realtime reports whether scenarios may run threads SCHED_FIFO: yes
// unless QOSPLANE_LAB_NORT=1. The pacer's shaping thread then always does,
// as a host that dedicates it would. The lab's generator and receiver do
// only in light scenarios that measure delay up to the receiver (a receiver
// woken late adds its own latency), or everywhere with QOSPLANE_LAB_RT=all:
// two realtime lab threads busy on two cores starve the runtime thread that
// ends the generator's sleeps, and the offered load then stalls for tens of
// milliseconds, longer than a class queue lasts.
func realtime() bool { return os.Getenv("QOSPLANE_LAB_NORT") != "1" }

// newLab builds a lab for the test or skips when the machine cannot.
func newLab(t *testing.T, mode vethlab.Mode) *vethlab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("veth lab scenarios take seconds each; skipped with -short")
	}
	l := vethlab.ForTest(t, mode)
	l.Realtime = os.Getenv("QOSPLANE_LAB_RT") == "all"
	return l
}

// policy returns a lab policy: the given classes and flows sections and a
// target on the pacer's interfaces with capacity (the pacer's port rate).
func policy(capacity, classes, flows string) string {
	capLine := "    capacity: " + capacity + "\n"
	if capacity == "" {
		capLine = "" // no port rate
	}
	return fmt.Sprintf(`name: e2e
marking:
  non-conforming: {dscp: 8, pcp: 1}
classes:
%s
flows:
%s
targets:
  - name: lab
    kind: nic
    interface: %s
    profile: none
%s    fallback: {mode: bridge, peer: %s}
`, indent(classes), indent(flows), vethlab.PacerIn, capLine, vethlab.PacerOut)
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func compile(t *testing.T, text string) *offload.TargetPlan {
	t.Helper()
	tp, err := vethlab.CompilePolicyText(t.Name()+".yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\npolicy:\n%s", err, text)
	}
	return tp
}

// result is one measured run.
type result struct {
	sent []vethlab.SentStats
	got  map[uint16]*vethlab.FlowResult
	rep  *vethlab.PacerReport // pacer runs only
	cpu  time.Duration        // pacer CPU during the send (process CPU clock)
	// cpuTicks is the same from the tick-sampled /proc figure.
	cpuTicks time.Duration
	d        time.Duration
	// rxDrops are frames dropped at the lab receiver's socket.
	rxDrops uint64
}

func (r *result) flow(i int) *vethlab.FlowResult {
	if f := r.got[uint16(i)]; f != nil {
		return f
	}
	return &vethlab.FlowResult{}
}

// loss is the fraction of flow i's packets that did not arrive.
func (r *result) loss(i int) float64 {
	if r.sent[i].Packets == 0 {
		return 0
	}
	return 1 - float64(r.flow(i).Packets)/float64(r.sent[i].Packets)
}

// measure runs the generator for d with the receiver counting.
func measure(t *testing.T, l *vethlab.Lab, flows []vethlab.Flow, d time.Duration, record map[uint16]uint8) *result {
	t.Helper()
	rc, err := l.StartReceiver(record)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UnixNano()
	rc.Reset(t0)
	sent, _, err := l.Send(context.Background(), flows, d)
	time.Sleep(100 * time.Millisecond) // let queues drain
	got, _, rerr := rc.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	if n := rc.Drops(); n > 0 {
		t.Logf("the lab's receiver socket dropped %d frames (receiver behind, not the shaper)", n)
	}
	return &result{sent: sent, got: got, d: d, rxDrops: rc.Drops()}
}

// pacerRun measures flows through a pacer process running plan tp.
func pacerRun(t *testing.T, l *vethlab.Lab, tp *offload.TargetPlan, flows []vethlab.Flow, d time.Duration, record map[uint16]uint8) *result {
	return pacerRunWith(t, l, tp, vethlab.PacerConfig{Realtime: realtime()}, flows, d, record)
}

// pacerRunWith is pacerRun with the pacer process's configuration (tp nil:
// the bump forwards unshaped).
func pacerRunWith(t *testing.T, l *vethlab.Lab, tp *offload.TargetPlan, cfg vethlab.PacerConfig, flows []vethlab.Flow, d time.Duration, record map[uint16]uint8) *result {
	t.Helper()
	p := startPacer(t, l, tp, cfg)
	c0, t0 := pacerCPU(t, p)
	r := measure(t, l, flows, d, record)
	c1, t1 := pacerCPU(t, p)
	rep, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	r.rep, r.cpu, r.cpuTicks = rep, time.Duration(c1-c0), time.Duration(t1-t0)
	return r
}

// startPacer starts a pacer process in l, stopped when the test ends if the
// test has not stopped it (Stop is safe to call twice).
func startPacer(t *testing.T, l *vethlab.Lab, tp *offload.TargetPlan, cfg vethlab.PacerConfig) *vethlab.PacerProc {
	t.Helper()
	p, err := l.StartPacer(context.Background(), tp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop() })
	return p
}

// pacerCPU reads the pacer process's CPU time so far in ns, from its
// process CPU clock (exact) and from the tick-sampled /proc figure. A failed
// read fails the test: taken as 0 it would pass for an idle pacer.
func pacerCPU(t *testing.T, p *vethlab.PacerProc) (exact, ticks int64) {
	t.Helper()
	exact, err := p.CPUExact()
	if err == nil {
		ticks, err = p.CPU()
	}
	if err != nil {
		t.Fatalf("pacer CPU time: %v", err)
	}
	return exact, ticks
}

// kernelRun measures flows through the route lab after setup installed a
// kernel shaper on the pacer namespace's egress veth.
func kernelRun(t *testing.T, l *vethlab.Lab, setup func(context.Context) error, flows []vethlab.Flow, d time.Duration, record map[uint16]uint8) *result {
	t.Helper()
	if err := setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := measure(t, l, flows, d, record)
	if err := l.KernelClear(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// report logs one result line for run.sh/bench.sh to collect.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("RESULT %s "+format, append([]any{t.Name()}, args...)...)
}

func mbit(x float64) string { return fmt.Sprintf("%.3fMbit/s", x/1e6) }

func pct(x float64) string { return fmt.Sprintf("%.2f%%", x*100) }

// checker collects one attempt's assertion failures.
type checker struct{ errs []string }

func (c *checker) Errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// attempts is how often a timing scenario runs before its failures count:
// the lab shares two cores with whatever else the machine runs, and a
// stall of a few tens of milliseconds anywhere (a softirq deferred to
// ksoftirqd, the generator descheduled) spoils a 1 s window. Every attempt's
// numbers are logged; the test fails when no attempt meets the tolerances.
const attempts = 3

// retry runs f until an attempt passes or attempts are used up, then
// reports the last attempt's failures.
func retry(t *testing.T, f func(c *checker)) {
	t.Helper()
	var c checker
	for i := 1; i <= attempts; i++ {
		c = checker{}
		f(&c)
		if len(c.errs) == 0 {
			if i > 1 {
				t.Logf("passed on attempt %d of %d", i, attempts)
			}
			return
		}
		t.Logf("attempt %d of %d missed: %s", i, attempts, strings.Join(c.errs, "; "))
	}
	for _, e := range c.errs {
		t.Error(e)
	}
}
