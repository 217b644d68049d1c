package kube

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// NodeResolver resolves NIC target templates to this node's interfaces by
// reading sysfs (SysRoot/class/net) and, for a default route selector, the
// kernel's routing table. It implements model/kube's Resolver. Exactly one
// interface must match a template: zero or several is an error for that
// target on this node.
type NodeResolver struct {
	// SysRoot is the sysfs mount ("" = /sys); tests point it at a fake tree.
	SysRoot string
	// DefaultRoutes returns the interface names of the default routes,
	// IPv4 first; nil reads them with netlink.
	DefaultRoutes func() (v4, v6 []string, err error)
}

func (r *NodeResolver) sys() string {
	if r.SysRoot == "" {
		return "/sys"
	}
	return r.SysRoot
}

// interfaces lists the names under SysRoot/class/net, sorted.
func (r *NodeResolver) interfaces() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(r.sys(), "class", "net"))
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// device returns the path of ifname's device directory.
func (r *NodeResolver) device(ifname string) string {
	return filepath.Join(r.sys(), "class", "net", ifname, "device")
}

// pci returns ifname's PCI address (the device link's base name when it
// looks like one), or "".
func (r *NodeResolver) pci(ifname string) string {
	dst, err := filepath.EvalSymlinks(r.device(ifname))
	if err != nil {
		return ""
	}
	base := filepath.Base(dst)
	// dddd:bb:dd.f
	if len(base) == 12 && base[4] == ':' && base[7] == ':' && base[10] == '.' {
		return base
	}
	return ""
}

// driver returns the kernel driver bound to ifname's device, or "".
func (r *NodeResolver) driver(ifname string) string {
	dst, err := os.Readlink(filepath.Join(r.device(ifname), "driver"))
	if err != nil {
		return ""
	}
	return filepath.Base(dst)
}

// pciID returns ifname's device's PCI vendor and device ids, lowercase hex
// without 0x, or "" when it has none.
func (r *NodeResolver) pciID(ifname string) (vendor, device string) {
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(r.device(ifname), f))
		if err != nil {
			return ""
		}
		return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(string(b))), "0x")
	}
	return read("vendor"), read("device")
}

// ResolveNIC implements model/kube's Resolver.
func (r *NodeResolver) ResolveNIC(t *v1alpha1.NICTarget) (string, string, error) {
	sel := &t.Interface
	if sel.DefaultRoute {
		name, err := r.defaultRoute()
		if err != nil {
			return "", "", err
		}
		return name, r.pci(name), nil
	}
	names, err := r.interfaces()
	if err != nil {
		return "", "", err
	}
	var match func(string) bool
	var what string
	switch {
	case sel.Name != "":
		what = fmt.Sprintf("interface %q", sel.Name)
		match = func(n string) bool { return n == string(sel.Name) }
	case sel.NamePattern != "":
		if _, err := path.Match(sel.NamePattern, ""); err != nil {
			return "", "", fmt.Errorf("namePattern %q: %w", sel.NamePattern, err)
		}
		what = fmt.Sprintf("interface name pattern %q", sel.NamePattern)
		match = func(n string) bool { ok, _ := path.Match(sel.NamePattern, n); return ok }
	case sel.Driver != "":
		what = fmt.Sprintf("driver %q", sel.Driver)
		match = func(n string) bool { return r.driver(n) == sel.Driver }
	case sel.PCIID != nil:
		id := sel.PCIID
		what = "PCI id " + id.Vendor
		if id.Device != "" {
			what += ":" + id.Device
		}
		match = func(n string) bool {
			v, d := r.pciID(n)
			return v == id.Vendor && (id.Device == "" || d == id.Device)
		}
	default:
		return "", "", errors.New("the interface selector sets no criterion")
	}
	var found []string
	for _, n := range names {
		if match(n) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return "", "", fmt.Errorf("no interface matches %s", what)
	case 1:
		return found[0], r.pci(found[0]), nil
	}
	return "", "", fmt.Errorf("%d interfaces match %s (%s): it must pick exactly one", len(found), what, strings.Join(found, ", "))
}

// defaultRoute returns the interface of the single IPv4 default route, else
// of the single IPv6 one.
func (r *NodeResolver) defaultRoute() (string, error) {
	list := r.DefaultRoutes
	if list == nil {
		list = netlinkDefaultRoutes
	}
	v4, v6, err := list()
	if err != nil {
		return "", fmt.Errorf("default route: %w", err)
	}
	for _, fam := range []struct {
		name string
		ifs  []string
	}{{"IPv4", v4}, {"IPv6", v6}} {
		ifs := slices.Compact(slices.Sorted(slices.Values(fam.ifs)))
		switch len(ifs) {
		case 0:
			continue
		case 1:
			return ifs[0], nil
		}
		return "", fmt.Errorf("the %s default routes leave through %d interfaces (%s): it must pick exactly one", fam.name, len(ifs), strings.Join(ifs, ", "))
	}
	return "", errors.New("no default route")
}

// netlinkDefaultRoutes lists the main table's default routes' interfaces.
func netlinkDefaultRoutes() (v4, v6 []string, err error) {
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteList(nil, fam)
		if err != nil {
			return nil, nil, err
		}
		for _, rt := range routes {
			if rt.Dst != nil {
				if ones, _ := rt.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			idx := rt.LinkIndex
			if idx == 0 && len(rt.MultiPath) > 0 {
				idx = rt.MultiPath[0].LinkIndex
			}
			l, err := netlink.LinkByIndex(idx)
			if err != nil {
				continue
			}
			if fam == netlink.FAMILY_V4 {
				v4 = append(v4, l.Attrs().Name)
			} else {
				v6 = append(v6, l.Attrs().Name)
			}
		}
	}
	return v4, v6, nil
}
