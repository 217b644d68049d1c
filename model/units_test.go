package model

import (
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
		err  string
	}{
		{"100Mbit", 100e6, ""},
		{"2.5Gbit", 2.5e9, ""},
		{"64kbit", 64e3, ""},
		{"1Tbit", 1e12, ""},
		{"10Gbps", 10e9, ""},
		{"500bit", 500, ""},
		{"0.001Gbit", 1e6, ""},
		{" 1 Gbit ", 1e9, ""},
		{"100", 0, "has no unit"},
		{"10MBps", 0, "bits per second"},
		{"1.5bit", 0, "not a whole number"},
		{"1furlong", 0, "unknown rate unit"},
		{"Gbit", 0, "missing number"},
		{"1.2.3Gbit", 0, "malformed"},
		{"99999999999Tbit", 0, "too many"},
	} {
		got, err := ParseRate(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRate(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tc.in, uint64(got), err, uint64(tc.want))
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  string
	}{
		{"1500B", 1500, ""},
		{"64KiB", 65536, ""},
		{"1MiB", 1 << 20, ""},
		{"1.5KiB", 1536, ""},
		{"2kB", 2000, ""},
		{"1GB", 1e9, ""},
		{"64Kb", 0, "ends in B"},
		{"64", 0, "has no unit"},
		{"0.3B", 0, "not a whole number"},
		{"1XB", 0, "unknown size unit"},
	} {
		got, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSize(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tc.in, uint64(got), err, uint64(tc.want))
		}
	}
}

// TestUnitsRoundTrip checks that String writes what Parse reads back.
func TestUnitsRoundTrip(t *testing.T) {
	for _, r := range []Rate{0, 1, 999, 1000, 1500, 64e3, 2.5e9, 33_333_000, 123_456_789, 1e12, 1<<64 - 1} {
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Errorf("rate %d -> %q -> %d, %v", uint64(r), r.String(), uint64(back), err)
		}
	}
	for _, s := range []Size{0, 1, 1500, 1024, 65536, 1 << 20, 3 << 30, 1000} {
		back, err := ParseSize(s.String())
		if err != nil || back != s {
			t.Errorf("size %d -> %q -> %d, %v", uint64(s), s.String(), uint64(back), err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100Mbit", "2.5Gbit", "1.5bit", "", "9999999999999999999Tbit", ".5kbit"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, uint64(r), r.String(), uint64(back), err)
		}
	})
}

func TestRateApprox(t *testing.T) {
	for r, want := range map[Rate]string{19_991_811: "19.99Mbit", 70_190_491: "70.19Mbit", 1e9: "1Gbit", 999: "999bit", 2_500_000_000: "2.5Gbit"} {
		if got := r.Approx(); got != want {
			t.Errorf("%d.Approx() = %q, want %q", uint64(r), got, want)
		}
	}
}
