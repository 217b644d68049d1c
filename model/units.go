package model

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Rate is a data rate in bits per second. The zero Rate means "not set"
// (for a peak rate: unlimited).
type Rate uint64

// Size is an amount of data in bytes. The zero Size means "not set".
type Size uint64

// Bytes returns r in bytes per second, rounded down.
func (r Rate) Bytes() uint64 { return uint64(r) / 8 }

var rateUnits = []struct {
	suffix string
	mult   uint64
}{
	// Longest suffixes first so that "Mbps" is not read as "M" + "bps".
	{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	{"tbps", 1e12}, {"gbps", 1e9}, {"mbps", 1e6}, {"kbps", 1e3}, {"bps", 1},
}

var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"b", 1},
}

// ParseRate reads a rate as people write it: a decimal number and a unit of
// bits per second, "100Mbit", "2.5Gbit", "64kbit", "10Gbps". SI prefixes are
// powers of 1000. A bare number is refused: a rate without a unit is too easy
// to misread by a factor of eight.
func ParseRate(s string) (Rate, error) {
	num, unit := splitUnit(s)
	if unit == "" {
		return 0, fmt.Errorf("%q has no unit (write e.g. 100Mbit or 2.5Gbit)", s)
	}
	lu := strings.ToLower(unit)
	if strings.HasSuffix(unit, "Bps") || strings.HasSuffix(unit, "byte") {
		return 0, fmt.Errorf("%q: rates are written in bits per second (bit, kbit, Mbit, Gbit)", s)
	}
	for _, u := range rateUnits {
		if lu == u.suffix {
			v, err := scaleDecimal(num, u.mult)
			if err != nil {
				return 0, fmt.Errorf("%s: %w bits per second", s, err)
			}
			return Rate(v), nil
		}
	}
	return 0, fmt.Errorf("%q: unknown rate unit %q (use bit, kbit, Mbit, Gbit or Tbit)", s, unit)
}

// ParseSize reads a size as people write it: "1500B", "64KiB", "1.5MB".
// KiB, MiB and GiB are powers of 1024; kB, MB and GB powers of 1000.
func ParseSize(s string) (Size, error) {
	num, unit := splitUnit(s)
	if unit == "" {
		return 0, fmt.Errorf("%q has no unit (write e.g. 1500B or 64KiB)", s)
	}
	if !strings.HasSuffix(unit, "B") {
		return 0, fmt.Errorf("%q: sizes are in bytes, so the unit ends in B (write e.g. 64KiB or 1500B; b would be bits)", s)
	}
	lu := strings.ToLower(unit)
	for _, u := range sizeUnits {
		if lu == u.suffix {
			v, err := scaleDecimal(num, u.mult)
			if err != nil {
				return 0, fmt.Errorf("%s: %w bytes", s, err)
			}
			return Size(v), nil
		}
	}
	return 0, fmt.Errorf("%q: unknown size unit %q (use B, KiB, MiB, GiB, kB, MB or GB)", s, unit)
}

func splitUnit(s string) (num, unit string) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

var errNotWhole = errors.New("not a whole number of")

// scaleDecimal returns num*mult exactly, where num is a non-negative decimal
// such as "2.5". It refuses results that are not whole or overflow uint64.
func scaleDecimal(num string, mult uint64) (uint64, error) {
	if num == "" {
		return 0, errors.New("missing number of")
	}
	intPart, frac, _ := strings.Cut(num, ".")
	if intPart == "" {
		intPart = "0"
	}
	if strings.Contains(frac, ".") {
		return 0, errors.New("malformed number of")
	}
	iv, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil {
		return 0, errors.New("too many")
	}
	hi, lo := bits.Mul64(iv, mult)
	if hi != 0 {
		return 0, errors.New("too many")
	}
	total := lo
	if frac != "" {
		// frac/10^len(frac) * mult must be whole.
		fv, err := strconv.ParseUint(frac, 10, 64)
		if err != nil || len(frac) > 18 {
			return 0, errors.New("too many decimal places for")
		}
		den := uint64(math.Pow10(len(frac)))
		fh, fl := bits.Mul64(fv, mult)
		if fh >= den {
			return 0, errors.New("too many")
		}
		q, r := bits.Div64(fh, fl, den)
		if r != 0 {
			return 0, errNotWhole
		}
		var carry uint64
		total, carry = bits.Add64(total, q, 0)
		if carry != 0 {
			return 0, errors.New("too many")
		}
	}
	return total, nil
}

// String formats r with the largest SI unit that keeps it exact up to three
// decimals, e.g. "2.5Gbit"; ParseRate reads it back to the same value.
func (r Rate) String() string {
	return formatUnit(uint64(r), []unitName{{1e12, "Tbit"}, {1e9, "Gbit"}, {1e6, "Mbit"}, {1e3, "kbit"}}, "bit")
}

// String formats s with a binary unit where exact ("64KiB"), else bytes.
func (s Size) String() string {
	v := uint64(s)
	for _, u := range []unitName{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if v >= u.mult && v%u.mult == 0 {
			return strconv.FormatUint(v/u.mult, 10) + u.name
		}
	}
	return strconv.FormatUint(v, 10) + "B"
}

type unitName struct {
	mult uint64
	name string
}

func formatUnit(v uint64, units []unitName, base string) string {
	for _, u := range units {
		if v >= u.mult && v%(u.mult/1000) == 0 {
			whole, rem := v/u.mult, v%u.mult
			if rem == 0 {
				return strconv.FormatUint(whole, 10) + u.name
			}
			f := strings.TrimRight(fmt.Sprintf("%03d", rem/(u.mult/1000)), "0")
			return strconv.FormatUint(whole, 10) + "." + f + u.name
		}
	}
	return strconv.FormatUint(v, 10) + base
}

// MarshalText writes the human form, so JSON plans read like the policy.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads the human form.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	*r = v
	return err
}

// MarshalText writes the human form.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the human form.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	*s = v
	return err
}

// Approx formats r for display with four significant digits, e.g.
// "19.99Mbit"; unlike String it is not exact.
func (r Rate) Approx() string {
	v := float64(r)
	for _, u := range []unitName{{1e12, "Tbit"}, {1e9, "Gbit"}, {1e6, "Mbit"}, {1e3, "kbit"}} {
		if v >= float64(u.mult) {
			return strconv.FormatFloat(v/float64(u.mult), 'g', 4, 64) + u.name
		}
	}
	return strconv.FormatUint(uint64(r), 10) + "bit"
}

// Delay is a time bound, written as a Go duration ("145ms", "2ms", "500us").
// The zero Delay means "not set".
type Delay time.Duration

// String formats d as a Go duration ("145ms").
func (d Delay) String() string { return time.Duration(d).String() }

// MarshalText writes the human form.
func (d Delay) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a positive Go duration with a unit.
func (d *Delay) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 145ms or 500us)", b)
	}
	if v <= 0 {
		return fmt.Errorf("%q: a delay bound must be positive", b)
	}
	*d = Delay(v)
	return nil
}
