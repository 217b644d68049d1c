package kube

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFence checks the fencing rules: no write may start without a
// renewal younger than RenewDeadline, a write context dies when the last
// renewal gets older than RenewDeadline (cause errFenced), renewals keep it
// alive, and the end of the term cancels it at once.
func TestFence(t *testing.T) {
	r := &renewTracker{}
	f := &fence{lease: r, renewDeadline: 200 * time.Millisecond}
	if f.ready() {
		t.Fatal("ready without any renewal")
	}
	r.last = time.Now()
	if !f.ready() {
		t.Fatal("not ready right after a renewal")
	}
	ctx, cancel := f.ctx(context.Background())
	defer cancel()
	for range 4 { // renew every 100 ms for 400 ms: stays alive
		time.Sleep(100 * time.Millisecond)
		r.mu.Lock()
		r.last = time.Now()
		r.mu.Unlock()
		if ctx.Err() != nil {
			t.Fatalf("fenced despite renewals: %v", context.Cause(ctx))
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("not fenced after renewals stopped")
	}
	if !errors.Is(context.Cause(ctx), errFenced) || f.ready() {
		t.Errorf("cause %v, ready %v: want errFenced, not ready", context.Cause(ctx), f.ready())
	}

	r.mu.Lock()
	r.last = time.Now()
	r.mu.Unlock()
	term, end := context.WithCancel(context.Background())
	ctx2, cancel2 := f.ctx(term)
	defer cancel2()
	end()
	select {
	case <-ctx2.Done():
	case <-time.After(50 * time.Millisecond):
		t.Fatal("write context survived the end of the term")
	}
}
