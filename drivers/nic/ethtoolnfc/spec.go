package ethtoolnfc

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IP4 is the IPv4 part of a flow union (ethtool_tcpip4_spec for tcp4,
// udp4 and sctp4; ethtool_usrip4_spec for ip4), used both for values and
// for masks. Ports are host order here and big-endian on the wire.
type IP4 struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // tcp4/udp4/sctp4 only
	TOS              uint8
	Proto            uint8  // ip4 only (the L4 protocol number)
	L4Bytes          uint32 // ip4 only (the first 4 bytes of the L4 header)
}

// Ext is struct ethtool_flow_ext without its MAC (FLOW_EXT): the VLAN
// ethertype and TCI and two words of driver-defined data (ixgbe: data[1]
// is the VM pool; i40e: user-def flexible bytes). Host order here.
type Ext struct {
	VLANEtype uint16
	VLANTCI   uint16
	Data      [2]uint32
}

// Rule is one RX classification rule (struct ethtool_rx_flow_spec).
type Rule struct {
	Type FlowType
	// Value and Mask: a mask bit set means the value bit must match.
	Value, Mask IP4
	// HasExt sets FLOW_EXT and carries ExtValue/ExtMask.
	HasExt            bool
	ExtValue, ExtMask Ext
	// Ring is the ring cookie: a receive queue (the low 32 bits, with a VF
	// number + 1 in bits 32-39) or Discard.
	Ring uint64
	// Location is the rule's place in the device's table.
	Location uint32
}

// Queue returns the receive queue of the ring cookie and whether the rule
// steers to one of the PF's queues (not a drop, not a VF's).
func (r *Rule) Queue() (uint32, bool) {
	if r.Ring == Discard || r.Ring&vfMask != 0 {
		return 0, false
	}
	return uint32(r.Ring & ringMask), true
}

// Equal reports whether r and o match the same packets with the same
// action at the same location. Value bits outside the mask do not count,
// and FLOW_EXT with all-zero ext masks equals no FLOW_EXT (ixgbe reports
// every rule with FLOW_EXT set).
func (r *Rule) Equal(o *Rule) bool {
	if r.Type != o.Type || r.Ring != o.Ring || r.Location != o.Location {
		return false
	}
	a, b := r.Masked(), o.Masked()
	return a.Value == b.Value && a.Mask == b.Mask && a.ExtValue == b.ExtValue && a.ExtMask == b.ExtMask
}

// Masked returns r with every value bit outside the mask cleared, unset
// addresses made 0.0.0.0, and FLOW_EXT dropped when its masks are zero.
func (r *Rule) Masked() Rule {
	c := *r
	c.Value.Src, c.Mask.Src = maskAddr(r.Value.Src, r.Mask.Src), addrOrZero(r.Mask.Src)
	c.Value.Dst, c.Mask.Dst = maskAddr(r.Value.Dst, r.Mask.Dst), addrOrZero(r.Mask.Dst)
	c.Value.SrcPort &= r.Mask.SrcPort
	c.Value.DstPort &= r.Mask.DstPort
	c.Value.TOS &= r.Mask.TOS
	c.Value.Proto &= r.Mask.Proto
	c.Value.L4Bytes &= r.Mask.L4Bytes
	c.ExtValue.VLANEtype &= r.ExtMask.VLANEtype
	c.ExtValue.VLANTCI &= r.ExtMask.VLANTCI
	for i := range c.ExtValue.Data {
		c.ExtValue.Data[i] &= r.ExtMask.Data[i]
	}
	if !c.HasExt || c.ExtMask == (Ext{}) {
		c.HasExt, c.ExtValue, c.ExtMask = false, Ext{}, Ext{}
	}
	return c
}

func addrOrZero(a netip.Addr) netip.Addr {
	if !a.Is4() {
		return netip.IPv4Unspecified()
	}
	return a
}

func maskAddr(v, m netip.Addr) netip.Addr {
	v, m = addrOrZero(v), addrOrZero(m)
	x, y := v.As4(), m.As4()
	for i := range x {
		x[i] &= y[i]
	}
	return netip.AddrFrom4(x)
}

// encodeRule writes r as struct ethtool_rx_flow_spec into fs (168 bytes).
func encodeRule(fs []byte, r *Rule) error {
	switch r.Type {
	case TCPv4, UDPv4, SCTPv4, IPv4:
	default:
		return fmt.Errorf("ethtool ntuple: flow type %#x is not encoded (tcp4, udp4, sctp4, ip4 only)", uint32(r.Type))
	}
	for _, a := range []netip.Addr{r.Value.Src, r.Value.Dst, r.Mask.Src, r.Mask.Dst} {
		if a.IsValid() && !a.Is4() {
			return fmt.Errorf("ethtool ntuple: %s is not an IPv4 address", a)
		}
	}
	ft := uint32(r.Type)
	if r.HasExt {
		ft |= flowExt
	}
	ne := binary.NativeEndian
	ne.PutUint32(fs[0:], ft)
	encodeIP4(fs[fsOffHeader:fsOffHeader+52], r.Type, &r.Value, false)
	encodeIP4(fs[fsOffMask:fsOffMask+52], r.Type, &r.Mask, true)
	if r.HasExt {
		encodeExt(fs[fsOffHeaderExt:fsOffHeaderExt+20], &r.ExtValue)
		encodeExt(fs[fsOffMaskExt:fsOffMaskExt+20], &r.ExtMask)
	}
	ne.PutUint64(fs[fsOffRingCookie:], r.Ring)
	ne.PutUint32(fs[fsOffLocation:], r.Location)
	return nil
}

func encodeIP4(b []byte, t FlowType, s *IP4, mask bool) {
	be := binary.BigEndian
	src, dst := addrOrZero(s.Src).As4(), addrOrZero(s.Dst).As4()
	copy(b[ip4OffSrc:], src[:])
	copy(b[ip4OffDst:], dst[:])
	b[ip4OffTOS] = s.TOS
	if t == IPv4 {
		be.PutUint32(b[ip4OffL4Bytes:], s.L4Bytes)
		if !mask {
			b[ip4OffIPVer] = ethRxNFCIP4 // the mask of ip_ver must be 0
		}
		b[ip4OffProto] = s.Proto
		return
	}
	be.PutUint16(b[ip4OffSrcPort:], s.SrcPort)
	be.PutUint16(b[ip4OffDstPort:], s.DstPort)
}

func encodeExt(b []byte, e *Ext) {
	be := binary.BigEndian
	be.PutUint16(b[extOffVLANEtype:], e.VLANEtype)
	be.PutUint16(b[extOffVLANTCI:], e.VLANTCI)
	be.PutUint32(b[extOffData:], e.Data[0])
	be.PutUint32(b[extOffData+4:], e.Data[1])
}

// decodeRule reads struct ethtool_rx_flow_spec (168 bytes).
func decodeRule(fs []byte) (Rule, error) {
	ne := binary.NativeEndian
	ft := ne.Uint32(fs[0:])
	r := Rule{Type: FlowType(ft &^ (flowExt | flowMacExt | flowRSS)), HasExt: ft&flowExt != 0}
	switch r.Type {
	case TCPv4, UDPv4, SCTPv4, IPv4:
	default:
		return r, fmt.Errorf("ethtool ntuple: flow type %#x is not decoded (tcp4, udp4, sctp4, ip4 only)", uint32(r.Type))
	}
	r.Value = decodeIP4(fs[fsOffHeader:fsOffHeader+52], r.Type)
	r.Mask = decodeIP4(fs[fsOffMask:fsOffMask+52], r.Type)
	if r.HasExt {
		r.ExtValue = decodeExt(fs[fsOffHeaderExt : fsOffHeaderExt+20])
		r.ExtMask = decodeExt(fs[fsOffMaskExt : fsOffMaskExt+20])
	}
	r.Ring = ne.Uint64(fs[fsOffRingCookie:])
	r.Location = ne.Uint32(fs[fsOffLocation:])
	return r, nil
}

func decodeIP4(b []byte, t FlowType) IP4 {
	be := binary.BigEndian
	s := IP4{Src: netip.AddrFrom4([4]byte(b[ip4OffSrc:])), Dst: netip.AddrFrom4([4]byte(b[ip4OffDst:])), TOS: b[ip4OffTOS]}
	if t == IPv4 {
		s.L4Bytes, s.Proto = be.Uint32(b[ip4OffL4Bytes:]), b[ip4OffProto]
		return s
	}
	s.SrcPort, s.DstPort = be.Uint16(b[ip4OffSrcPort:]), be.Uint16(b[ip4OffDstPort:])
	return s
}

func decodeExt(b []byte) Ext {
	be := binary.BigEndian
	return Ext{VLANEtype: be.Uint16(b[extOffVLANEtype:]), VLANTCI: be.Uint16(b[extOffVLANTCI:]),
		Data: [2]uint32{be.Uint32(b[extOffData:]), be.Uint32(b[extOffData+4:])}}
}

// rxnfc returns a struct ethtool_rxnfc buffer for cmd with room for n rule
// locations after it.
func rxnfc(cmd uint32, n int) []byte {
	b := make([]byte, max(rxnfcSize, offRuleLocs+4*n))
	binary.NativeEndian.PutUint32(b[0:], cmd)
	return b
}
