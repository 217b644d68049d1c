package nic

import (
	"encoding/binary"
	"fmt"
)

// native is the host byte order netlink uses for u16/u32/u64 attributes.
var native = binary.NativeEndian

// attrs builds a sequence of netlink attributes (struct nlattr: u16 len,
// u16 type, payload padded to 4 bytes).
type attrs struct{ b []byte }

func align4(n int) int { return (n + 3) &^ 3 }

// raw appends an attribute with payload p.
func (a *attrs) raw(typ uint16, p []byte) {
	start := len(a.b)
	a.b = append(a.b, 0, 0, 0, 0)
	native.PutUint16(a.b[start:], uint16(4+len(p)))
	native.PutUint16(a.b[start+2:], typ)
	a.b = append(a.b, p...)
	for len(a.b)%4 != 0 {
		a.b = append(a.b, 0)
	}
}

func (a *attrs) u8(typ uint16, v uint8) { a.raw(typ, []byte{v}) }
func (a *attrs) u16(typ uint16, v uint16) {
	a.raw(typ, native.AppendUint16(nil, v))
}
func (a *attrs) u32(typ uint16, v uint32) {
	a.raw(typ, native.AppendUint32(nil, v))
}
func (a *attrs) u64(typ uint16, v uint64) {
	a.raw(typ, native.AppendUint64(nil, v))
}
func (a *attrs) be16(typ uint16, v uint16) {
	a.raw(typ, binary.BigEndian.AppendUint16(nil, v))
}

// str appends a NUL-terminated string.
func (a *attrs) str(typ uint16, s string) { a.raw(typ, append([]byte(s), 0)) }

// nest appends a nested attribute whose payload f writes.
func (a *attrs) nest(typ uint16, f func()) {
	start := len(a.b)
	a.b = append(a.b, 0, 0, 0, 0)
	f()
	native.PutUint16(a.b[start:], uint16(len(a.b)-start))
	native.PutUint16(a.b[start+2:], typ)
}

// attr is one parsed attribute; Type has the NLA_F_* bits cleared.
type attr struct {
	Type uint16
	Data []byte
}

// parseAttrs splits b into attributes.
func parseAttrs(b []byte) ([]attr, error) {
	var out []attr
	for len(b) >= 4 {
		l := int(native.Uint16(b))
		t := native.Uint16(b[2:]) & 0x3FFF
		if l < 4 || l > len(b) {
			return nil, fmt.Errorf("netlink attribute type %d: bad length %d (%d bytes left)", t, l, len(b))
		}
		out = append(out, attr{Type: t, Data: b[4:l]})
		b = b[min(align4(l), len(b)):]
	}
	return out, nil
}

// eachAttr calls f for every attribute of b without allocating; it stops
// at the first malformed one.
func eachAttr(b []byte, f func(typ uint16, data []byte)) {
	for len(b) >= 4 {
		l := int(native.Uint16(b))
		if l < 4 || l > len(b) {
			return
		}
		f(native.Uint16(b[2:])&0x3FFF, b[4:l])
		b = b[min(align4(l), len(b)):]
	}
}

// attrMap parses b into a map by type (the last one wins).
func attrMap(b []byte) (map[uint16][]byte, error) {
	as, err := parseAttrs(b)
	if err != nil {
		return nil, err
	}
	m := make(map[uint16][]byte, len(as))
	for _, a := range as {
		m[a.Type] = a.Data
	}
	return m, nil
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
