package nic

import (
	"errors"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
	"github.com/qosplane/qosplane/offload"
)

// TestLabEchoInHW: hardware filters are added with NLM_F_ECHO and the
// kernel's reply must show them in hardware. A reply that does not (the
// echo altered through the test seam, standing in for a device that
// accepts without offloading) is a refusal and rolls the whole apply back;
// an untouched reply carries in_hw and in_hw_count 1.
func TestLabEchoInHW(t *testing.T) {
	const dev = "qtn1"
	needIface(t, dev)
	ctx := t.Context()
	owner := "qosplane-echo"
	d := labDriver(t, dev, owner, t.TempDir())
	removeAll(t, d)
	want := handPlan(dev, owner)
	var seen []tc.DumpedFilter
	d.c.tamperEcho = func(f *tc.DumpedFilter) {
		seen = append(seen, *f)
		f.Flags &^= tc.FlagInHW
		f.InHW = 0
	}
	err := d.Apply(ctx, want, offload.Diff(nil, want))
	if !errors.Is(err, offload.ErrRefused) || !strings.Contains(err.Error(), "not in hardware") {
		t.Fatalf("want a refusal from the echoed reply, got %v", err)
	}
	t.Logf("expected: %v", err)
	if len(seen) != 1 {
		t.Fatalf("%d echoed filters, want 1", len(seen))
	}
	s, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Flower) != 0 || s.Mqprio != nil {
		t.Fatalf("after the refusal the module holds %d flower rules, mqprio %+v", len(s.Flower), s.Mqprio)
	}
	for _, hk := range []string{"ingress", "egress"} {
		if n := len(tcFilters(t, dev, hk)); n != 0 {
			t.Fatalf("%d %s filters left after the refusal", n, hk)
		}
	}
	// Untouched replies: the rule is confirmed in hardware.
	seen = nil
	d.c.tamperEcho = func(f *tc.DumpedFilter) { seen = append(seen, *f) }
	converge(t, d, want)
	if len(seen) != 1 || seen[0].Flags&tc.FlagInHW == 0 || seen[0].InHW != 1 || seen[0].ClassID != tc.HWTCClassID(2) {
		t.Fatalf("echoed filters %+v, want one in_hw with in_hw_count 1 and hw_tc 2", seen)
	}
	d.c.tamperEcho = nil
	assertConverged(t, d, want)
}
