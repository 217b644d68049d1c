package gnmi

import "testing"

// TestOwnedIsExact checks that one policy's prefix never claims another
// policy's names, even when one policy name extends the other.
func TestOwnedIsExact(t *testing.T) {
	for _, tc := range []struct {
		owner, name string
		want        bool
	}{
		{"qosplane-a", "qosplane-a", true},
		{"qosplane-a", "qosplane-a--voice", true},
		{"qosplane-a", "qosplane-a--ipv4", true},
		{"qosplane-a", "qosplane-a-b", false},
		{"qosplane-a", "qosplane-a-b--voice", false},
		{"qosplane-a", "qosplane-ab--voice", false},
		{"qosplane-a", "other", false},
	} {
		if got := owned(tc.owner, tc.name); got != tc.want {
			t.Errorf("owned(%q, %q) = %v, want %v", tc.owner, tc.name, got, tc.want)
		}
	}
}
