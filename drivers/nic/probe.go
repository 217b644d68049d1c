package nic

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Mellanox/rdmamap"

	"github.com/qosplane/qosplane/drivers/nic/ethtoolnfc"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// DeviceInfo is what Probe reads from the device.
type DeviceInfo struct {
	Driver string
	// HWTCOffload: the hw-tc-offload feature exists (Changeable) and its
	// current state (On).
	HWTCOffloadChangeable, HWTCOffloadOn bool
	// Channels is the combined (or else transmit) queue count.
	Channels int
	// Speed is the link speed in bit/s; zero when unknown.
	Speed model.Rate
	// SwitchID is phys_switch_id (switchdev mode), Representors the
	// interfaces sharing it with a VF port name (pfNvfM).
	SwitchID     string
	Representors []string
	// RDMA is the RDMA device of the interface, if any.
	RDMA string
}

var vfPortName = regexp.MustCompile(`^pf\d+vf\d+$`)

func readSysfs(sysfs, iface, file string) string {
	b, err := os.ReadFile(filepath.Join(sysfs, "class/net", iface, file))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// probeDevice reads the device through ethtool (ioctl), sysfs and rdmamap.
// Every SIOCETHTOOL request goes through et, our own client: safchain/
// ethtool's may lose the kernel's answer when the goroutine's stack moves
// (see ethtoolnfc's drvinfo.go), and an empty driver name would pick
// profile none.
func probeDevice(et *ethtoolnfc.Client, sysfs, iface string) (*DeviceInfo, error) {
	var err error
	info := new(DeviceInfo)
	if info.Driver, err = et.DriverName(iface); err != nil {
		return nil, err
	}
	feats, err := et.Features(iface)
	if err != nil {
		return nil, err
	}
	if f, ok := feats["hw-tc-offload"]; ok {
		info.HWTCOffloadChangeable, info.HWTCOffloadOn = f.Changeable, f.Active
	}
	if ch, err := et.Channels(iface); err == nil {
		info.Channels = int(max(ch.Combined, ch.TX))
	}
	if speed, err := et.Speed(iface); err == nil && speed != 0 {
		info.Speed = model.Rate(speed) * 1_000_000
	} else if s, err := strconv.ParseUint(readSysfs(sysfs, iface, "speed"), 10, 32); err == nil && s > 0 {
		info.Speed = model.Rate(s) * 1_000_000
	}
	info.SwitchID = readSysfs(sysfs, iface, "phys_switch_id")
	if info.SwitchID != "" {
		ents, _ := os.ReadDir(filepath.Join(sysfs, "class/net"))
		for _, e := range ents {
			n := e.Name()
			if n == iface || readSysfs(sysfs, n, "phys_switch_id") != info.SwitchID {
				continue
			}
			if vfPortName.MatchString(readSysfs(sysfs, n, "phys_port_name")) {
				info.Representors = append(info.Representors, n)
			}
		}
		slices.Sort(info.Representors)
	}
	if dev, err := rdmamap.GetRdmaDeviceForNetdevice(iface); err == nil {
		info.RDMA = dev
	}
	return info, nil
}

// pickProfile returns the built-in profile for a probed device: the one
// whose drivers list names its driver (mlx5_core -> mlx5-nic, ice -> ice),
// mlx5-switchdev for an mlx5 eswitch in switchdev mode, none otherwise.
// Profiles with HTB offload (mlx5-htb) are never picked by driver name:
// whether a device's firmware has the QoS capability shows only when the
// offload is tried (mlx5e_htb_setup_tc), so a target names them itself.
func pickProfile(info *DeviceInfo) string {
	if info.Driver == "mlx5_core" && info.SwitchID != "" {
		return "mlx5-switchdev"
	}
	for _, name := range offload.Profiles() {
		p, err := offload.LoadProfile(name)
		if err != nil || p.Kind != "nic" || p.HTB != nil {
			continue
		}
		if slices.Contains(p.Drivers, info.Driver) {
			return name
		}
	}
	return "none"
}

// Probe reads the device and returns the profile's capabilities completed
// with the link speed and channel count. A device without hw-tc-offload
// offloads nothing.
func (d *Driver) Probe(ctx context.Context) (*offload.Capabilities, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	et, err := d.nfc()
	if err != nil {
		return nil, fmt.Errorf("ethtool: %w", err)
	}
	info, err := probeDevice(et, d.sysfs, d.dev.Interface)
	if err != nil {
		return nil, err
	}
	d.info = info
	name := d.profile
	if name == "" {
		name = pickProfile(info)
	}
	caps, err := offload.LoadProfile(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", d.dev.Interface, err)
	}
	caps.LinkSpeed = info.Speed
	if info.Channels > 0 {
		caps.Channels = info.Channels
		if caps.TrafficClasses > caps.Channels {
			caps.TrafficClasses = caps.Channels
		}
	}
	if !info.HWTCOffloadChangeable && !info.HWTCOffloadOn {
		caps.TrafficClasses = 0
		caps.Offload = map[offload.RuleDirection]offload.OffloadSet{}
		caps.HTB = nil
	}
	if info.RDMA == "" && d.rdmaDev == "" {
		caps.RoCE = false
	}
	d.log.Debug("probed", "interface", d.dev.Interface, "driver", info.Driver, "profile", caps.Profile,
		"channels", info.Channels, "speed", info.Speed, "switch_id", info.SwitchID, "representors", info.Representors, "rdma", info.RDMA)
	return caps, nil
}
