// Package wiretest holds what the wire encoders' byte tests share: golden
// bytes written as commented hex, and a comparison that names the first
// differing byte.
package wiretest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// Hex decodes hex written with spaces and "# comment" tails, one item a
// line.
func Hex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		clean.WriteString(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad golden hex: %v", err)
	}
	return b
}

// LittleEndian skips a test whose golden bytes are written for a
// little-endian host on any other.
func LittleEndian(t testing.TB) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden bytes are written for a little-endian host")
	}
}

// DiffBytes fails the test when got is not want, naming the first
// difference.
func DiffBytes(t testing.TB, name string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: first difference at byte %d (got %#02x, want %#02x)\ngot  %x\nwant %x", name, i, got[i], want[i], got, want)
		}
	}
	t.Fatalf("%s: length %d, want %d\ngot  %x\nwant %x", name, len(got), len(want), got, want)
}
