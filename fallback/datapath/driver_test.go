package datapath_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/fallback/datapath"
	"github.com/qosplane/qosplane/offload"
	"golang.org/x/sys/unix"
)

func labPolicy(rate, iface, mode, peer, proto string, port int) string {
	fb := "fallback: {mode: " + mode + "}"
	if peer != "" {
		fb = "fallback: {mode: " + mode + ", peer: " + peer + "}"
	}
	return fmt.Sprintf(`name: drv
classes:
  - {name: c, service: best-effort, rate: %s, non-conforming: shape}
flows:
  - {name: f, class: c, match: {protocol: %s, dst-port: %d}}
targets:
  - {name: t, kind: nic, interface: %s, profile: none, capacity: 10Gbit, %s}
`, rate, proto, port, iface, fb)
}

func compilePlan(t *testing.T, text string) *offload.TargetPlan {
	t.Helper()
	tp, err := vethlab.CompilePolicyText(t.Name()+".yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestDriverSwap: Apply a 10 Mbit/s plan in bridge mode, then a 25 Mbit/s
// one: the second Apply swaps the pacer live (the same sockets go on
// counting) and the rate follows (1 s window ±1%). Remove stops it.
func TestDriverSwap(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	p10 := compilePlan(t, labPolicy("10Mbit", vethlab.PacerIn, "bridge", vethlab.PacerOut, "udp", 5001))
	p25 := compilePlan(t, labPolicy("25Mbit", vethlab.PacerIn, "bridge", vethlab.PacerOut, "udp", 5001))
	d, err := datapath.NewDriver(p10, testLog())
	if err != nil {
		t.Fatal(err)
	}
	inNS := func(f func() error) {
		t.Helper()
		if err := l.Pacer.Do(f); err != nil {
			t.Fatal(err)
		}
	}
	inNS(func() error { return d.Apply(ctx, p10, offload.Diff(nil, p10)) })
	t.Cleanup(func() { _ = l.Pacer.Do(d.Close) })
	cur, err := d.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ops := offload.Diff(cur, p10); len(ops) != 0 {
		t.Errorf("Current after Apply differs from the plan: %d ops, first %+v", len(ops), ops[0])
	}
	flows := []vethlab.Flow{{Name: "f", DstPort: 5001, Rate: 40e6, Size: 1500}}
	_, res, _ := sendAndReceive(t, l, flows, 2200*time.Millisecond)
	w1 := res[0].WindowRates(1, 2)[0]
	before, _, _ := d.Stats()
	inNS(func() error { return d.Apply(ctx, p25, offload.Diff(cur, p25)) })
	_, res, _ = sendAndReceive(t, l, flows, 2200*time.Millisecond)
	w2 := res[0].WindowRates(1, 2)[0]
	after, _, _ := d.Stats()
	t.Logf("stalls %d, kernel drops %d", after.Stalls, after.KernelDrops)
	t.Logf("RESULT swap: 10Mbit plan window %.3f Mbit/s, after live swap to 25Mbit %.3f Mbit/s", w1/1e6, w2/1e6)
	if w1 < 9.9e6 || w1 > 10.1e6 {
		t.Errorf("10 Mbit/s plan: window at %.3f Mbit/s", w1/1e6)
	}
	if w2 < 24.75e6 || w2 > 25.25e6 {
		t.Errorf("after swap to 25 Mbit/s: window at %.3f Mbit/s", w2/1e6)
	}
	if after.RxPackets <= before.RxPackets || before.RxPackets == 0 {
		t.Errorf("datapath counters did not carry on across the swap: %d then %d", before.RxPackets, after.RxPackets)
	}
	c, err := d.Counters(ctx)
	if err != nil || c.Classes["c"].Packets == 0 {
		t.Errorf("counters after swap: %+v, %v", c, err)
	}
	inNS(func() error { return d.Remove(ctx) })
	if cur, _ := d.Current(ctx); cur.Pacer != nil || len(cur.Classes) != 0 {
		t.Errorf("Current after Remove: %+v", cur)
	}
}

// TestDriverAttach attaches the pacer to the app namespace's own interface
// (kernel-routed lab): iperf3 TCP from app is shaped to the class's 20
// Mbit/s, and Remove restores the interface exactly (no clsact, no veth),
// after which TCP runs unshaped again.
func TestDriverAttach(t *testing.T) {
	if why := vethlab.CheckRoot(); why != "" {
		t.Skip(why)
	}
	l, err := vethlab.New(context.Background(), vethlab.Route)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ctx := context.Background()
	tp := compilePlan(t, labPolicy("20Mbit", vethlab.AppIf, "attach", "", "tcp", 5601))
	d, err := datapath.NewDriver(tp, testLog())
	if err != nil {
		t.Fatal(err)
	}
	qdiscs := func() string {
		out, err := l.App.Run(ctx, "sh", "-c", "tc qdisc show dev "+vethlab.AppIf+"; ip -o link show | awk '{print $2}'")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	orig := qdiscs()
	if err := l.App.Do(func() error { return d.Apply(ctx, tp, nil) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.App.Do(d.Close) })
	during := qdiscs()
	if !strings.Contains(during, "qpr") {
		t.Errorf("attach did not install the veth pair:\n%s", during)
	}
	// tcx (Linux 6.6+) steers through a link; older kernels through a
	// cls_bpf filter on clsact.
	if fs := d.FailSafe(); !strings.Contains(fs, wantSteering(t)) {
		t.Errorf("fail-safe %q, want steering %q on this kernel", fs, wantSteering(t))
	}
	if wantSteering(t) == "cls_bpf" && !strings.Contains(during, "clsact") {
		t.Errorf("cls_bpf steering without clsact:\n%s", during)
	}
	shaped, err := l.Iperf(ctx, 5601, 1, 4*time.Second, "-O", "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.App.Do(func() error { return d.Remove(ctx) }); err != nil {
		t.Fatal(err)
	}
	after := qdiscs()
	free, err := l.Iperf(ctx, 5601, 1, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RESULT attach: TCP shaped %.3f Mbit/s (class 20 Mbit/s), after Remove %.1f Mbit/s", shaped.Total/1e6, free.Total/1e6)
	if shaped.Total < 0.90*20e6 || shaped.Total > 20e6 {
		t.Errorf("attached TCP goodput %.3f Mbit/s, want 18-20", shaped.Total/1e6)
	}
	if after != orig {
		t.Errorf("Remove did not restore the interface:\nbefore:\n%s\nafter:\n%s", orig, after)
	}
	if free.Total < 100e6 {
		t.Errorf("after Remove TCP at %.1f Mbit/s: still shaped?", free.Total/1e6)
	}
}

// wantSteering is the attach mode steering this kernel must use: "tcx" from
// Linux 6.6, "cls_bpf" before.
func wantSteering(t *testing.T) string {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release, err)
	}
	if major > 6 || major == 6 && minor >= 6 {
		return "tcx"
	}
	return "cls_bpf"
}
