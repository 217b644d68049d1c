package ethtoolnfc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Client issues SIOCETHTOOL RX NFC requests on an AF_INET datagram socket
// (in the network namespace it was opened in). It is not safe for
// concurrent use.
type Client struct {
	fd int
}

// Open returns a client; Close releases its socket.
func Open() (*Client, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ethtool ntuple: socket: %w", err)
	}
	return &Client{fd: fd}, nil
}

// Close releases the socket.
func (c *Client) Close() error { return unix.Close(c.fd) }

// ifreq is struct ifreq with ifr_data (40 bytes on 64-bit).
type ifreq struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

// ioctl runs SIOCETHTOOL on dev with buf (the ethtool command struct).
func (c *Client) ioctl(dev string, buf []byte) error {
	if len(dev) >= unix.IFNAMSIZ || dev == "" {
		return fmt.Errorf("interface name %q: must be 1 to %d bytes", dev, unix.IFNAMSIZ-1)
	}
	var req ifreq
	copy(req.name[:], dev)
	req.data = uintptr(unsafe.Pointer(&buf[0]))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), siocEthtool, uintptr(unsafe.Pointer(&req)))
	runtime.KeepAlive(buf)
	if errno != 0 {
		return errno
	}
	return nil
}

// Rings returns the number of receive rings rules may steer to
// (ETHTOOL_GRXRINGS).
func (c *Client) Rings(dev string) (uint64, error) {
	b := rxnfc(cmdGetRxRings, 0)
	if err := c.ioctl(dev, b); err != nil {
		return 0, fmt.Errorf("ethtool ntuple %s: get rx rings: %w", dev, err)
	}
	return binary.NativeEndian.Uint64(b[offData:]), nil
}

// Table is what ETHTOOL_GRXCLSRLCNT reports.
type Table struct {
	// Count is the number of rules installed.
	Count uint32
	// Size is the number of locations (0 when the driver does not say);
	// Special: the driver takes LocAny and chooses locations itself.
	Size    uint32
	Special bool
}

// Table returns the rule count and, when the driver reports it there (mlx5,
// sfc), the table size (ETHTOOL_GRXCLSRLCNT). Locations also reads the size
// drivers report with the rules only. A device without RX classification
// returns an error wrapping unix.EOPNOTSUPP.
func (c *Client) Table(dev string) (Table, error) {
	b := rxnfc(cmdGetRuleCount, 0)
	if err := c.ioctl(dev, b); err != nil {
		return Table{}, fmt.Errorf("ethtool ntuple %s: get rule count: %w", dev, err)
	}
	data := uint32(binary.NativeEndian.Uint64(b[offData:]))
	return Table{Count: binary.NativeEndian.Uint32(b[offRuleCnt:]), Size: data &^ LocSpecial, Special: data&LocSpecial != 0}, nil
}

// Locations returns the table and the locations of the installed rules
// (ETHTOOL_GRXCLSRLCNT, then ETHTOOL_GRXCLSRLALL, also with no rules: it
// carries the table size).
func (c *Client) Locations(dev string) (Table, []uint32, error) {
	t, err := c.Table(dev)
	if err != nil {
		return t, nil, err
	}
	if t.Count > maxRuleLocations {
		return t, nil, fmt.Errorf("ethtool ntuple %s: %d rules reported", dev, t.Count)
	}
	b := rxnfc(cmdGetAllRules, int(t.Count))
	binary.NativeEndian.PutUint32(b[offRuleCnt:], t.Count)
	if err := c.ioctl(dev, b); err != nil {
		return t, nil, fmt.Errorf("ethtool ntuple %s: get rule locations: %w", dev, err)
	}
	// Drivers that do not choose locations (ixgbe, i40e) report the
	// table size here only, as ethtool's rmgr_init reads it.
	if size := uint32(binary.NativeEndian.Uint64(b[offData:])); size&^LocSpecial != 0 {
		t.Size, t.Special = size&^LocSpecial, t.Special || size&LocSpecial != 0
	}
	n := binary.NativeEndian.Uint32(b[offRuleCnt:])
	if n > t.Count {
		return t, nil, fmt.Errorf("ethtool ntuple %s: %d rule locations for %d rules", dev, n, t.Count)
	}
	locs := make([]uint32, n)
	for i := range locs {
		locs[i] = binary.NativeEndian.Uint32(b[offRuleLocs+4*i:])
	}
	t.Count = n
	return t, locs, nil
}

// Get returns the rule at loc (ETHTOOL_GRXCLSRULE).
func (c *Client) Get(dev string, loc uint32) (Rule, error) {
	b := rxnfc(cmdGetRule, 0)
	binary.NativeEndian.PutUint32(b[offFS+fsOffLocation:], loc)
	if err := c.ioctl(dev, b); err != nil {
		return Rule{}, fmt.Errorf("ethtool ntuple %s: get rule %d: %w", dev, loc, err)
	}
	r, err := decodeRule(b[offFS : offFS+168])
	if err != nil {
		return r, fmt.Errorf("%s location %d: %w", dev, loc, err)
	}
	return r, nil
}

// Dump returns the table and every rule on dev, by location. Rules of flow
// types this package does not decode are reported in Other.
func (c *Client) Dump(dev string) (*Dump, error) {
	t, locs, err := c.Locations(dev)
	if err != nil {
		return nil, err
	}
	d := &Dump{Table: t, Rules: make(map[uint32]Rule, len(locs))}
	for _, l := range locs {
		r, err := c.Get(dev, l)
		if err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
				continue // deleted meanwhile
			}
			d.Other = append(d.Other, l)
			continue
		}
		d.Rules[l] = r
	}
	return d, nil
}

// Dump is a device's rule table.
type Dump struct {
	Table Table
	Rules map[uint32]Rule
	// Other lists locations holding rules that could not be decoded.
	Other []uint32
}

// Used reports whether loc holds a rule.
func (d *Dump) Used(loc uint32) bool {
	if _, ok := d.Rules[loc]; ok {
		return true
	}
	for _, o := range d.Other {
		if o == loc {
			return true
		}
	}
	return false
}

// Insert installs r (ETHTOOL_SRXCLSRLINS) and returns the location the
// driver used (r.Location, or its choice for LocAny). A rule at an occupied
// location replaces it on most drivers (ixgbe, i40e).
func (c *Client) Insert(dev string, r *Rule) (uint32, error) {
	b := rxnfc(cmdInsertRule, 0)
	if err := encodeRule(b[offFS:offFS+168], r); err != nil {
		return 0, err
	}
	if err := c.ioctl(dev, b); err != nil {
		return 0, fmt.Errorf("ethtool ntuple %s: insert rule at %d: %w", dev, r.Location, err)
	}
	return binary.NativeEndian.Uint32(b[offFS+fsOffLocation:]), nil
}

// Delete removes the rule at loc (ETHTOOL_SRXCLSRLDEL).
func (c *Client) Delete(dev string, loc uint32) error {
	b := rxnfc(cmdDeleteRule, 0)
	binary.NativeEndian.PutUint32(b[offFS+fsOffLocation:], loc)
	if err := c.ioctl(dev, b); err != nil {
		return fmt.Errorf("ethtool ntuple %s: delete rule %d: %w", dev, loc, err)
	}
	return nil
}
