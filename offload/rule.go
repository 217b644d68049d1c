package offload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/qosplane/qosplane/model"
)

// Equal reports whether r and o have the same content (Stored aside).
func (r *Rule) Equal(o *Rule) bool {
	if r.ID != o.ID || r.Flow != o.Flow || r.Class != o.Class || r.Direction != o.Direction ||
		r.Device != o.Device || r.Precedence != o.Precedence || r.Where != o.Where ||
		!matchEqual(&r.Match, &o.Match) || len(r.Actions) != len(o.Actions) {
		return false
	}
	for i := range r.Actions {
		a, b := &r.Actions[i], &o.Actions[i]
		ea, eb := a.Exceed, b.Exceed
		ca, cb := *a, *b
		ca.Exceed, cb.Exceed = nil, nil
		if ca != cb || (ea == nil) != (eb == nil) || ea != nil && *ea != *eb {
			return false
		}
	}
	return true
}

func matchEqual(a, b *model.Match) bool {
	da, db := a.DSCP, b.DSCP
	ca, cb := *a, *b
	ca.DSCP, cb.DSCP = nil, nil
	return ca == cb && (da == nil) == (db == nil) && (da == nil || *da == *db)
}

// RuleFingerprint is a short stable hash of a rule's content (Stored
// excluded): what drivers store with an installed rule (e.g. in a tc action
// cookie) so that Current can report it and Diff compare it. Two rules have
// the same fingerprint exactly when Equal holds (up to hash collisions).
func RuleFingerprint(r *Rule) string {
	var buf [512]byte
	b := buf[:0]
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	u := func(v uint64) { b = binary.AppendUvarint(b, v) }
	str(r.ID)
	str(r.Flow)
	str(r.Class)
	str(string(r.Direction))
	str(r.Device)
	u(uint64(r.Precedence))
	m := &r.Match
	pfx := func(p model.Prefix) {
		if !p.IsValid() {
			u(0)
			return
		}
		a := p.Addr().As16()
		u(uint64(p.Bits()) + 1)
		b = append(b, a[:]...)
	}
	pfx(m.Src)
	pfx(m.Dst)
	u(uint64(m.Protocol))
	u(uint64(m.SrcPort.Lo)<<16 | uint64(m.SrcPort.Hi))
	u(uint64(m.DstPort.Lo)<<16 | uint64(m.DstPort.Hi))
	u(uint64(m.VLAN))
	if m.DSCP != nil {
		u(uint64(*m.DSCP) + 1)
	} else {
		u(0)
	}
	str(m.Interface)
	if m.Cgroup != "" { // absent before cgroup matches: older fingerprints stay
		str("cgroup:" + m.Cgroup)
	}
	u(uint64(len(r.Actions)))
	for _, a := range r.Actions {
		str(string(a.Kind))
		u(uint64(a.Priority))
		u(uint64(a.TC))
		u(uint64(a.DSCP))
		u(uint64(a.PCP))
		u(uint64(a.Rate))
		u(uint64(a.Peak))
		u(uint64(a.Burst))
		str(a.Shared)
		if a.Kind == SteerQueue { // absent before ntuple: older fingerprints stay
			u(uint64(a.Queue))
		}
		if e := a.Exceed; e != nil {
			u(1)
			if e.Drop {
				u(1)
			} else {
				u(0)
			}
			u(uint64(e.DSCP))
			u(uint64(e.PCP))
			u(uint64(e.DemotePriority))
		} else {
			u(0)
		}
	}
	str(string(r.Where.Placement))
	str(r.Where.Reason)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
