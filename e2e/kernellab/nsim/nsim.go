// Package nsim drives netdevsim, the kernel's own test device
// (drivers/net/netdevsim), which the kernel lab builds out of tree from
// Debian's linux-source of the lab kernel and loads at boot: it makes
// devices through /sys/bus/netdevsim, enables their VFs and reads what the
// device holds from its debugfs (/sys/kernel/debug/netdevsim/netdevsimN).
//
// Units are netdevsim's: VF and rate node tx_share/tx_max in debugfs are
// Mbit/s (netdevsim 6.1 stores the devlink rate divided by 125000 bytes/s).
package nsim

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// BusDir is netdevsim's bus in sysfs.
	BusDir = "/sys/bus/netdevsim"
	// DebugfsRoot holds one directory per device.
	DebugfsRoot = "/sys/kernel/debug/netdevsim"
	// VFPortBase is the devlink port index of VF 0 (NSIM_DEV_VF_PORT_INDEX_BASE).
	VFPortBase = 128
	// DefaultMaxVFs is how many VFs a new device allows (NSIM_BUS_DEV_MAX_VFS).
	DefaultMaxVFs = 4
)

// Available reports whether the netdevsim module is loaded.
func Available() bool {
	_, err := os.Stat(filepath.Join(BusDir, "new_device"))
	return err == nil
}

// Dev is one netdevsim device (netdevsim<ID>).
type Dev struct {
	ID int
}

// New creates device id with ports physical ports and waits for its
// netdevs. Remove deletes it.
func New(id, ports int) (*Dev, error) {
	if err := writeFile(filepath.Join(BusDir, "new_device"), fmt.Sprintf("%d %d", id, ports)); err != nil {
		return nil, fmt.Errorf("netdevsim: new device %d: %w", id, err)
	}
	d := &Dev{ID: id}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := d.Netdevs()
		if len(n) >= ports {
			return d, nil
		}
		if time.Now().After(deadline) {
			_ = d.Remove()
			return nil, fmt.Errorf("netdevsim: device %d: %d of %d netdevs after 10 s", id, len(n), ports)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Remove deletes the device.
func (d *Dev) Remove() error {
	if err := writeFile(filepath.Join(BusDir, "del_device"), strconv.Itoa(d.ID)); err != nil {
		return fmt.Errorf("netdevsim: delete device %d: %w", d.ID, err)
	}
	return nil
}

// Name is the device's bus device name (the devlink dev name), netdevsim<ID>.
func (d *Dev) Name() string { return "netdevsim" + strconv.Itoa(d.ID) }

// Handle is the devlink handle, netdevsim/netdevsim<ID>.
func (d *Dev) Handle() string { return "netdevsim/" + d.Name() }

// SysDir is the device's sysfs directory.
func (d *Dev) SysDir() string { return filepath.Join(BusDir, "devices", d.Name()) }

// DebugDir is the device's debugfs directory.
func (d *Dev) DebugDir() string { return filepath.Join(DebugfsRoot, d.Name()) }

// Netdevs lists the device's netdevs (the physical ports; VF netdevs do not
// exist in netdevsim, representors appear in switchdev mode).
func (d *Dev) Netdevs() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(d.SysDir(), "net"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// SetMaxVFs raises (or lowers) how many VFs the device allows; only while
// it has none.
func (d *Dev) SetMaxVFs(n int) error {
	if err := writeFile(filepath.Join(d.DebugDir(), "max_vfs"), strconv.Itoa(n)); err != nil {
		return fmt.Errorf("netdevsim %s: max_vfs %d: %w", d.Name(), n, err)
	}
	return nil
}

// SetVFs writes sriov_numvfs (0 removes them; n must be <= max_vfs).
func (d *Dev) SetVFs(n int) error {
	if err := writeFile(filepath.Join(d.SysDir(), "sriov_numvfs"), strconv.Itoa(n)); err != nil {
		return fmt.Errorf("netdevsim %s: sriov_numvfs %d: %w", d.Name(), n, err)
	}
	return nil
}

// Rate is what netdevsim's debugfs shows for a VF port or a rate node:
// tx_share and tx_max in Mbit/s, the parent node's name ("" for none).
type Rate struct {
	TxShareMbit uint16
	TxMaxMbit   uint16
	Parent      string
}

// Rates is a device's rate state read from debugfs: VF leaves by VF index
// and rate nodes by name.
type Rates struct {
	Leaves map[int]Rate
	Nodes  map[string]Rate
}

// ReadRates reads every VF port's and rate node's tx_share, tx_max and
// rate_parent. VF ports exist in switchdev mode only.
func (d *Dev) ReadRates() (Rates, error) {
	r := Rates{Leaves: map[int]Rate{}, Nodes: map[string]Rate{}}
	ports, err := os.ReadDir(filepath.Join(d.DebugDir(), "ports"))
	if err != nil {
		return r, fmt.Errorf("netdevsim %s: %w", d.Name(), err)
	}
	for _, p := range ports {
		idx, err := strconv.Atoi(p.Name())
		if err != nil || idx < VFPortBase {
			continue
		}
		rate, err := readRate(filepath.Join(d.DebugDir(), "ports", p.Name()))
		if err != nil {
			return r, fmt.Errorf("netdevsim %s port %d: %w", d.Name(), idx, err)
		}
		r.Leaves[idx-VFPortBase] = rate
	}
	nodes, err := os.ReadDir(filepath.Join(d.DebugDir(), "rate_nodes"))
	if err != nil {
		return r, fmt.Errorf("netdevsim %s: %w", d.Name(), err)
	}
	for _, n := range nodes {
		rate, err := readRate(filepath.Join(d.DebugDir(), "rate_nodes", n.Name()))
		if err != nil {
			return r, fmt.Errorf("netdevsim %s node %s: %w", d.Name(), n.Name(), err)
		}
		r.Nodes[n.Name()] = rate
	}
	return r, nil
}

func readRate(dir string) (Rate, error) {
	var r Rate
	for _, f := range []struct {
		name string
		dst  *uint16
	}{{"tx_share", &r.TxShareMbit}, {"tx_max", &r.TxMaxMbit}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return r, err
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16)
		if err != nil {
			return r, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = uint16(v)
	}
	b, err := os.ReadFile(filepath.Join(dir, "rate_parent"))
	if err != nil {
		return r, err
	}
	r.Parent = strings.TrimSpace(string(b))
	return r, nil
}

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Equal reports whether r and o hold the same leaves and nodes.
func (r Rates) Equal(o Rates) bool {
	return maps.Equal(r.Leaves, o.Leaves) && maps.Equal(r.Nodes, o.Nodes)
}
