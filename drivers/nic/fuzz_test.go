package nic

import (
	"encoding/binary"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
)

// FuzzParseDump feeds arbitrary bytes to the parsers of the kernel's
// RTM_NEWQDISC and RTM_NEWTFILTER dump messages: whatever a kernel (or a
// corrupted socket) sends, they must return an error or a value, never
// panic or read out of bounds.
func FuzzParseDump(f *testing.F) {
	// A tcmsg header followed by a TCA_KIND "flower" and an empty
	// TCA_OPTIONS, and a truncated one.
	hdr := make([]byte, 20)
	binary.NativeEndian.PutUint32(hdr[4:], 7) // ifindex
	kind := []byte{11, 0, 1, 0, 'f', 'l', 'o', 'w', 'e', 'r', 0, 0}
	opts := []byte{4, 0, 2, 0}
	f.Add(append(append(append([]byte{}, hdr...), kind...), opts...))
	f.Add(hdr[:10])
	f.Add(append(append([]byte{}, hdr...), 0xff, 0xff, 2, 0x80))
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, _ = tc.ParseQdisc(msg)
		_, fl, err := tc.ParseFilter(msg)
		if err == nil {
			_, _ = ourCookie(&fl, [6]byte{1, 2, 3, 4, 5, 6})
		}
		_, _ = nla.Parse(msg)
		_, _ = nla.Map(msg)
		nla.Each(msg, func(uint16, []byte) {})
		tc.ParseStats(msg)
	})
}
