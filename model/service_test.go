package model

import "testing"

// TestBoundsDelay: the service types that ask for low delay, per
// qos-semantics.md (controlled-load, guaranteed, network-control).
func TestBoundsDelay(t *testing.T) {
	want := map[ServiceType]bool{
		BestEffort: false, Qualitative: false,
		ControlledLoad: true, Guaranteed: true, NetworkControl: true,
	}
	if len(want) != len(serviceDefaults) {
		t.Fatalf("%d service types, the test covers %d", len(serviceDefaults), len(want))
	}
	for s, w := range want {
		if got := s.BoundsDelay(); got != w {
			t.Errorf("%s: BoundsDelay = %v, want %v", s, got, w)
		}
	}
}
