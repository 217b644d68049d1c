package vethlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSweepStale: a lab namespace of a process that has exited is deleted
// by the next lab; one of a live process (this one) and one not named like
// a lab's are left alone.
func TestSweepStale(t *testing.T) {
	if why := CheckRoot(); why != "" {
		t.Skip(why)
	}
	ctx := context.Background()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("qpsweep-%d-1-pacer", dead.Process.Pid)
	live := fmt.Sprintf("qpsweep-%d-99-peer", os.Getpid())
	other := fmt.Sprintf("qpsweep%d-other", os.Getpid())
	for _, n := range []string{stale, live, other} {
		if _, err := run(ctx, "ip", "netns", "add", n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = run(context.Background(), "ip", "netns", "del", n) })
	}
	sweepStale(ctx)
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	has := func(n string) bool {
		for _, l := range strings.Split(out, "\n") {
			if name, _, _ := strings.Cut(strings.TrimSpace(l), " "); name == n {
				return true
			}
		}
		return false
	}
	if has(stale) {
		t.Errorf("%s (its process exited) is still there", stale)
	}
	if !has(live) || !has(other) {
		t.Errorf("sweep deleted a live lab's or a foreign namespace: %s %v, %s %v", live, has(live), other, has(other))
	}
}
