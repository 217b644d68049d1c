package tc

// Kernel uapi constants (linux/pkt_cls.h, pkt_sched.h, rtnetlink.h,
// tc_act/*.h) that golang.org/x/sys/unix does not carry. Values were read
// from the 6.1 headers with a C program (sizeof/offsetof included), not
// copied from a Go library.
const (
	// rtnetlink message types.
	RTMNewQdisc  = 36
	RTMDelQdisc  = 37
	RTMGetQdisc  = 38
	RTMNewFilter = 44
	RTMDelFilter = 45
	RTMGetFilter = 46
	RTMNewTclass = 40 // RTM_NEWTCLASS
	RTMGetClass  = 42

	// struct tcmsg is 20 bytes.
	SizeofTcmsg = 20

	// TCA_* top-level attributes.
	TCAKind      = 1
	TCAOptions   = 2
	tcaStats     = 3
	tcaXstats    = 4
	TCAStats2    = 7
	tcaChain     = 11
	tcaHWOffload = 12

	// TCA_STATS_* inside TCA_STATS2.
	tcaStatsBasic   = 1
	TCAStatsQueue   = 3
	tcaStatsBasicHW = 7
	tcaStatsPkt64   = 8

	NLAFNested = 1 << 15

	// Handles.
	HRoot         = 0xFFFFFFFF
	HClsact       = 0xFFFFFFF1 // == TC_H_INGRESS
	tcHMinIngress = 0xFFF2
	tcHMinEgress  = 0xFFF3
	HMinPrio      = 0xFFE0 // TC_H_MIN_PRIORITY: hw_tc classid base

	ethPAll   = 0x0003
	ethPIP    = 0x0800
	ethPIPv6  = 0x86DD
	ethP8021Q = 0x8100

	// struct tc_mqprio_qopt is 82 bytes; nested attributes follow at
	// NLA_ALIGN(82) = 84.
	sizeofMqprioQopt     = 82
	tcaMqprioMode        = 1
	tcaMqprioShaper      = 2
	tcaMqprioMinRate64   = 3
	tcaMqprioMaxRate64   = 4
	tcMqprioModeChannel  = 1
	tcMqprioShaperBWRate = 1

	// Flower.
	tcaFlowerClassid       = 1
	tcaFlowerAct           = 3
	tcaFlowerKeyEthType    = 8
	tcaFlowerKeyIPProto    = 9
	tcaFlowerKeyIPv4Src    = 10
	tcaFlowerKeyIPv4SrcM   = 11
	tcaFlowerKeyIPv4Dst    = 12
	tcaFlowerKeyIPv4DstM   = 13
	tcaFlowerKeyIPv6Src    = 14
	tcaFlowerKeyIPv6SrcM   = 15
	tcaFlowerKeyIPv6Dst    = 16
	tcaFlowerKeyIPv6DstM   = 17
	tcaFlowerKeyTCPSrc     = 18
	tcaFlowerKeyTCPDst     = 19
	tcaFlowerKeyUDPSrc     = 20
	tcaFlowerKeyUDPDst     = 21
	tcaFlowerFlags         = 22
	tcaFlowerKeyVlanID     = 23
	tcaFlowerKeyVlanEth    = 25
	tcaFlowerKeyTCPSrcM    = 35
	tcaFlowerKeyTCPDstM    = 36
	tcaFlowerKeyUDPSrcM    = 37
	tcaFlowerKeyUDPDstM    = 38
	tcaFlowerKeySCTPSrcM   = 39
	tcaFlowerKeySCTPDstM   = 40
	tcaFlowerKeySCTPSrc    = 41
	tcaFlowerKeySCTPDst    = 42
	tcaFlowerKeyIPTos      = 73
	tcaFlowerKeyIPTosM     = 74
	TCAFlowerInHWCount     = 86
	tcaFlowerKeyPortSrcMin = 87
	tcaFlowerKeyPortSrcMax = 88
	tcaFlowerKeyPortDstMin = 89
	tcaFlowerKeyPortDstMax = 90

	// TCA_CLS_FLAGS_*: u32 in host byte order.
	FlagSkipHW  = 1 << 0
	FlagSkipSW  = 1 << 1
	FlagInHW    = 1 << 2
	FlagNotInHW = 1 << 3

	// Actions.
	tcaActKind      = 1
	tcaActOptions   = 2
	tcaActIndex     = 3
	tcaActStats     = 4
	tcaActCookie    = 6
	tcaActInHWCount = 10
	CookieMaxSize   = 16

	ActOK   = 0
	ActShot = 2
	ActPipe = 3
	ActJump = 1 << 28

	tcaSkbeditParms    = 2
	tcaSkbeditPriority = 3
	sizeofTcGen        = 20 // index, capab, action, refcnt, bindcnt

	tcaPeditParmsEx       = 4
	tcaPeditKeysEx        = 5
	tcaPeditKeyEx         = 6
	tcaPeditKeyExHtype    = 1
	tcaPeditKeyExCmd      = 2
	peditHdrIP4           = 2
	peditHdrIP6           = 3
	peditCmdSet           = 0
	sizeofPeditSel        = 24
	sizeofPeditKey        = 24
	tcaCsumParms          = 1
	csumUpdateFlagIPv4HDR = 1

	tcaVlanParms        = 2
	tcaVlanPushVlanID   = 3
	tcaVlanPushVlanPrio = 6
	tcaVlanActModify    = 3

	tcaGactParms = 2

	tcaPoliceTbf        = 1
	tcaPoliceRate       = 2
	tcaPolicePeakrate   = 3
	tcaPoliceResult     = 5
	tcaPoliceRate64     = 8
	tcaPolicePeakrate64 = 9
	sizeofTcPolice      = 56
	tcRtabSize          = 1024
	linklayerEthernet   = 1
)
