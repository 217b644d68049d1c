// Package nla builds and parses netlink attributes (struct nlattr: u16
// length, u16 type, payload padded to 4 bytes), the wire form the NIC
// driver's encoders (tc, dcbnl) share. Integers are in host byte order, as
// netlink carries them, unless the name says big-endian.
package nla

import (
	"encoding/binary"
	"fmt"
)

// Native is the host byte order netlink uses for u16/u32/u64 attributes.
var Native = binary.NativeEndian

// Align4 rounds n up to netlink's 4-byte alignment.
func Align4(n int) int { return (n + 3) &^ 3 }

// Builder appends attributes to B (which may start with a fixed header,
// such as a struct tcmsg).
type Builder struct{ B []byte }

// Raw appends an attribute with payload p.
func (a *Builder) Raw(typ uint16, p []byte) {
	start := len(a.B)
	a.B = append(a.B, 0, 0, 0, 0)
	Native.PutUint16(a.B[start:], uint16(4+len(p)))
	Native.PutUint16(a.B[start+2:], typ)
	a.B = append(a.B, p...)
	for len(a.B)%4 != 0 {
		a.B = append(a.B, 0)
	}
}

// U8 appends a u8 attribute.
func (a *Builder) U8(typ uint16, v uint8) { a.Raw(typ, []byte{v}) }

// U16 appends a u16 attribute.
func (a *Builder) U16(typ uint16, v uint16) { a.Raw(typ, Native.AppendUint16(nil, v)) }

// U32 appends a u32 attribute.
func (a *Builder) U32(typ uint16, v uint32) { a.Raw(typ, Native.AppendUint32(nil, v)) }

// U64 appends a u64 attribute.
func (a *Builder) U64(typ uint16, v uint64) { a.Raw(typ, Native.AppendUint64(nil, v)) }

// BE16 appends a big-endian (network order) u16 attribute.
func (a *Builder) BE16(typ uint16, v uint16) { a.Raw(typ, binary.BigEndian.AppendUint16(nil, v)) }

// Str appends a NUL-terminated string.
func (a *Builder) Str(typ uint16, s string) { a.Raw(typ, append([]byte(s), 0)) }

// Nest appends a nested attribute whose payload f writes.
func (a *Builder) Nest(typ uint16, f func()) {
	start := len(a.B)
	a.B = append(a.B, 0, 0, 0, 0)
	f()
	Native.PutUint16(a.B[start:], uint16(len(a.B)-start))
	Native.PutUint16(a.B[start+2:], typ)
}

// Attr is one parsed attribute; Type has the NLA_F_* bits cleared.
type Attr struct {
	Type uint16
	Data []byte
}

// Parse splits b into attributes.
func Parse(b []byte) ([]Attr, error) {
	var out []Attr
	for len(b) >= 4 {
		l := int(Native.Uint16(b))
		t := Native.Uint16(b[2:]) & 0x3FFF
		if l < 4 || l > len(b) {
			return nil, fmt.Errorf("netlink attribute type %d: bad length %d (%d bytes left)", t, l, len(b))
		}
		out = append(out, Attr{Type: t, Data: b[4:l]})
		b = b[min(Align4(l), len(b)):]
	}
	return out, nil
}

// Each calls f for every attribute of b without allocating; it stops at
// the first malformed one.
func Each(b []byte, f func(typ uint16, data []byte)) {
	for len(b) >= 4 {
		l := int(Native.Uint16(b))
		if l < 4 || l > len(b) {
			return
		}
		f(Native.Uint16(b[2:])&0x3FFF, b[4:l])
		b = b[min(Align4(l), len(b)):]
	}
}

// Map parses b into a map by type (the last one wins).
func Map(b []byte) (map[uint16][]byte, error) {
	as, err := Parse(b)
	if err != nil {
		return nil, err
	}
	m := make(map[uint16][]byte, len(as))
	for _, a := range as {
		m[a.Type] = a.Data
	}
	return m, nil
}

// CString is a NUL-terminated string's text (all of b without a NUL).
func CString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
