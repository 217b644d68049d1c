package devlink

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Port is a devlink port as DEVLINK_CMD_PORT_GET shows it: a physical port
// (Flavour FlavourPhysical, with the PF's netdev), a PF or a VF
// representor (FlavourPCIPF, FlavourPCIVF with PF and VF numbers). A VF's
// rate leaf is the leaf of its representor port.
type Port struct {
	Device
	Index   uint32
	Flavour uint16
	Netdev  string // "" when the port has none
	PF, VF  uint16 // PCI PF and VF numbers (VF ports; PF for PF ports)
}

// encodePortDump is the body of a DEVLINK_CMD_PORT_GET dump.
func encodePortDump() []byte { return genlHeader(cmdPortGet) }

// decodePort reads one port message (genl header and attributes).
func decodePort(msg []byte) (Port, error) {
	var p Port
	if len(msg) < 4 {
		return p, errors.New("devlink: short port message")
	}
	as, err := nl.ParseRouteAttr(msg[4:])
	if err != nil {
		return p, fmt.Errorf("devlink port attributes: %w", err)
	}
	ne := nl.NativeEndian()
	for _, a := range as {
		switch v := a.Value; a.Attr.Type {
		case attrBusName:
			p.Bus = str(a)
		case attrDevName:
			p.Name = str(a)
		case attrPortIndex:
			if len(v) >= 4 {
				p.Index = ne.Uint32(v)
			}
		case attrPortFlavour:
			if len(v) >= 2 {
				p.Flavour = ne.Uint16(v)
			}
		case attrPortNetdevName:
			p.Netdev = str(a)
		case attrPortPCIPFNumber:
			if len(v) >= 2 {
				p.PF = ne.Uint16(v)
			}
		case attrPortPCIVFNumber:
			if len(v) >= 2 {
				p.VF = ne.Uint16(v)
			}
		}
	}
	return p, nil
}

// Ports lists the devlink ports of every device (d zero) or of device d.
func (c *Client) Ports(d Device) ([]Port, error) {
	msgs, err := c.do(unix.NLM_F_DUMP, encodePortDump())
	if err != nil {
		return nil, fmt.Errorf("devlink port show: %w", err)
	}
	var out []Port
	for _, m := range msgs {
		p, err := decodePort(m)
		if err != nil {
			return nil, err
		}
		if d == (Device{}) || p.Device == d {
			out = append(out, p)
		}
	}
	return out, nil
}

// DeviceOf finds the devlink device whose port carries netdev ifname (a
// PF's uplink).
func (c *Client) DeviceOf(ifname string) (Device, error) {
	ps, err := c.Ports(Device{})
	if err != nil {
		return Device{}, err
	}
	for _, p := range ps {
		if p.Netdev == ifname {
			return p.Device, nil
		}
	}
	return Device{}, fmt.Errorf("devlink: no port has netdev %s", ifname)
}

// VFPorts maps VF numbers to their representor ports' indexes (leaf
// objects) on device d.
func (c *Client) VFPorts(d Device) (map[int]uint32, error) {
	ps, err := c.Ports(d)
	if err != nil {
		return nil, err
	}
	out := map[int]uint32{}
	for _, p := range ps {
		if p.Flavour == FlavourPCIVF {
			out[int(p.VF)] = p.Index
		}
	}
	return out, nil
}
