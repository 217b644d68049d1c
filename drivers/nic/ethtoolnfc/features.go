package ethtoolnfc

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Netdev features (ethtool -k / -K), link speed (ethtool) and device
// statistics (ethtool -S) through SIOCETHTOOL, for the same reason as
// drvinfo.go: safchain/ethtool hands the kernel the address of a Go
// variable as a uintptr through a function call that may grow (move) the
// goroutine's stack, and the kernel's answer is then written to the old
// stack. Here the address becomes a uintptr in the function that makes the
// syscall, with no call that can move the stack in between (Client.ioctl).
const (
	cmdGetSettings = 0x00000001 // ETHTOOL_GSET (struct ethtool_cmd)
	cmdGetStrings  = 0x0000001b // ETHTOOL_GSTRINGS
	cmdGetStats    = 0x0000001d // ETHTOOL_GSTATS
	cmdGetSsetInfo = 0x00000037 // ETHTOOL_GSSET_INFO
	cmdGetFeatures = 0x0000003a // ETHTOOL_GFEATURES
	cmdSetFeatures = 0x0000003b // ETHTOOL_SFEATURES

	ssStats    = 1 // ETH_SS_STATS
	ssFeatures = 4 // ETH_SS_FEATURES

	gstringLen = 32 // ETH_GSTRING_LEN

	// struct ethtool_cmd: speed (u16) @12, speed_hi (u16) @28; 44 bytes.
	sizeofCmd = 44
)

// Feature is one netdev feature's state.
type Feature struct {
	// Changeable: the driver lets it be turned on and off (hw_features,
	// and not one the kernel never changes).
	Changeable bool
	// Active: it is on now.
	Active bool
}

// stringSet returns the names of string set ss (ETH_SS_*): its count from
// ETHTOOL_GSSET_INFO, the names from ETHTOOL_GSTRINGS.
func (c *Client) stringSet(dev string, ss uint32) ([]string, error) {
	// struct ethtool_sset_info: cmd, reserved, sset_mask (u64), data[].
	info := make([]byte, 16+4)
	ne := binary.NativeEndian
	ne.PutUint32(info, cmdGetSsetInfo)
	ne.PutUint64(info[8:], 1<<ss)
	if err := c.ioctl(dev, info); err != nil {
		return nil, fmt.Errorf("string set %d size: %w", ss, err)
	}
	if ne.Uint64(info[8:])&(1<<ss) == 0 {
		return nil, nil // the driver has no such set
	}
	n := ne.Uint32(info[16:])
	if n > 1<<16 {
		return nil, fmt.Errorf("string set %d: %d strings", ss, n)
	}
	// struct ethtool_gstrings: cmd, string_set, len, data[len][32].
	b := make([]byte, 12+int(n)*gstringLen)
	ne.PutUint32(b, cmdGetStrings)
	ne.PutUint32(b[4:], ss)
	ne.PutUint32(b[8:], n)
	if err := c.ioctl(dev, b); err != nil {
		return nil, fmt.Errorf("string set %d: %w", ss, err)
	}
	n = min(n, ne.Uint32(b[8:]))
	out := make([]string, n)
	for i := range out {
		s := b[12+i*gstringLen : 12+(i+1)*gstringLen]
		name, _, _ := bytes.Cut(s, []byte{0})
		out[i] = string(name)
	}
	return out, nil
}

// features reads dev's feature blocks: the names, and per 32 features
// {available, requested, active, never_changed} (struct
// ethtool_get_features_block); words is the kernel's block count, which
// ETHTOOL_SFEATURES must be given.
func (c *Client) features(dev string) (names []string, blocks []byte, words uint32, err error) {
	if names, err = c.stringSet(dev, ssFeatures); err != nil {
		return nil, nil, 0, err
	}
	words = uint32(len(names)+31) / 32
	// struct ethtool_gfeatures: cmd, size, features[size] (16 bytes each).
	b := make([]byte, 8+16*int(words))
	ne := binary.NativeEndian
	ne.PutUint32(b, cmdGetFeatures)
	ne.PutUint32(b[4:], words)
	if err := c.ioctl(dev, b); err != nil {
		return nil, nil, 0, err
	}
	return names, b[8:], ne.Uint32(b[4:]), nil
}

// Features returns dev's netdev features by name (ethtool -k).
func (c *Client) Features(dev string) (map[string]Feature, error) {
	names, blocks, _, err := c.features(dev)
	if err != nil {
		return nil, fmt.Errorf("ethtool features of %s: %w", dev, err)
	}
	ne := binary.NativeEndian
	out := make(map[string]Feature, len(names))
	for i, name := range names {
		if name == "" {
			continue
		}
		blk := blocks[16*(i/32):]
		bit := uint32(1) << (i % 32)
		avail, active, never := ne.Uint32(blk), ne.Uint32(blk[8:]), ne.Uint32(blk[12:])
		out[name] = Feature{Changeable: avail&bit != 0 && never&bit == 0, Active: active&bit != 0}
	}
	return out, nil
}

// SetFeature turns dev's feature name on or off (ethtool -K dev name
// on|off) and checks that the device took it: a driver may leave a
// feature as it was (ETHTOOL_F_WISH) without failing the request.
func (c *Client) SetFeature(dev, name string, on bool) error {
	names, _, words, err := c.features(dev)
	if err != nil {
		return fmt.Errorf("ethtool -K %s %s: %w", dev, name, err)
	}
	i := -1
	for j, n := range names {
		if n == name {
			i = j
		}
	}
	if i < 0 {
		return fmt.Errorf("ethtool -K %s %s: %s has no feature %q", dev, name, dev, name)
	}
	if uint32(i/32) >= words {
		return fmt.Errorf("ethtool -K %s %s: feature %d beyond the kernel's %d words", dev, name, i, words)
	}
	// struct ethtool_sfeatures: cmd, size, features[size] {valid, requested}.
	b := make([]byte, 8+8*int(words))
	ne := binary.NativeEndian
	ne.PutUint32(b, cmdSetFeatures)
	ne.PutUint32(b[4:], words)
	blk := b[8+8*(i/32):]
	bit := uint32(1) << (i % 32)
	ne.PutUint32(blk, bit)
	if on {
		ne.PutUint32(blk[4:], bit)
	}
	if err := c.ioctl(dev, b); err != nil {
		return fmt.Errorf("ethtool -K %s %s %s: %w", dev, name, onOff(on), err)
	}
	feats, err := c.Features(dev)
	if err != nil {
		return err
	}
	if feats[name].Active != on {
		return fmt.Errorf("ethtool -K %s %s %s: the driver left it %s", dev, name, onOff(on), onOff(!on))
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// Speed returns dev's link speed in Mbit/s (ETHTOOL_GSET), 0 when the
// driver does not know it (SPEED_UNKNOWN) or has no link settings.
func (c *Client) Speed(dev string) (uint32, error) {
	b := make([]byte, sizeofCmd)
	ne := binary.NativeEndian
	ne.PutUint32(b, cmdGetSettings)
	if err := c.ioctl(dev, b); err != nil {
		return 0, fmt.Errorf("ethtool link settings of %s: %w", dev, err)
	}
	s := uint32(ne.Uint16(b[12:])) | uint32(ne.Uint16(b[28:]))<<16
	if s == 0xFFFFFFFF || s == 0xFFFF {
		return 0, nil
	}
	return s, nil
}

// Stats returns dev's driver statistics by name (ethtool -S); empty when
// the driver has none.
func (c *Client) Stats(dev string) (map[string]uint64, error) {
	names, err := c.stringSet(dev, ssStats)
	if err != nil {
		return nil, fmt.Errorf("ethtool -S %s: %w", dev, err)
	}
	if len(names) == 0 {
		return map[string]uint64{}, nil
	}
	// struct ethtool_stats: cmd, n_stats, data[n_stats] (u64).
	b := make([]byte, 8+8*len(names))
	ne := binary.NativeEndian
	ne.PutUint32(b, cmdGetStats)
	ne.PutUint32(b[4:], uint32(len(names)))
	if err := c.ioctl(dev, b); err != nil {
		return nil, fmt.Errorf("ethtool -S %s: %w", dev, err)
	}
	n := min(len(names), int(ne.Uint32(b[4:])))
	out := make(map[string]uint64, n)
	for i := range n {
		out[names[i]] = ne.Uint64(b[8+8*i:])
	}
	return out, nil
}
