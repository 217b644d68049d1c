package nic

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// Handles of qosplane's flower filters carry this value in their top 16
// bits, so that they are recognisable in `tc filter show`; the low 16 bits
// number them per device.
const handleMagic = 0x51500000

// cookieMagic starts every action cookie qosplane writes. A cookie is 16
// bytes: "qp", 6 bytes of sha256(owner), the 8-byte rule fingerprint.
var cookieMagic = [2]byte{'q', 'p'}

// ownerTag is the first 6 bytes of sha256(owner).
func ownerTag(owner string) [6]byte {
	s := sha256.Sum256([]byte(owner))
	return [6]byte(s[:6])
}

// makeCookie returns the cookie for a rule of owner with fingerprint fp
// (offload.Fingerprint: 16 hex digits).
func makeCookie(owner, fp string) ([]byte, error) {
	raw, err := hex.DecodeString(fp)
	if err != nil || len(raw) != 8 {
		return nil, fmt.Errorf("fingerprint %q is not 8 hex bytes", fp)
	}
	tag := ownerTag(owner)
	c := append(cookieMagic[:], tag[:]...)
	return append(c, raw...), nil
}

// parseCookie returns the owner tag and fingerprint of a qosplane cookie.
func parseCookie(c []byte) (tag [6]byte, fp string, ok bool) {
	if len(c) != 16 || c[0] != cookieMagic[0] || c[1] != cookieMagic[1] {
		return tag, "", false
	}
	return [6]byte(c[2:8]), hex.EncodeToString(c[8:16]), true
}

// sharedPoliceIndex is the tc action index of a meter that several rules
// share: fixed per owner, device, name and the meter's parameters and
// control layout (binding an existing index ignores the parameters sent,
// so a changed meter must get a new index). It lies in a range the
// kernel's own allocator (counting up from 1) does not reach in practice.
func sharedPoliceIndex(owner, dev, shared string, p tc.Act) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d/%d/%d/%d/%d", owner, dev, shared, p.Rate, p.Peak, p.Burst, p.Control, p.Conform)
	return 0x51000000 | h.Sum32()&0x00FFFFFF
}

// ruleFilters translates one plan rule into the flower filters that carry
// it (one per address family when the rule must pin one and the match does
// not). Handles are left zero for the caller to assign. A rule with a
// placement other than hardware or software yields no filters. Notes say
// what of the rule could not be expressed.
//
// Action layout of a filter (tc runs actions in order; TC_ACT_JUMP n
// resumes at index n):
//
//	[meter] [exceed marks...] [conform: priority, DSCP (+csum), PCP] [flow policers...]
//
// The class meter (a borrow or discard police, shared by the class's rules
// on one device) comes first. For borrow, exceeding packets run the exceed
// marks (demoted priority, non-conforming DSCP/PCP), whose last action
// jumps to the flow policers (or ends the list); conforming packets jump
// over them. Flow policers drop what exceeds them.
func ruleFilters(owner string, r *offload.Rule) ([]tc.Filter, []string, error) {
	var flags uint32
	switch r.Where.Placement {
	case offload.Hardware:
		flags = tc.FlagSkipSW
	case offload.Software:
		flags = tc.FlagSkipHW
	default:
		return nil, nil, nil
	}
	var hk tc.Hook
	switch r.Direction {
	case offload.OnEgress:
		hk = tc.HookEgress
	case offload.OnIngress, offload.OnRepresentor:
		hk = tc.HookIngress
	default:
		return nil, nil, fmt.Errorf("rule %q: direction %q is not a NIC direction", r.ID, r.Direction)
	}
	if r.Device == "" {
		return nil, nil, fmt.Errorf("rule %q: no device", r.ID)
	}
	var (
		notes           []string
		prio, dscp, pcp bool
		vPrio           uint32
		vDSCP, vPCP     uint8
		steerTC         int
		steer           bool
		meter           *offload.Action
		policers        []*offload.Action
	)
	for i := range r.Actions {
		act := &r.Actions[i]
		switch act.Kind {
		case offload.SetPriority:
			prio, vPrio = true, act.Priority
		case offload.SetDSCP:
			dscp, vDSCP = true, act.DSCP
		case offload.SetPCP:
			pcp, vPCP = true, act.PCP
		case offload.SteerTC:
			steer, steerTC = true, act.TC
		case offload.Police:
			if act.Rate == 0 || act.Burst == 0 {
				return nil, nil, fmt.Errorf("rule %q: police needs a rate and a burst", r.ID)
			}
			if (act.Shared != "" || act.Exceed != nil && !act.Exceed.Drop) && meter == nil {
				meter = act
			} else if act.Exceed != nil && !act.Exceed.Drop {
				return nil, nil, fmt.Errorf("rule %q: more than one borrowing meter", r.ID)
			} else {
				policers = append(policers, act)
			}
		case offload.SetClass:
			// On a NIC the class is reached through set-priority and
			// the mqprio map; nothing to install.
		default:
			return nil, nil, fmt.Errorf("rule %q: unknown action %q", r.ID, act.Kind)
		}
	}
	if steer && r.Direction == offload.OnEgress {
		return nil, nil, fmt.Errorf("rule %q: steer-tc is a receive action, not for egress", r.ID)
	}
	if steer && (steerTC < 0 || steerTC > 15) {
		return nil, nil, fmt.Errorf("rule %q: steer-tc %d out of range 0-15", r.ID, steerTC)
	}
	if pcp && r.Match.VLAN == 0 {
		// tc vlan modify needs the VLAN id it writes back; without a
		// VLAN match there is none to give.
		pcp = false
		notes = append(notes, fmt.Sprintf("rule %s: set-pcp %d not installed: the rule matches no VLAN and tc vlan modify needs the VLAN id", r.ID, vPCP))
	}
	families := []int{0}
	switch f := r.Match.Family(); {
	case f != 0:
		families = []int{f}
	case dscp || r.Match.Protocol != 0 || r.Match.DSCP != nil || !r.Match.SrcPort.IsZero() || !r.Match.DstPort.IsZero():
		families = []int{4, 6}
	}
	cookie, err := makeCookie(owner, offload.RuleFingerprint(r))
	if err != nil {
		return nil, nil, fmt.Errorf("rule %q: %w", r.ID, err)
	}
	police := func(p *offload.Action) tc.Act {
		return tc.Act{Kind: tc.ActPolice, Rate: p.Rate.Bytes(), Peak: p.Peak.Bytes(), Burst: uint64(p.Burst), Control: tc.ActShot, Conform: tc.ActPipe}
	}
	var out []tc.Filter
	for _, fam := range families {
		var conform, exceed []tc.Act
		if prio {
			conform = append(conform, tc.Act{Kind: tc.ActSkbedit, Control: tc.ActPipe, Priority: vPrio})
		}
		if dscp {
			conform = append(conform, peditActs(fam, vDSCP)...)
		}
		if pcp {
			conform = append(conform, tc.Act{Kind: tc.ActVlan, Control: tc.ActPipe, VID: r.Match.VLAN, PCP: vPCP})
		}
		var acts []tc.Act
		var tail []tc.Act
		for _, p := range policers {
			tail = append(tail, police(p))
		}
		if meter != nil {
			m := police(meter)
			if meter.Exceed != nil && !meter.Exceed.Drop {
				m.Control = tc.ActPipe
				if prio {
					exceed = append(exceed, tc.Act{Kind: tc.ActSkbedit, Control: tc.ActPipe, Priority: meter.Exceed.DemotePriority})
				}
				if dscp {
					exceed = append(exceed, peditActs(fam, meter.Exceed.DSCP)...)
				}
				if pcp {
					exceed = append(exceed, tc.Act{Kind: tc.ActVlan, Control: tc.ActPipe, VID: r.Match.VLAN, PCP: meter.Exceed.PCP})
				}
			}
			if len(exceed) > 0 {
				m.Conform = tc.Jump(1 + len(exceed))
				if len(tail) > 0 {
					exceed[len(exceed)-1].Control = tc.Jump(1 + len(exceed) + len(conform))
				} else {
					exceed[len(exceed)-1].Control = tc.ActOK
				}
			}
			if meter.Shared != "" {
				m.Index = sharedPoliceIndex(owner, r.Device, meter.Shared, m)
			}
			acts = append(acts, m)
			acts = append(acts, exceed...)
		}
		acts = append(acts, conform...)
		acts = append(acts, tail...)
		cookieAt := -1
		for i := range acts {
			if acts[i].Index == 0 {
				cookieAt = i
				break
			}
		}
		if cookieAt < 0 && len(acts) > 0 {
			// Only a shared meter: the cookie needs an action of the
			// rule's own.
			acts = append(acts, tc.Act{Kind: tc.ActGact, Control: tc.ActOK})
			cookieAt = len(acts) - 1
		}
		if cookieAt >= 0 {
			// A rule without actions (hw_tc steering alone) has no
			// cookie: its handle and the state file identify it.
			acts[cookieAt].Cookie = cookie
		}
		f := tc.Filter{Dev: r.Device, Hook: hk, Pref: r.Precedence, Family: fam, Flags: flags, Match: r.Match, Acts: acts}
		if steer {
			f.ClassID = tc.HWTCClassID(steerTC)
		}
		out = append(out, f)
	}
	return out, notes, nil
}

// peditActs rewrites the DSCP for family: pedit, then the IPv4 header
// checksum fix (csum iph). csum follows IPv6 rewrites too, where it changes
// nothing, so that both families' filters have the same action layout
// (a shared meter's jump counts must match in every filter it serves).
func peditActs(fam int, dscp uint8) []tc.Act {
	return []tc.Act{{Kind: tc.ActPedit, Control: tc.ActPipe, Family: fam, DSCP: dscp}, {Kind: tc.ActCsum, Control: tc.ActPipe}}
}
