package tc

import (
	"fmt"
	"net/netip"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/model"
)

// Hook is a clsact attach point.
type Hook string

const (
	HookIngress Hook = "ingress"
	HookEgress  Hook = "egress"
)

// Parent returns the filter parent handle: ffff:fff2 or ffff:fff3.
func (h Hook) Parent() uint32 {
	if h == HookIngress {
		return 0xFFFF0000 | tcHMinIngress
	}
	return 0xFFFF0000 | tcHMinEgress
}

// Filter is one tc flower filter qosplane installs. Every filter is
// attached with protocol "all" and matches the address family with
// TCA_FLOWER_KEY_ETH_TYPE, so that IPv4 and IPv6 rules of equal precedence
// share one pref (tc refuses two protocols under one pref).
type Filter struct {
	Dev    string
	Hook   Hook
	Pref   uint16
	Handle uint32
	// Family is 4 or 6 to match IPv4/IPv6, 0 for any ethertype.
	Family int
	// Flags holds TCA_CLS_FLAGS_SKIP_HW / SKIP_SW.
	Flags uint32
	// ClassID is the hw_tc classid, zero for none.
	ClassID uint32
	Match   model.Match
	Acts    []Act
}

// HWTCClassID returns TC_H_MAKE(major of the clsact parent, 0xFFE0+tc).
func HWTCClassID(tc int) uint32 { return 0xFFFF0000 | uint32(HMinPrio+tc) }

// EncodeOptions returns the flower TCA_OPTIONS payload.
func (f *Filter) EncodeOptions() ([]byte, error) {
	var a nla.Builder
	m := &f.Match
	if f.ClassID != 0 {
		a.U32(tcaFlowerClassid, f.ClassID)
	}
	var inner uint16
	switch f.Family {
	case 4:
		inner = ethPIP
	case 6:
		inner = ethPIPv6
	case 0:
	default:
		return nil, fmt.Errorf("family %d", f.Family)
	}
	if m.VLAN != 0 {
		a.BE16(tcaFlowerKeyEthType, ethP8021Q)
		a.U16(tcaFlowerKeyVlanID, m.VLAN)
		if inner != 0 {
			a.BE16(tcaFlowerKeyVlanEth, inner)
		}
	} else if inner != 0 {
		a.BE16(tcaFlowerKeyEthType, inner)
	}
	if m.Protocol != 0 {
		if f.Family == 0 {
			return nil, fmt.Errorf("protocol match without an address family")
		}
		a.U8(tcaFlowerKeyIPProto, uint8(m.Protocol))
	}
	for _, p := range []struct {
		pfx            model.Prefix
		k4, m4, k6, m6 uint16
	}{
		{m.Src, tcaFlowerKeyIPv4Src, tcaFlowerKeyIPv4SrcM, tcaFlowerKeyIPv6Src, tcaFlowerKeyIPv6SrcM},
		{m.Dst, tcaFlowerKeyIPv4Dst, tcaFlowerKeyIPv4DstM, tcaFlowerKeyIPv6Dst, tcaFlowerKeyIPv6DstM},
	} {
		if !p.pfx.IsValid() {
			continue
		}
		addr, mask := prefixBytes(p.pfx.Prefix)
		switch {
		case p.pfx.Is4() && f.Family == 4:
			a.Raw(p.k4, addr)
			a.Raw(p.m4, mask)
		case p.pfx.Is6() && f.Family == 6:
			a.Raw(p.k6, addr)
			a.Raw(p.m6, mask)
		default:
			return nil, fmt.Errorf("prefix %s does not fit family %d", p.pfx, f.Family)
		}
	}
	if !m.SrcPort.IsZero() || !m.DstPort.IsZero() {
		var ks, kd, ms, md uint16
		switch m.Protocol {
		case model.TCP:
			ks, kd, ms, md = tcaFlowerKeyTCPSrc, tcaFlowerKeyTCPDst, tcaFlowerKeyTCPSrcM, tcaFlowerKeyTCPDstM
		case model.UDP:
			ks, kd, ms, md = tcaFlowerKeyUDPSrc, tcaFlowerKeyUDPDst, tcaFlowerKeyUDPSrcM, tcaFlowerKeyUDPDstM
		case model.SCTP:
			ks, kd, ms, md = tcaFlowerKeySCTPSrc, tcaFlowerKeySCTPDst, tcaFlowerKeySCTPSrcM, tcaFlowerKeySCTPDstM
		default:
			return nil, fmt.Errorf("port match needs protocol tcp, udp or sctp, not %s", m.Protocol)
		}
		for _, p := range []struct {
			r             model.PortRange
			k, mk, lo, hi uint16
		}{{m.SrcPort, ks, ms, tcaFlowerKeyPortSrcMin, tcaFlowerKeyPortSrcMax}, {m.DstPort, kd, md, tcaFlowerKeyPortDstMin, tcaFlowerKeyPortDstMax}} {
			switch {
			case p.r.IsZero():
			case p.r.Exact():
				a.BE16(p.k, p.r.Lo)
				a.BE16(p.mk, 0xFFFF)
			default:
				a.BE16(p.lo, p.r.Lo)
				a.BE16(p.hi, p.r.Hi)
			}
		}
	}
	if m.DSCP != nil {
		if f.Family == 0 {
			return nil, fmt.Errorf("DSCP match without an address family")
		}
		a.U8(tcaFlowerKeyIPTos, *m.DSCP<<2)
		a.U8(tcaFlowerKeyIPTosM, 0xFC)
	}
	if m.Interface != "" && m.Interface != f.Dev {
		return nil, fmt.Errorf("match on interface %q cannot be installed on %q", m.Interface, f.Dev)
	}
	a.U32(tcaFlowerFlags, f.Flags)
	if len(f.Acts) > 0 {
		var err error
		a.Nest(tcaFlowerAct, func() { err = encodeActs(&a, f.Acts) })
		if err != nil {
			return nil, err
		}
	}
	return a.B, nil
}

// prefixBytes returns a prefix's address and mask in network byte order.
func prefixBytes(p netip.Prefix) (addr, mask []byte) {
	addr = p.Masked().Addr().AsSlice()
	mask = make([]byte, len(addr))
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return addr, mask
}

// EncodeMsg returns the RTM_NEWTFILTER body (tcmsg + attributes).
func (f *Filter) EncodeMsg(ifindex int) ([]byte, error) {
	opts, err := f.EncodeOptions()
	if err != nil {
		return nil, err
	}
	b := Msg(ifindex, f.Handle, f.Hook.Parent(), FilterInfo(f.Pref))
	a := nla.Builder{B: b}
	a.Str(TCAKind, "flower")
	a.Raw(TCAOptions|NLAFNested, opts)
	return a.B, nil
}

// DeleteMsg returns the RTM_DELTFILTER body for f.
func (f *Filter) DeleteMsg(ifindex int) []byte {
	a := nla.Builder{B: Msg(ifindex, f.Handle, f.Hook.Parent(), FilterInfo(f.Pref))}
	a.Str(TCAKind, "flower")
	return a.B
}
