package tc

import (
	"fmt"
	"math"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
)

// ActKind names a tc action module.
type ActKind string

const (
	ActSkbedit ActKind = "skbedit"
	ActPedit   ActKind = "pedit"
	ActCsum    ActKind = "csum"
	ActVlan    ActKind = "vlan"
	ActPolice  ActKind = "police"
	ActGact    ActKind = "gact"
)

// Act is one tc action of a filter. Control is the tc_gen action (the
// verdict after the action; for police the exceed verdict); Conform is the
// police conform verdict (TCA_POLICE_RESULT).
type Act struct {
	Kind    ActKind
	Control int32
	// Index names a shared action instance (police); zero lets the
	// kernel pick one.
	Index uint32
	// Cookie is stored with the action (TCA_ACT_COOKIE, at most 16 bytes).
	Cookie []byte

	Priority uint32 // skbedit: skb->priority
	DSCP     uint8  // pedit: new DSCP
	Family   int    // pedit: 4 (IPv4 dsfield) or 6 (IPv6 traffic class)
	VID      uint16 // vlan modify: VLAN id (the kernel requires it)
	PCP      uint8  // vlan modify: priority

	// Police: rates in bytes/s, Burst in bytes, MTU in bytes.
	Rate, Peak uint64
	Burst      uint64
	MTU        uint32
	Conform    int32
}

// Jump returns the TC_ACT_JUMP verdict that resumes at action index n
// (0-based). The kernel restarts the action list and skips the first n
// actions (tcf_action_exec), so the count is absolute, not relative.
func Jump(n int) int32 { return int32(ActJump | n) }

// tcGen returns the 20-byte tc_gen header: index, capab, action, refcnt,
// bindcnt.
func tcGen(index uint32, action int32) []byte {
	b := make([]byte, sizeofTcGen)
	native.PutUint32(b[0:], index)
	native.PutUint32(b[8:], uint32(action))
	return b
}

// encodeActs writes the TCA_FLOWER_ACT nest body: one nest per action
// numbered from 1 (the order they run in).
func encodeActs(a *nla.Builder, acts []Act) error {
	for i, act := range acts {
		var err error
		a.Nest(uint16(i+1), func() {
			a.Str(tcaActKind, string(act.Kind))
			a.Nest(tcaActOptions|NLAFNested, func() { err = act.EncodeOptions(a) })
			if len(act.Cookie) > 0 {
				a.Raw(tcaActCookie, act.Cookie)
			}
		})
		if err != nil {
			return fmt.Errorf("action %d (%s): %w", i+1, act.Kind, err)
		}
		if len(act.Cookie) > CookieMaxSize {
			return fmt.Errorf("action %d: cookie of %d bytes exceeds %d", i+1, len(act.Cookie), CookieMaxSize)
		}
	}
	return nil
}

func (act Act) EncodeOptions(a *nla.Builder) error {
	switch act.Kind {
	case ActSkbedit:
		a.Raw(tcaSkbeditParms, tcGen(act.Index, act.Control))
		a.U32(tcaSkbeditPriority, act.Priority)
	case ActGact:
		a.Raw(tcaGactParms, tcGen(act.Index, act.Control))
	case ActCsum:
		p := tcGen(act.Index, act.Control)
		p = native.AppendUint32(p, csumUpdateFlagIPv4HDR)
		a.Raw(tcaCsumParms, p)
	case ActVlan:
		p := tcGen(act.Index, act.Control)
		p = native.AppendUint32(p, tcaVlanActModify)
		a.Raw(tcaVlanParms, p)
		if act.VID < 1 || act.VID > 4094 {
			return fmt.Errorf("vlan modify needs the VLAN id (1-4094), got %d", act.VID)
		}
		a.U16(tcaVlanPushVlanID, act.VID)
		a.U8(tcaVlanPushVlanPrio, act.PCP)
	case ActPedit:
		mask, val, htype, err := dsfieldKey(act.Family, act.DSCP)
		if err != nil {
			return err
		}
		// struct tc_pedit_sel (tc_gen, nkeys, flags, 2 pad) + one
		// struct tc_pedit_key (mask, val, off, at, offmask, shift).
		p := tcGen(act.Index, act.Control)
		p = append(p, 1, 0, 0, 0)
		p = append(p, mask[:]...)
		p = append(p, val[:]...)
		p = append(p, make([]byte, 16)...) // off 0 (from the IP header), at, offmask, shift
		a.Raw(tcaPeditParmsEx, p)
		a.Nest(tcaPeditKeysEx|NLAFNested, func() {
			a.Nest(tcaPeditKeyEx|NLAFNested, func() {
				a.U16(tcaPeditKeyExHtype, htype)
				a.U16(tcaPeditKeyExCmd, peditCmdSet)
			})
		})
	case ActPolice:
		return act.encodePolice(a)
	default:
		return fmt.Errorf("unknown action kind %q", act.Kind)
	}
	return nil
}

// dsfieldKey returns the pedit key for the first 32-bit word of the IP
// header that sets the DSCP and keeps everything else (ECN included). The
// kernel computes word = (word & mask) ^ val on the packet's bytes, so mask
// and val are given as the bytes they overlay.
//
//	IPv4: byte 1 is TOS = DSCP<<2 | ECN.
//	IPv6: version(4) | traffic class(8) | flow label(20); the DSCP is the
//	low nibble of byte 0 and the top two bits of byte 1.
func dsfieldKey(family int, dscp uint8) (mask, val [4]byte, htype uint16, err error) {
	if dscp > 63 {
		return mask, val, 0, fmt.Errorf("DSCP %d out of range 0-63", dscp)
	}
	switch family {
	case 4:
		return [4]byte{0xFF, 0x03, 0xFF, 0xFF}, [4]byte{0, dscp << 2, 0, 0}, peditHdrIP4, nil
	case 6:
		return [4]byte{0xF0, 0x3F, 0xFF, 0xFF}, [4]byte{dscp >> 2, (dscp & 3) << 6, 0, 0}, peditHdrIP6, nil
	}
	return mask, val, 0, fmt.Errorf("DSCP rewrite needs an IPv4 or IPv6 match, got family %d", family)
}

// psched ticks are 64 ns (PSCHED_SHIFT 6): the police burst is the time to
// send Burst bytes at Rate, in ticks.
const nsPerTick = 64

func (act Act) encodePolice(a *nla.Builder) error {
	if act.Rate == 0 {
		return fmt.Errorf("police needs a rate")
	}
	if act.Burst == 0 {
		return fmt.Errorf("police needs a burst")
	}
	if act.Peak != 0 && act.Peak < act.Rate {
		return fmt.Errorf("police peak rate %d B/s below rate %d B/s", act.Peak, act.Rate)
	}
	// Rounded up: at high rates a tick is hundreds of bytes, and the
	// bucket must not come out smaller than asked.
	ticks := math.Ceil(float64(act.Burst) * 1e9 / float64(act.Rate) / nsPerTick)
	if ticks > math.MaxUint32 {
		return fmt.Errorf("police burst %d bytes at %d B/s is too long for the kernel's 32-bit tick count", act.Burst, act.Rate)
	}
	mtu := act.MTU
	if mtu == 0 {
		mtu = 65535
	}
	rate32 := uint32(min(act.Rate, math.MaxUint32))
	peak32 := uint32(min(act.Peak, math.MaxUint32))
	cellLog := rtabCellLog(mtu)
	// struct tc_police: index, action, limit, burst, mtu, rate, peakrate,
	// refcnt, bindcnt, capab.
	p := make([]byte, 0, sizeofTcPolice)
	p = native.AppendUint32(p, act.Index)
	p = native.AppendUint32(p, uint32(act.Control))
	p = native.AppendUint32(p, 0)
	p = native.AppendUint32(p, uint32(ticks))
	p = native.AppendUint32(p, mtu)
	p = appendRatespec(p, rate32, cellLog)
	if act.Peak != 0 {
		p = appendRatespec(p, peak32, cellLog)
	} else {
		p = append(p, make([]byte, 12)...)
	}
	p = append(p, make([]byte, 12)...) // refcnt, bindcnt, capab
	a.Raw(tcaPoliceTbf, p)
	a.Raw(tcaPoliceRate, rtab(rate32, cellLog))
	if act.Peak != 0 {
		a.Raw(tcaPolicePeakrate, rtab(peak32, cellLog))
	}
	if act.Rate >= math.MaxUint32 {
		a.U64(tcaPoliceRate64, act.Rate)
	}
	if act.Peak >= math.MaxUint32 {
		a.U64(tcaPolicePeakrate64, act.Peak)
	}
	a.U32(tcaPoliceResult, uint32(act.Conform))
	return nil
}

// appendRatespec appends struct tc_ratespec: cell_log, linklayer,
// overhead, cell_align, mpu, rate (bytes/s, 32-bit).
func appendRatespec(p []byte, rate uint32, cellLog uint8) []byte {
	p = append(p, cellLog, linklayerEthernet)
	p = native.AppendUint16(p, 0)
	p = native.AppendUint16(p, 0xFFFF) // cell_align -1, as iproute2
	p = native.AppendUint16(p, 0)
	return native.AppendUint32(p, rate)
}

// rtabCellLog is the smallest cell_log such that 255 cells cover mtu
// bytes (iproute2's tc_calc_rtable).
func rtabCellLog(mtu uint32) uint8 {
	var l uint8
	for (mtu >> l) > 255 {
		l++
	}
	return l
}

// rtab is the kernel's 256-entry rate table: entry i is the time in psched
// ticks to send (i+1)<<cellLog bytes at rate bytes/s. The kernel only
// checks its size and the link layer; it computes with the rate itself.
func rtab(rate uint32, cellLog uint8) []byte {
	b := make([]byte, 0, tcRtabSize)
	for i := range 256 {
		size := uint64(i+1) << cellLog
		t := uint64(float64(size) * 1e9 / float64(max(rate, 1)) / nsPerTick)
		b = native.AppendUint32(b, uint32(min(t, math.MaxUint32)))
	}
	return b
}
