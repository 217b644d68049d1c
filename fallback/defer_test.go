package fallback

import (
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// TestDeferArrivals: arrivals may wait only while every class at or above
// the highest backlogged priority is held back by its own meter with a
// sustained backlog (at least the deferral's length at its rate).
func TestDeferArrivals(t *testing.T) {
	const d = time.Millisecond // 1000 B at 8 Mbit/s
	classes := []offload.ClassPlan{
		classPlan("low", 0, 8_000_000, model.Shape),
		classPlan("mid-a", 3, 8_000_000, model.Shape), classPlan("mid-b", 3, 8_000_000, model.Shape),
		classPlan("high", 7, 0, model.Shape),
	}
	p := newPacer(t, plan(0, classes, portRule("l", "low", 1), portRule("a", "mid-a", 2), portRule("b", "mid-b", 3), portRule("h", "high", 4)),
		Config{MaxDelay: time.Second})
	offer := func(port uint16, frames int) func() {
		return func() {
			for range frames {
				p.Enqueue(pkt(t, p, udp4(9, port, 1000)), 0)
			}
		}
	}
	steps := []struct {
		what string
		do   func()
		want bool
	}{
		{"nothing queued", func() {}, false},
		// 10 KB buckets: 100 frames of 1000 B leave ~90 queued.
		{"low backlogged, mid and high idle", offer(1, 100), false},
		{"mid-a backlogged, mid-b idle", offer(2, 100), false},
		{"both mid backlogged, high idle", offer(3, 100), false},
	}
	for _, s := range steps {
		s.do()
		drain(p, 0, nil)
		if got := p.DeferArrivals(d); got != s.want {
			t.Fatalf("%s: DeferArrivals = %v, want %v", s.what, got, s.want)
		}
	}

	// A plan whose top class is the one backlogged: arrivals may wait while
	// its queue holds at least d at its rate.
	top := newPacer(t, plan(0, []offload.ClassPlan{classPlan("low", 0, 0, model.Shape), classPlan("top", 5, 8_000_000, model.Shape)},
		portRule("l", "low", 1), portRule("t", "top", 2)), Config{MaxDelay: time.Second})
	for range 100 {
		top.Enqueue(pkt(t, top, udp4(9, 2, 1000)), 0)
	}
	_, next := drain(top, 0, nil)
	if next == 0 || !top.DeferArrivals(d) {
		t.Fatalf("top class backlogged (next release %d): DeferArrivals = false, want true", next)
	}
	// A backlog shorter than the deferral is a burst: no waiting.
	if top.DeferArrivals(time.Second) {
		t.Fatal("~90 KB queued at 1 MB/s, deferral 1 s: DeferArrivals = true, want false")
	}
	// Once its backlog has left, arrivals wake the caller again.
	drainAll(top, next, nil)
	if top.DeferArrivals(d) {
		t.Fatal("after the backlog drained: DeferArrivals = true, want false")
	}

	// A class held back by the port, not by its own meter (no rate behind
	// an 8 Mbit/s port): a higher class's arrival could be sent at the next
	// port credit, so no waiting.
	port := newPacer(t, plan(8_000_000, []offload.ClassPlan{classPlan("all", 0, 0, model.Shape)}, portRule("a", "all", 1)), Config{MaxDelay: time.Second})
	for range 100 {
		port.Enqueue(pkt(t, port, udp4(9, 1, 1000)), 0)
	}
	drain(port, 0, nil)
	if port.DeferArrivals(d) {
		t.Fatal("class backlogged behind the port: DeferArrivals = true, want false")
	}
}

// TestCoalesceArrivals: arrivals may be read in batches until a frame of a
// class whose service type bounds delay arrives, and again UrgentHold after
// the last such frame; best-effort and qualitative frames never stop it.
func TestCoalesceArrivals(t *testing.T) {
	be := classPlan("be", 0, 0, model.Shape)
	be.Service = model.BestEffort
	ql := classPlan("ql", 1, 0, model.Shape)
	ql.Service = model.Qualitative
	gt := classPlan("gt", 5, 8_000_000, model.Shape)
	gt.Service = model.Guaranteed
	p := newPacer(t, plan(0, []offload.ClassPlan{be, ql, gt}, portRule("b", "be", 1), portRule("q", "ql", 2), portRule("g", "gt", 3)),
		Config{})
	const t0 = int64(5 * time.Second)
	steps := []struct {
		what string
		port uint16 // 0: no arrival
		now  int64
		want bool
	}{
		{"nothing arrived", 0, t0, true},
		{"best-effort frame", 1, t0, true},
		{"qualitative frame", 2, t0 + 1, true},
		{"guaranteed frame", 3, t0 + 2, false},
		{"best-effort frame within the hold", 1, t0 + int64(UrgentHold)/2, false},
		{"no guaranteed frame for the hold", 0, t0 + 2 + int64(UrgentHold), false},
		{"no guaranteed frame for longer than the hold", 0, t0 + 3 + int64(UrgentHold), true},
	}
	for _, s := range steps {
		if s.port != 0 {
			p.Enqueue(pkt(t, p, udp4(9, s.port, 500)), s.now)
			drain(p, s.now, nil)
		}
		if got := p.CoalesceArrivals(s.now); got != s.want {
			t.Fatalf("%s: CoalesceArrivals = %v, want %v", s.what, got, s.want)
		}
	}
}
