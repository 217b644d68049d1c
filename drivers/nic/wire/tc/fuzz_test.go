package tc

import (
	"encoding/binary"
	"testing"
)

// FuzzParse feeds arbitrary bytes to every decoder of the package (dumped
// qdiscs and filters, a police action's options, action statistics, mqprio
// options): whatever a kernel or a corrupted socket sends, they must
// return an error or a value, never panic or read out of bounds.
func FuzzParse(f *testing.F) {
	hdr := make([]byte, SizeofTcmsg)
	binary.NativeEndian.PutUint32(hdr[4:], 7) // ifindex
	kind := []byte{11, 0, 1, 0, 'f', 'l', 'o', 'w', 'e', 'r', 0, 0}
	f.Add(append(append([]byte{}, hdr...), kind...))
	f.Add(hdr[:10])
	f.Add(Mqprio{NumTC: 2, HW: 1, Channel: true, Shaper: true, MaxRate: []uint64{1, 2}}.Encode())
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, _ = ParseQdisc(msg)
		_, _, _ = ParseFilter(msg)
		_ = parsePolice(msg)
		ParseStats(msg)
		_, _ = DecodeMqprio(msg)
	})
}
