package nla

import (
	"bytes"
	"testing"
)

// Little-endian hosts (amd64, arm64), after a 4-byte header: lengths include the 4-byte header,
// payloads are padded to 4 bytes, a nest's length covers its children.
func TestBuilder(t *testing.T) {
	a := Builder{B: []byte{0xaa, 0xbb, 0xcc, 0xdd}}
	a.U8(1, 7)
	a.BE16(2, 0x0800)
	a.Nest(3, func() {
		a.U32(4, 0x01020304)
		a.Str(5, "eth0")
	})
	a.U64(6, 1)
	want := []byte{
		0xaa, 0xbb, 0xcc, 0xdd,
		5, 0, 1, 0, 7, 0, 0, 0,
		6, 0, 2, 0, 0x08, 0x00, 0, 0,
		24, 0, 3, 0,
		8, 0, 4, 0, 4, 3, 2, 1,
		9, 0, 5, 0, 'e', 't', 'h', '0', 0, 0, 0, 0,
		12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 0, 0,
	}
	if !bytes.Equal(a.B, want) {
		t.Fatalf("got  %x\nwant %x", a.B, want)
	}
	as, err := Parse(a.B[4:])
	if err != nil || len(as) != 4 || as[2].Type != 3 || len(as[2].Data) != 20 {
		t.Fatalf("Parse = %+v, %v", as, err)
	}
	inner, err := Map(as[2].Data)
	if err != nil || CString(inner[5]) != "eth0" || Native.Uint32(inner[4]) != 0x01020304 {
		t.Fatalf("nest = %v, %v", inner, err)
	}
	n := 0
	Each(a.B[4:], func(uint16, []byte) { n++ })
	if n != 4 {
		t.Errorf("Each saw %d attributes, want 4", n)
	}
	if _, err := Parse([]byte{9, 0, 1, 0, 0}); err == nil {
		t.Error("Parse accepted a length past the end")
	}
}
