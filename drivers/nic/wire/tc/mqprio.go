package tc

import (
	"fmt"
	"slices"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
)

// Mqprio is the part of an mqprio qdisc qosplane sets: the TC layout of
// struct tc_mqprio_qopt and the per-TC shaper rates in bytes/s.
type Mqprio struct {
	NumTC  uint8
	PrioTC [16]uint8
	HW     uint8
	Count  [16]uint16
	Offset [16]uint16
	// Channel mode with the bw_rlimit shaper (always set by qosplane).
	Channel bool
	Shaper  bool
	// MinRate and MaxRate are bytes/s per TC (len NumTC) or nil.
	MinRate []uint64
	MaxRate []uint64
}

// Encode returns the TCA_OPTIONS payload: the 82-byte struct padded to 84,
// then TCA_MQPRIO_MODE, TCA_MQPRIO_SHAPER (u16) and the rate lists, each a
// nest (NLA_F_NESTED) of one u64 attribute per TC, as iproute2 sends them.
func (o Mqprio) Encode() []byte {
	b := make([]byte, nla.Align4(sizeofMqprioQopt))
	b[0] = o.NumTC
	copy(b[1:17], o.PrioTC[:])
	b[17] = o.HW
	for i := range 16 {
		native.PutUint16(b[18+2*i:], o.Count[i])
		native.PutUint16(b[50+2*i:], o.Offset[i])
	}
	a := nla.Builder{B: b}
	if o.Channel {
		a.U16(tcaMqprioMode, tcMqprioModeChannel)
	}
	if o.Shaper {
		a.U16(tcaMqprioShaper, tcMqprioShaperBWRate)
	}
	for _, l := range []struct {
		typ   uint16
		rates []uint64
	}{{tcaMqprioMinRate64, o.MinRate}, {tcaMqprioMaxRate64, o.MaxRate}} {
		if l.rates == nil {
			continue
		}
		a.Nest(l.typ|NLAFNested, func() {
			for _, r := range l.rates {
				a.U64(l.typ, r)
			}
		})
	}
	return a.B
}

// DecodeMqprio parses an mqprio TCA_OPTIONS payload as the kernel dumps it.
func DecodeMqprio(b []byte) (Mqprio, error) {
	var o Mqprio
	if len(b) < sizeofMqprioQopt {
		return o, fmt.Errorf("mqprio options: %d bytes, want at least %d", len(b), sizeofMqprioQopt)
	}
	o.NumTC = b[0]
	copy(o.PrioTC[:], b[1:17])
	o.HW = b[17]
	for i := range 16 {
		o.Count[i] = native.Uint16(b[18+2*i:])
		o.Offset[i] = native.Uint16(b[50+2*i:])
	}
	if len(b) <= nla.Align4(sizeofMqprioQopt) {
		return o, nil
	}
	as, err := nla.Parse(b[nla.Align4(sizeofMqprioQopt):])
	if err != nil {
		return o, fmt.Errorf("mqprio options: %w", err)
	}
	for _, at := range as {
		switch at.Type {
		case tcaMqprioMode:
			o.Channel = len(at.Data) >= 2 && native.Uint16(at.Data) == tcMqprioModeChannel
		case tcaMqprioShaper:
			o.Shaper = len(at.Data) >= 2 && native.Uint16(at.Data) == tcMqprioShaperBWRate
		case tcaMqprioMinRate64, tcaMqprioMaxRate64:
			inner, err := nla.Parse(at.Data)
			if err != nil {
				return o, fmt.Errorf("mqprio rates: %w", err)
			}
			var rs []uint64
			for _, r := range inner {
				if len(r.Data) == 8 {
					rs = append(rs, native.Uint64(r.Data))
				}
			}
			if at.Type == tcaMqprioMinRate64 {
				o.MinRate = rs
			} else {
				o.MaxRate = rs
			}
		}
	}
	return o, nil
}

// SameLayout reports whether the device's mqprio (got) carries want: the
// map, the queue groups and the rates. The hw field is compared as
// offloaded or not (drivers report their own mode value).
func (want Mqprio) SameLayout(got Mqprio) bool {
	n := int(want.NumTC)
	zeroNil := func(r []uint64) []uint64 {
		if r == nil || !slices.ContainsFunc(r, func(v uint64) bool { return v != 0 }) {
			return nil
		}
		return r
	}
	return want.NumTC == got.NumTC && want.PrioTC == got.PrioTC &&
		(want.HW != 0) == (got.HW != 0) &&
		slices.Equal(want.Count[:n], got.Count[:n]) && slices.Equal(want.Offset[:n], got.Offset[:n]) &&
		slices.Equal(zeroNil(want.MaxRate), zeroNil(got.MaxRate)) &&
		slices.Equal(zeroNil(want.MinRate), zeroNil(got.MinRate))
}
