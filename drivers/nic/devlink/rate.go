// Package devlink encodes and decodes devlink rate objects
// (DEVLINK_CMD_RATE_GET/SET/NEW/DEL over generic netlink), which
// vishvananda/netlink does not cover: the SR-IOV rate leaves (one per VF
// port) and rate nodes (groups) of a switchdev-mode NIC (mlx5, ice,
// netdevsim).
//
// Units: the API takes and returns bit/s; the uAPI carries bytes/s
// (DEVLINK_ATTR_RATE_TX_SHARE/TX_MAX, u64), converted here at the wire
// with the unit in the name. A rate that is not a whole number of bytes/s
// is refused before anything is sent.
package devlink

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink/nl"
)

// Device names a devlink device by its bus and device name, e.g. "pci"
// "0000:03:00.0" or "netdevsim" "netdevsim1".
type Device struct {
	Bus, Name string
}

func (d Device) String() string { return d.Bus + "/" + d.Name }

// Object names one rate object of a device: a node by its name, or (when
// Node is "") the leaf of the devlink port with index Port.
type Object struct {
	Device
	Node string
	Port uint32
}

// Leaf names the rate leaf of port index port.
func Leaf(d Device, port uint32) Object { return Object{Device: d, Port: port} }

// Node names the rate node name.
func Node(d Device, name string) Object { return Object{Device: d, Node: name} }

// IsNode reports whether o is a node (a group) rather than a leaf.
func (o Object) IsNode() bool { return o.Node != "" }

// String is devlink's handle: bus/dev/port for a leaf, bus/dev/name for a node.
func (o Object) String() string {
	if o.IsNode() {
		return o.Device.String() + "/" + o.Node
	}
	return o.Device.String() + "/" + strconv.FormatUint(uint64(o.Port), 10)
}

// Rate is a rate object as the kernel holds it. TxShare (the guaranteed
// minimum) and TxMax (the ceiling) are in bit/s, 0 meaning none; Parent is
// the parent node's name, "" for none.
type Rate struct {
	Object
	TxShare, TxMax uint64
	Parent         string
}

// Change is what a set (or a new node) sends: nil fields are left as they
// are. TxShare and TxMax are in bit/s. Parent "" detaches the object from
// its parent (iproute2's noparent); the kernel refuses to move an object
// that has a parent to another one (EBUSY) without that first.
type Change struct {
	TxShare, TxMax *uint64
	Parent         *string
}

// bytesPerSec converts a rate in bit/s to the uAPI's bytes/s, refusing a
// rate that is not a whole number of bytes/s.
func bytesPerSec(what string, bitPerSec uint64) (uint64, error) {
	if bitPerSec%8 != 0 {
		return 0, fmt.Errorf("%s %d bit/s is not a whole number of bytes/s", what, bitPerSec)
	}
	return bitPerSec / 8, nil
}

// validName refuses what the kernel would: a node name must be non-empty
// and not all digits (devlink_rate_node_get_from_attrs), which would read
// as a port index.
func validName(name string) error {
	if name == "" || strings.Trim(name, "0123456789") == "" {
		return fmt.Errorf("rate node name %q: must not be empty or all digits", name)
	}
	return nil
}

// genlHeader is struct genlmsghdr: cmd, version, reserved u16.
func genlHeader(cmd uint8) []byte { return []byte{cmd, genlVersion, 0, 0} }

// appendAttr appends one netlink attribute.
func appendAttr(b []byte, typ int, data []byte) []byte {
	return append(b, nl.NewRtAttr(typ, data).Serialize()...)
}

// objectAttrs appends the handle and the object's identity: the port index
// of a leaf, the name of a node.
func objectAttrs(b []byte, o Object) []byte {
	b = appendAttr(b, attrBusName, nl.ZeroTerminated(o.Bus))
	b = appendAttr(b, attrDevName, nl.ZeroTerminated(o.Name))
	if o.IsNode() {
		return appendAttr(b, attrRateNodeName, nl.ZeroTerminated(o.Node))
	}
	return appendAttr(b, attrPortIndex, nl.Uint32Attr(o.Port))
}

// changeAttrs appends a change's attributes in the order the kernel applies
// them (tx_share, tx_max, parent).
func changeAttrs(b []byte, c Change) ([]byte, error) {
	if c.TxShare != nil {
		v, err := bytesPerSec("tx_share", *c.TxShare)
		if err != nil {
			return nil, err
		}
		b = appendAttr(b, attrRateTxShare, nl.Uint64Attr(v))
	}
	if c.TxMax != nil {
		v, err := bytesPerSec("tx_max", *c.TxMax)
		if err != nil {
			return nil, err
		}
		b = appendAttr(b, attrRateTxMax, nl.Uint64Attr(v))
	}
	if c.Parent != nil {
		if *c.Parent != "" {
			if err := validName(*c.Parent); err != nil {
				return nil, fmt.Errorf("parent: %w", err)
			}
		}
		b = appendAttr(b, attrRateParentNodeNm, nl.ZeroTerminated(*c.Parent))
	}
	return b, nil
}

// encodeSet is the body (genl header and attributes) of DEVLINK_CMD_RATE_SET.
func encodeSet(o Object, c Change) ([]byte, error) {
	if o.IsNode() {
		if err := validName(o.Node); err != nil {
			return nil, err
		}
	}
	return changeAttrs(objectAttrs(genlHeader(cmdRateSet), o), c)
}

// encodeNew is the body of DEVLINK_CMD_RATE_NEW: a node with its limits
// and parent.
func encodeNew(o Object, c Change) ([]byte, error) {
	if !o.IsNode() {
		return nil, fmt.Errorf("rate new %s: only nodes can be created", o)
	}
	if err := validName(o.Node); err != nil {
		return nil, err
	}
	return changeAttrs(objectAttrs(genlHeader(cmdRateNew), o), c)
}

// encodeDel is the body of DEVLINK_CMD_RATE_DEL.
func encodeDel(o Object) ([]byte, error) {
	if !o.IsNode() {
		return nil, fmt.Errorf("rate del %s: only nodes can be deleted", o)
	}
	if err := validName(o.Node); err != nil {
		return nil, err
	}
	return objectAttrs(genlHeader(cmdRateDel), o), nil
}

// encodeDump is the body of a DEVLINK_CMD_RATE_GET dump (all devices: the
// 6.1 dumpit does not filter; decodeRate's caller does).
func encodeDump() []byte { return genlHeader(cmdRateGet) }

// decodeRate reads one DEVLINK_CMD_RATE_NEW reply (genl header and
// attributes), converting the rates to bit/s.
func decodeRate(msg []byte) (Rate, error) {
	var r Rate
	if len(msg) < 4 {
		return r, errors.New("devlink: short rate message")
	}
	as, err := nl.ParseRouteAttr(msg[4:])
	if err != nil {
		return r, fmt.Errorf("devlink rate attributes: %w", err)
	}
	typ := -1
	for _, a := range as {
		switch a.Attr.Type {
		case attrBusName:
			r.Bus = str(a)
		case attrDevName:
			r.Name = str(a)
		case attrPortIndex:
			if len(a.Value) >= 4 {
				r.Port = nl.NativeEndian().Uint32(a.Value)
			}
		case attrRateType:
			if len(a.Value) >= 2 {
				typ = int(nl.NativeEndian().Uint16(a.Value))
			}
		case attrRateNodeName:
			r.Node = str(a)
		case attrRateTxShare:
			if len(a.Value) >= 8 {
				r.TxShare = nl.NativeEndian().Uint64(a.Value) * 8
			}
		case attrRateTxMax:
			if len(a.Value) >= 8 {
				r.TxMax = nl.NativeEndian().Uint64(a.Value) * 8
			}
		case attrRateParentNodeNm:
			r.Parent = str(a)
		}
	}
	switch {
	case typ == rateTypeNode && r.Node == "":
		return r, errors.New("devlink: rate node without a name")
	case typ == rateTypeLeaf && r.Node != "":
		return r, errors.New("devlink: rate leaf with a node name")
	case typ != rateTypeNode && typ != rateTypeLeaf:
		return r, fmt.Errorf("devlink: rate type %d", typ)
	}
	return r, nil
}

func str(a syscall.NetlinkRouteAttr) string {
	return strings.TrimRight(string(a.Value), "\x00")
}
