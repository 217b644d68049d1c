package datapath

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// TestInsertVLAN: the tag goes after the MAC addresses, the rest moves on
// by four bytes, and the virtio header's offsets follow.
func TestInsertVLAN(t *testing.T) {
	frame := []byte{
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, // dst, src
		0x08, 0x00, // IPv4
		0x45, 0xb8, 0xaa, 0xbb,
	}
	buf := make([]byte, len(frame)+4)
	copy(buf, frame)
	n := insertVLAN(buf, len(frame), 0x8100, 5<<13|100)
	want := append(append(append([]byte{}, frame[:12]...), 0x81, 0x00, 0xa0, 0x64), frame[12:]...)
	if n != len(frame)+4 || !bytes.Equal(buf[:n], want) {
		t.Fatalf("insertVLAN = % x (n %d), want % x", buf[:n], n, want)
	}
	var v [vnetHdrLen]byte
	v[vnetFlags] = vnetFlagNeedsCsum
	binary.NativeEndian.PutUint16(v[vnetHdrLenOff:], 66)
	binary.NativeEndian.PutUint16(v[vnetCsumStart:], 34)
	binary.NativeEndian.PutUint16(v[vnetCsumOffset:], 16)
	shiftVnet(&v, 4)
	if hl, cs, co := binary.NativeEndian.Uint16(v[vnetHdrLenOff:]), binary.NativeEndian.Uint16(v[vnetCsumStart:]), binary.NativeEndian.Uint16(v[vnetCsumOffset:]); hl != 70 || cs != 38 || co != 16 {
		t.Errorf("shifted vnet header: hdr_len %d csum_start %d csum_offset %d, want 70 38 16", hl, cs, co)
	}
	var plain [vnetHdrLen]byte
	shiftVnet(&plain, 4)
	if plain != ([vnetHdrLen]byte{}) {
		t.Errorf("a zero virtio header (no GSO, no checksum) changed: % x", plain)
	}
}

// TestWakeQuantum: the quantum fits every bucket (half its room above one
// MaxSDU at the rate), the one-frame peak bucket, the port bucket, and the
// cap.
func TestWakeQuantum(t *testing.T) {
	cls := func(rate, peak model.Rate, bucket, sdu model.Size) offload.ClassPlan {
		return offload.ClassPlan{Rate: rate, Peak: peak, Bucket: bucket, MaxSDU: sdu}
	}
	for _, tc := range []struct {
		name    string
		classes []offload.ClassPlan
		want    time.Duration
	}{
		{"no classes", nil, MaxDeferQuantum},
		{"big bucket", []offload.ClassPlan{cls(100e6, 0, 250000, 1518)}, MaxDeferQuantum},
		// room 10000-1518 = 8482 B at 100 Mbit/s = 678.56 µs, halved.
		{"small bucket", []offload.ClassPlan{cls(100e6, 0, 10000, 1518)}, 339280 * time.Nanosecond},
		// one 1518 B frame at 80 Mbit/s = 151.8 µs.
		{"peak", []offload.ClassPlan{cls(50e6, 80e6, 62500, 1518)}, 151800 * time.Nanosecond},
		{"bucket of one frame", []offload.ClassPlan{cls(10e6, 0, 1518, 1518)}, 0},
		{"no rate", []offload.ClassPlan{cls(0, 0, 0, 1518)}, MaxDeferQuantum},
		// port bucket 2 ms at 100 Mbit/s = 25000 B, less one 1514 B frame:
		// 1.87888 ms, halved; it binds with a class that has no rate...
		{"port", []offload.ClassPlan{cls(0, 0, 0, 1518)}, 939440 * time.Nanosecond},
		// ...or with rates adding up to more than the port...
		{"port oversubscribed", []offload.ClassPlan{cls(60e6, 0, 250000, 1518), cls(60e6, 0, 250000, 1518)}, 939440 * time.Nanosecond},
		// ...but not under classes that can never fill it.
		{"port not binding", []offload.ClassPlan{cls(40e6, 0, 10000, 1518), cls(40e6, 0, 10000, 1518)}, 848200 * time.Nanosecond},
	} {
		tp := &offload.TargetPlan{Classes: tc.classes}
		if strings.HasPrefix(tc.name, "port") {
			tp.Pacer = &offload.PacerPlan{PortRate: 100e6}
		}
		got := WakeQuantum(tp)
		if got != tc.want {
			t.Errorf("%s: WakeQuantum = %v, want %v", tc.name, got, tc.want)
		}
	}
}
