// Package ethtoolnfc encodes and decodes the ethtool RX network flow
// classification ioctls (SIOCETHTOOL with struct ethtool_rxnfc): the ntuple
// rules `ethtool -N dev flow-type tcp4 ... action Q` installs. It covers the
// IPv4 flow types (tcp4, udp4, sctp4 and ip4 "user" flows) with the FLOW_EXT
// extension, which is what ixgbe, i40e and bnxt accept; safchain/ethtool has
// no RX NFC. The other SIOCETHTOOL requests qosplane makes (driver name,
// channels, features, link speed, statistics) are here too, on buffers
// whose address reaches the kernel intact (drvinfo.go, features.go).
//
// Layout (include/uapi/linux/ethtool.h, x86_64 and every 64-bit ABI; the
// 32-bit compat layout differs and is not supported):
//
//	struct ethtool_rxnfc        192 bytes: cmd@0 flow_type@4 data@8 fs@16 rule_cnt@184 rule_locs[]@188
//	struct ethtool_rx_flow_spec 168 bytes: flow_type@0 h_u@4 h_ext@56 m_u@76 m_ext@128 ring_cookie@152 location@160
//	union ethtool_flow_union     52 bytes; struct ethtool_flow_ext 20 bytes:
//	                                       h_dest@2 vlan_etype@8 vlan_tci@10 data[2]@12
//	struct ethtool_tcpip4_spec: ip4src@0 ip4dst@4 psrc@8 pdst@10 tos@12
//	struct ethtool_usrip4_spec: ip4src@0 ip4dst@4 l4_4_bytes@8 tos@12 ip_ver@13 proto@14
//
// Addresses, ports and the FLOW_EXT fields are big-endian (__be32/__be16);
// cmd, flow_type, ring_cookie, location and the counters are host order.
// Masks (m_u, m_ext) have a bit set for every bit to match.
package ethtoolnfc

// ioctl and commands (include/uapi/linux/sockios.h, ethtool.h).
const (
	siocEthtool = 0x8946

	cmdGetRxRings    = 0x2d // ETHTOOL_GRXRINGS
	cmdGetRuleCount  = 0x2e // ETHTOOL_GRXCLSRLCNT
	cmdGetRule       = 0x2f // ETHTOOL_GRXCLSRULE
	cmdGetAllRules   = 0x30 // ETHTOOL_GRXCLSRLALL
	cmdDeleteRule    = 0x31 // ETHTOOL_SRXCLSRLDEL
	cmdInsertRule    = 0x32 // ETHTOOL_SRXCLSRLINS
	rxnfcSize        = 192  // sizeof(struct ethtool_rxnfc)
	offFlowType      = 4
	offData          = 8
	offFS            = 16
	offRuleCnt       = 184
	offRuleLocs      = 188
	fsOffHeader      = 4   // h_u
	fsOffHeaderExt   = 56  // h_ext
	fsOffMask        = 76  // m_u
	fsOffMaskExt     = 128 // m_ext
	fsOffRingCookie  = 152
	fsOffLocation    = 160
	extOffVLANEtype  = 8
	extOffVLANTCI    = 10
	extOffData       = 12
	ip4OffSrc        = 0
	ip4OffDst        = 4
	ip4OffSrcPort    = 8
	ip4OffDstPort    = 10
	ip4OffL4Bytes    = 8 // usrip4 only
	ip4OffTOS        = 12
	ip4OffIPVer      = 13 // usrip4 only
	ip4OffProto      = 14 // usrip4 only
	ethRxNFCIP4      = 1  // ETH_RX_NFC_IP4
	maxRuleLocations = 1 << 20
)

// FlowType is the flow_type of a rule without its FLOW_EXT/FLOW_MAC_EXT/
// FLOW_RSS flag bits.
type FlowType uint32

// Flow types this package encodes.
const (
	TCPv4  FlowType = 0x01 // TCP_V4_FLOW (ethtool flow-type tcp4)
	UDPv4  FlowType = 0x02 // UDP_V4_FLOW (udp4)
	SCTPv4 FlowType = 0x03 // SCTP_V4_FLOW (sctp4)
	IPv4   FlowType = 0x0d // IP_USER_FLOW = IPV4_USER_FLOW (ip4)
)

// Flag bits of flow_type.
const (
	flowExt    = 0x80000000 // FLOW_EXT
	flowMacExt = 0x40000000 // FLOW_MAC_EXT
	flowRSS    = 0x20000000 // FLOW_RSS
)

// Ring cookies and special locations.
const (
	// Discard is the ring cookie of a drop rule (RX_CLS_FLOW_DISC).
	Discard uint64 = 0xffffffffffffffff
	// LocSpecial is set in the table size GRXCLSRLCNT reports when the
	// driver chooses locations itself (RX_CLS_LOC_SPECIAL).
	LocSpecial uint32 = 0x80000000
	// LocAny asks the driver to choose a location (RX_CLS_LOC_ANY); only
	// drivers that report LocSpecial take it.
	LocAny uint32 = 0xffffffff
	// ringMask and vfMask split a ring cookie (ETHTOOL_RX_FLOW_SPEC_RING,
	// ETHTOOL_RX_FLOW_SPEC_RING_VF).
	ringMask uint64 = 0x00000000ffffffff
	vfMask   uint64 = 0x000000ff00000000
)
