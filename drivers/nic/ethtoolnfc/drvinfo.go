package ethtoolnfc

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Driver information and channel counts (ETHTOOL_GDRVINFO, ETHTOOL_GCHANNELS)
// through the same SIOCETHTOOL ioctl as the NFC requests. safchain/ethtool
// passes the address of a stack variable to the kernel as a uintptr
// argument of a Go function call, whose stack check may grow (move) the
// stack first: the kernel's answer goes to the old stack and the caller
// reads zeros (an empty driver name, 0 channels). Client.ioctl turns the
// address into a uintptr right before the syscall, with no call that can
// move the stack in between. The probe asks here.
const (
	cmdGetDrvInfo  = 0x00000003 // ETHTOOL_GDRVINFO
	cmdGetChannels = 0x0000003c // ETHTOOL_GCHANNELS

	// struct ethtool_drvinfo: cmd@0, driver[32]@4, version[32]@36,
	// fw_version[32]@68, bus_info[32]@100, erom_version[32]@132,
	// reserved2[12]@164, n_priv_flags@176, n_stats@180, testinfo_len@184,
	// eedump_len@188, regdump_len@192: 196 bytes.
	sizeofDrvInfo = 196
	// struct ethtool_channels: cmd, max_rx, max_tx, max_other,
	// max_combined, rx_count, tx_count, other_count, combined_count: nine
	// u32, 36 bytes.
	sizeofChannels = 36
)

// DriverName returns the name of dev's driver as ethtool -i shows it
// (empty when the driver reports none).
func (c *Client) DriverName(dev string) (string, error) {
	b := make([]byte, sizeofDrvInfo)
	binary.NativeEndian.PutUint32(b, cmdGetDrvInfo)
	if err := c.ioctl(dev, b); err != nil {
		return "", fmt.Errorf("ethtool driver info of %s: %w", dev, err)
	}
	name, _, _ := bytes.Cut(b[4:36], []byte{0})
	return string(name), nil
}

// Channels is what ETHTOOL_GCHANNELS reports: the current counts.
type Channels struct {
	RX, TX, Other, Combined uint32
}

// Channels returns dev's channel counts (ethtool -l, current).
func (c *Client) Channels(dev string) (Channels, error) {
	b := make([]byte, sizeofChannels)
	binary.NativeEndian.PutUint32(b, cmdGetChannels)
	if err := c.ioctl(dev, b); err != nil {
		return Channels{}, fmt.Errorf("ethtool channels of %s: %w", dev, err)
	}
	ne := binary.NativeEndian
	return Channels{RX: ne.Uint32(b[20:]), TX: ne.Uint32(b[24:]), Other: ne.Uint32(b[28:]), Combined: ne.Uint32(b[32:])}, nil
}
