package nic

import (
	"fmt"
	"slices"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/offload"
)

// mqprioOpts is the part of an mqprio qdisc qosplane sets: the TC layout of
// struct tc_mqprio_qopt and the per-TC shaper rates in bytes/s.
type mqprioOpts struct {
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

// mqprioFromLayout converts a plan's queue layout: hw 1, mode channel,
// shaper bw_rlimit, rates from bit/s to bytes/s (rounded down).
func mqprioFromLayout(q *offload.QueueLayout) (mqprioOpts, error) {
	var o mqprioOpts
	if q.NumTC < 1 || q.NumTC > 16 || len(q.TCs) != q.NumTC {
		return o, fmt.Errorf("queue layout: num_tc %d with %d TCs (want 1-16, equal)", q.NumTC, len(q.TCs))
	}
	o.NumTC = uint8(q.NumTC)
	o.HW = 1
	o.Channel, o.Shaper = true, true
	for i, tc := range q.PrioTC {
		if int(tc) >= q.NumTC {
			return o, fmt.Errorf("queue layout: priority %d maps to TC %d of %d", i, tc, q.NumTC)
		}
		o.PrioTC[i] = tc
	}
	var anyMin, anyMax bool
	minR, maxR := make([]uint64, q.NumTC), make([]uint64, q.NumTC)
	for i, tc := range q.TCs {
		if tc.Index != i {
			return o, fmt.Errorf("queue layout: TC at position %d has index %d", i, tc.Index)
		}
		if tc.Count == 0 {
			return o, fmt.Errorf("queue layout: TC %d has no queues", i)
		}
		o.Count[i], o.Offset[i] = tc.Count, tc.Offset
		minR[i], maxR[i] = tc.MinRate.Bytes(), tc.MaxRate.Bytes()
		anyMin = anyMin || minR[i] != 0
		anyMax = anyMax || maxR[i] != 0
	}
	if anyMin {
		o.MinRate = minR
	}
	if anyMax {
		o.MaxRate = maxR
	}
	return o, nil
}

// encode returns the TCA_OPTIONS payload: the 82-byte struct padded to 84,
// then TCA_MQPRIO_MODE, TCA_MQPRIO_SHAPER (u16) and the rate lists, each a
// nest (NLA_F_NESTED) of one u64 attribute per TC, as iproute2 sends them.
func (o mqprioOpts) encode() []byte {
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
		a.Nest(l.typ|nlaFNested, func() {
			for _, r := range l.rates {
				a.U64(l.typ, r)
			}
		})
	}
	return a.B
}

// decodeMqprio parses an mqprio TCA_OPTIONS payload as the kernel dumps it.
func decodeMqprio(b []byte) (mqprioOpts, error) {
	var o mqprioOpts
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

// sameLayout reports whether the device's mqprio (got) carries want: the
// map, the queue groups and the rates. The hw field is compared as
// offloaded or not (drivers report their own mode value).
func (want mqprioOpts) sameLayout(got mqprioOpts) bool {
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
