package dcbnl

// From include/uapi/linux/dcbnl.h and rtnetlink.h (Linux 6.1; the numbers
// are ABI).
const (
	// RTMGetDCB and RTMSetDCB are the rtnetlink message types.
	RTMGetDCB = 78
	RTMSetDCB = 79

	cmdIEEESet        = 20
	cmdIEEEGet        = 21
	cmdIEEEDel        = 27
	attrIfname        = 1
	AttrIEEE          = 13
	attrIEEEETS       = 1
	attrIEEEPFC       = 2
	attrIEEEAppTab    = 3
	attrIEEEMaxrate   = 7
	attrIEEEApp       = 1
	sizeofIEEEETS     = 59
	sizeofIEEEPFC     = 136
	sizeofIEEEMaxrate = 64
	ieeeTSAStrict     = 0
	ieeeTSAETS        = 2
	ieeeAppSelDSCP    = 5
)
