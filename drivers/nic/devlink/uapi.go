package devlink

// From include/uapi/linux/devlink.h (Linux 6.1; the numbers are ABI).
const (
	genlName    = "devlink" // DEVLINK_GENL_NAME
	genlVersion = 1         // DEVLINK_GENL_VERSION

	cmdPortGet = 5  // DEVLINK_CMD_PORT_GET (can dump)
	cmdRateGet = 74 // DEVLINK_CMD_RATE_GET (can dump)
	cmdRateSet = 75 // DEVLINK_CMD_RATE_SET
	cmdRateNew = 76 // DEVLINK_CMD_RATE_NEW
	cmdRateDel = 77 // DEVLINK_CMD_RATE_DEL

	attrBusName          = 1   // DEVLINK_ATTR_BUS_NAME, string
	attrDevName          = 2   // DEVLINK_ATTR_DEV_NAME, string
	attrPortIndex        = 3   // DEVLINK_ATTR_PORT_INDEX, u32
	attrPortNetdevName   = 7   // DEVLINK_ATTR_PORT_NETDEV_NAME, string
	attrPortFlavour      = 77  // DEVLINK_ATTR_PORT_FLAVOUR, u16
	attrPortPCIPFNumber  = 127 // DEVLINK_ATTR_PORT_PCI_PF_NUMBER, u16
	attrPortPCIVFNumber  = 128 // DEVLINK_ATTR_PORT_PCI_VF_NUMBER, u16
	attrRateType         = 165 // DEVLINK_ATTR_RATE_TYPE, u16 (rateTypeLeaf, rateTypeNode)
	attrRateTxShare      = 166 // DEVLINK_ATTR_RATE_TX_SHARE, u64 bytes/s
	attrRateTxMax        = 167 // DEVLINK_ATTR_RATE_TX_MAX, u64 bytes/s
	attrRateNodeName     = 168 // DEVLINK_ATTR_RATE_NODE_NAME, string
	attrRateParentNodeNm = 169 // DEVLINK_ATTR_RATE_PARENT_NODE_NAME, string ("" = no parent)

	// Port flavours (enum devlink_port_flavour).
	FlavourPhysical = 0 // DEVLINK_PORT_FLAVOUR_PHYSICAL
	FlavourPCIPF    = 3 // DEVLINK_PORT_FLAVOUR_PCI_PF
	FlavourPCIVF    = 4 // DEVLINK_PORT_FLAVOUR_PCI_VF

	rateTypeLeaf = 0 // DEVLINK_RATE_TYPE_LEAF
	rateTypeNode = 1 // DEVLINK_RATE_TYPE_NODE
)
