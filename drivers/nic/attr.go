package nic

import "github.com/qosplane/qosplane/drivers/nic/wire/nla"

// native is the host byte order netlink uses for u16/u32/u64 attributes.
var native = nla.Native
