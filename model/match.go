package model

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// Match is a filterspec. A zero field matches anything, so a Match with only
// Dst set is an aggregate flow (everything to one destination) and one with
// addresses, protocol and both ports is a 5-tuple flow.
type Match struct {
	Src      Prefix    `yaml:"src" json:"src,omitzero"`
	Dst      Prefix    `yaml:"dst" json:"dst,omitzero"`
	Protocol Protocol  `yaml:"protocol" json:"protocol,omitempty"`
	SrcPort  PortRange `yaml:"src-port" json:"src-port,omitzero"`
	DstPort  PortRange `yaml:"dst-port" json:"dst-port,omitzero"`
	// VLAN is the 802.1Q VLAN id, 1-4094; 0 matches any.
	VLAN uint16 `yaml:"vlan" range:"1-4094" json:"vlan,omitempty"`
	// DSCP matches the incoming DSCP, 0-63; nil matches any.
	DSCP *uint8 `yaml:"dscp" range:"0-63" json:"dscp,omitempty"`
	// Interface matches the interface the packet leaves (or, for ingress
	// flows, arrives) on; empty matches any.
	Interface string `yaml:"interface" json:"interface,omitempty"`
	// Cgroup matches the sockets created by the processes of a cgroup v2
	// and its subtree: a path relative to the cgroup2 mount, as
	// /proc/<pid>/cgroup shows it (system.slice/backup.service; a leading
	// "/" is allowed), whose segments may be globs (path.Match:
	// kubepods.slice/kubepods-burstable.slice/*). The socket is
	// classified once, when it is created or connects; only protocol and
	// dst-port may be matched with it. Empty matches any.
	Cgroup string `yaml:"cgroup" json:"cgroup,omitempty"`
}

// Prefix is an IPv4 or IPv6 prefix; a bare address is a full-length prefix.
// The zero Prefix matches any address.
type Prefix struct{ netip.Prefix }

// UnmarshalText reads "10.0.0.0/8", "2001:db8::/32" or "192.0.2.1". Host bits
// set beyond the prefix length are refused: "10.0.0.1/8" is likely a typo.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := string(b)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or prefix", s)
		}
		p.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		return nil
	}
	pp, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is not a valid prefix", s)
	}
	if pp.Masked() != pp {
		return fmt.Errorf("%q has host bits set (did you mean %s?)", s, pp.Masked())
	}
	p.Prefix = pp
	return nil
}

// MarshalText writes the prefix; empty for the zero Prefix.
func (p Prefix) MarshalText() ([]byte, error) {
	if !p.IsValid() {
		return nil, nil
	}
	return []byte(p.String()), nil
}

// IsZero reports whether p matches any address.
func (p Prefix) IsZero() bool { return !p.IsValid() }

// Is4 reports whether p is an IPv4 prefix.
func (p Prefix) Is4() bool { return p.IsValid() && p.Addr().Is4() }

// Is6 reports whether p is an IPv6 prefix.
func (p Prefix) Is6() bool { return p.IsValid() && p.Addr().Is6() }

// overlaps reports whether some address is in both p and q.
func (p Prefix) overlaps(q Prefix) bool {
	if !p.IsValid() || !q.IsValid() {
		return true
	}
	return p.Overlaps(q.Prefix)
}

// PortRange is an inclusive range of TCP/UDP/SCTP ports, 1-65535. Lo == Hi is
// an exact port; the zero PortRange matches any port.
type PortRange struct {
	Lo, Hi uint16
}

// UnmarshalText reads "443" or "1000-2000".
func (r *PortRange) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	a, c, isRange := strings.Cut(s, "-")
	lo, err := parsePort(a)
	if err != nil {
		return err
	}
	hi := lo
	if isRange {
		if hi, err = parsePort(c); err != nil {
			return err
		}
		if hi < lo {
			return fmt.Errorf("range %q is not ordered: %d > %d", s, lo, hi)
		}
	}
	*r = PortRange{lo, hi}
	return nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s is not a number in range 1-65535", strings.TrimSpace(s))
	}
	return uint16(n), nil
}

// MarshalText writes "443" or "1000-2000".
func (r PortRange) MarshalText() ([]byte, error) {
	if r.IsZero() {
		return nil, nil
	}
	return []byte(r.String()), nil
}

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// IsZero reports whether r matches any port.
func (r PortRange) IsZero() bool { return r.Lo == 0 && r.Hi == 0 }

// Exact reports whether r is a single port.
func (r PortRange) Exact() bool { return !r.IsZero() && r.Lo == r.Hi }

func (r PortRange) overlaps(q PortRange) bool {
	if r.IsZero() || q.IsZero() {
		return true
	}
	return r.Lo <= q.Hi && q.Lo <= r.Hi
}

// bits returns how many bits of the port field r pins: 16 for an exact port,
// fewer for wider ranges (a range of 2^k aligned ports pins 16-k bits).
func (r PortRange) bits() int {
	if r.IsZero() {
		return 0
	}
	width := uint32(r.Hi) - uint32(r.Lo) + 1
	b := 16
	for w := width; w > 1; w >>= 1 {
		b--
	}
	if width&(width-1) != 0 {
		b-- // a non-power-of-two range is looser than the power below it
	}
	return max(b, 0)
}

// Protocol is an IP protocol number; 0 matches any.
type Protocol uint8

// Protocol numbers qosplane knows by name.
const (
	ICMP   Protocol = 1
	TCP    Protocol = 6
	UDP    Protocol = 17
	ICMPv6 Protocol = 58
	SCTP   Protocol = 132
)

var protocolNames = map[string]Protocol{"icmp": ICMP, "tcp": TCP, "udp": UDP, "icmpv6": ICMPv6, "sctp": SCTP}

// UnmarshalText reads a protocol name (tcp, udp, icmp, icmpv6, sctp) or a
// number 1-255.
func (p *Protocol) UnmarshalText(b []byte) error {
	s := strings.ToLower(string(b))
	if v, ok := protocolNames[s]; ok {
		*p = v
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n == 0 {
		return fmt.Errorf("unknown protocol %q (use tcp, udp, icmp, icmpv6, sctp or a number 1-255)", b)
	}
	*p = Protocol(n)
	return nil
}

// MarshalText writes the name where there is one.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func (p Protocol) String() string {
	for n, v := range protocolNames {
		if v == p {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether the protocol carries ports.
func (p Protocol) HasPorts() bool { return p == TCP || p == UDP || p == SCTP }

// Family returns 4 or 6 when the match pins an address family, else 0.
func (m *Match) Family() int {
	switch {
	case m.Src.Is4() || m.Dst.Is4() || m.Protocol == ICMP:
		return 4
	case m.Src.Is6() || m.Dst.Is6() || m.Protocol == ICMPv6:
		return 6
	}
	return 0
}

// Overlaps reports whether some packet can match both m and o.
func (m *Match) Overlaps(o *Match) bool {
	if f, g := m.Family(), o.Family(); f != 0 && g != 0 && f != g {
		return false
	}
	if m.Protocol != 0 && o.Protocol != 0 && m.Protocol != o.Protocol {
		return false
	}
	if m.VLAN != 0 && o.VLAN != 0 && m.VLAN != o.VLAN {
		return false
	}
	if m.DSCP != nil && o.DSCP != nil && *m.DSCP != *o.DSCP {
		return false
	}
	if m.Interface != "" && o.Interface != "" && m.Interface != o.Interface {
		return false
	}
	// A cgroup flow marks sockets, a flow without one is matched on
	// packets: the two are never compared (a packet rule that matches a
	// marked socket's packets acts on them after the socket marked them).
	if (m.Cgroup == "") != (o.Cgroup == "") || m.Cgroup != "" && !cgroupsOverlap(m.Cgroup, o.Cgroup) {
		return false
	}
	return m.Src.overlaps(o.Src) && m.Dst.overlaps(o.Dst) &&
		m.SrcPort.overlaps(o.SrcPort) && m.DstPort.overlaps(o.DstPort)
}

// Specificity is how much of a packet's header a match pins, compared field
// by field. A more specific match wins over a less specific one, as in
// policy-based QoS.
type Specificity struct {
	// Bits is the number of header bits the match fixes: prefix lengths,
	// 16 per exact port (fewer for ranges), 8 for the protocol, 12 for the
	// VLAN id, 6 for DSCP, 1 for the interface, 1 for the cgroup.
	Bits int
	// Fields is the number of fields matched; it breaks ties in Bits.
	Fields int
}

// MaxSpecificityBits is the most Bits any Match can have (an IPv6 5-tuple
// with VLAN, DSCP and interface; a cgroup match has far fewer, since it
// goes only with a protocol and a destination port).
const MaxSpecificityBits = 128 + 128 + 16 + 16 + 8 + 12 + 6 + 1

// Specificity computes m's specificity.
func (m *Match) Specificity() Specificity {
	var s Specificity
	add := func(set bool, bits int) {
		if set {
			s.Bits += bits
			s.Fields++
		}
	}
	add(m.Src.IsValid(), m.Src.Bits())
	add(m.Dst.IsValid(), m.Dst.Bits())
	add(m.Protocol != 0, 8)
	add(!m.SrcPort.IsZero(), m.SrcPort.bits())
	add(!m.DstPort.IsZero(), m.DstPort.bits())
	add(m.VLAN != 0, 12)
	add(m.DSCP != nil, 6)
	add(m.Interface != "", 1)
	add(m.Cgroup != "", 1)
	return s
}

// Compare orders specificities: negative when s is more specific than o (so
// that sorting puts the most specific first), zero when equal.
func (s Specificity) Compare(o Specificity) int {
	if s.Bits != o.Bits {
		return o.Bits - s.Bits
	}
	return o.Fields - s.Fields
}

// cgroupsOverlap reports whether two cgroup matches of equal standing can
// classify the same socket: they have as many segments (a deeper match
// wins over its ancestors, so nested ones do not conflict) and each pair of
// segments can name the same directory.
func cgroupsOverlap(a, b string) bool {
	as := strings.Split(strings.Trim(a, "/"), "/")
	bs := strings.Split(strings.Trim(b, "/"), "/")
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		x, y := as[i], bs[i]
		switch gx, gy := isGlob(x), isGlob(y); {
		case !gx && !gy:
			if x != y {
				return false
			}
		case gx && !gy:
			if ok, _ := path.Match(x, y); !ok {
				return false
			}
		case !gx && gy:
			if ok, _ := path.Match(y, x); !ok {
				return false
			}
		}
		// Two globs may always name the same directory.
	}
	return true
}

func isGlob(seg string) bool { return strings.ContainsAny(seg, `*?[\`) }
