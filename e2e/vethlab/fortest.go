package vethlab

import (
	"context"
	"testing"
)

// ForTest builds a lab for test t, or skips t when the machine cannot run
// one (see CheckRoot). The lab is closed when t ends.
func ForTest(t testing.TB, mode Mode) *Lab {
	t.Helper()
	if why := CheckRoot(); why != "" {
		t.Skip(why)
	}
	l, err := New(context.Background(), mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	return l
}
