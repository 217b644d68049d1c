package offload

import (
	"fmt"
	"slices"

	"github.com/qosplane/qosplane/model"
)

// NtupleCaps describe a NIC's ethtool ntuple steering (ETHTOOL_SRXCLSRLINS
// rules: match fields, action = one receive queue).
type NtupleCaps struct {
	// Matches lists the match fields (profile names) a rule can take;
	// qosplane encodes IPv4 tcp4/udp4/sctp4/ip4 rules with exact ports.
	Matches []string `yaml:"matches" json:"matches"`
	// MaxRules is the size of the rule table; zero = no limit.
	MaxRules int `yaml:"max-rules" json:"max_rules,omitempty"`
	// SingleMask: every rule on the port must have the same mask (ixgbe
	// programs one flow director mask per port).
	SingleMask bool `yaml:"single-mask" json:"single_mask,omitempty"`
}

// ntupleSteers reports whether ingress flows go to ntuple rules: the
// profile has ntuple steering and no flower hw_tc on ingress.
func (cc *compiler) ntupleSteers() bool {
	c := cc.caps
	if c.Ntuple == nil {
		return false
	}
	set, ok := c.Offload[OnIngress]
	return !ok || !slices.Contains(set.Actions, SteerTC)
}

// ntupleMask is the part of a match that makes an ntuple rule's mask.
type ntupleMask struct {
	src, dst         int // prefix bits, -1 = any
	proto            bool
	srcPort, dstPort bool
}

func (m ntupleMask) String() string {
	return fmt.Sprintf("src /%d, dst /%d, protocol %v, src-port %v, dst-port %v", max(m.src, 0), max(m.dst, 0), m.proto, m.srcPort, m.dstPort)
}

func maskOf(m *model.Match) ntupleMask {
	bits := func(p model.Prefix) int {
		if !p.IsValid() {
			return -1
		}
		return p.Bits()
	}
	return ntupleMask{src: bits(m.Src), dst: bits(m.Dst), proto: m.Protocol != 0, srcPort: !m.SrcPort.IsZero(), dstPort: !m.DstPort.IsZero()}
}

// placeNtuple makes r (an ingress rule of class cp) an ntuple rule that
// steers to the first receive queue of the class's TC, or unsupported with
// the reason. The plan notes, once, why ntuple is used.
func (cc *compiler) placeNtuple(r *Rule, cp *ClassPlan) {
	c, tp := cc.caps, cc.tp
	queue := uint16(0)
	if tp.Queues != nil && cp.TC >= 0 && cp.TC < len(tp.Queues.TCs) {
		queue = tp.Queues.TCs[cp.TC].Offset
	}
	r.Actions = []Action{{Kind: SteerQueue, TC: cp.TC, Queue: queue}}
	var first *Rule
	n := 0
	for i := range tp.Rules {
		o := &tp.Rules[i]
		if o.Where.Placement == Hardware && o.Direction == OnIngress && len(o.Actions) == 1 && o.Actions[0].Kind == SteerQueue {
			if first == nil {
				first = o
			}
			n++
		}
	}
	if first == nil {
		cc.noteOnce("%s has no flower hw_tc on ingress: received flows are steered with ethtool ntuple rules to the first receive queue of their class's TC", c.Profile)
	}
	unsupported := func(format string, args ...any) {
		r.Where = Where{Placement: Unsupported, Reason: "ethtool ntuple: " + fmt.Sprintf(format, args...)}
	}
	m := &r.Match
	if missing, ok := (OffloadSet{Matches: c.Ntuple.Matches}).Has(matchFields(m), nil); !ok {
		unsupported("%s cannot %s", c.Profile, missing)
		return
	}
	switch {
	case m.Src.IsValid() && !m.Src.Addr().Is4() || m.Dst.IsValid() && !m.Dst.Addr().Is4():
		unsupported("qosplane encodes IPv4 rules only (tcp4, udp4, sctp4, ip4)")
		return
	case m.Protocol != 0 && m.Protocol != 6 && m.Protocol != 17 && m.Protocol != 132:
		unsupported("protocol %d: ntuple matches tcp, udp, sctp or any", m.Protocol)
		return
	case !m.SrcPort.IsZero() && !m.SrcPort.Exact() || !m.DstPort.IsZero() && !m.DstPort.Exact():
		unsupported("port ranges are not encoded; match one port")
		return
	case (!m.SrcPort.IsZero() || !m.DstPort.IsZero()) && m.Protocol == 0:
		unsupported("a port match needs a protocol (tcp, udp or sctp)")
		return
	case c.Ntuple.MaxRules > 0 && n >= c.Ntuple.MaxRules:
		unsupported("the rule table of %s is full (%d rules)", r.Device, c.Ntuple.MaxRules)
		return
	}
	if c.Ntuple.SingleMask && first != nil {
		if a, b := maskOf(m), maskOf(&first.Match); a != b {
			unsupported("%s takes one mask per port (ixgbe_add_ethtool_fdir_entry: \"Only one mask supported per port\"): flow %s has %s, flow %s has %s",
				c.Profile, r.Flow, a, first.Flow, b)
			return
		}
	}
	r.Where = Where{Placement: Hardware}
}
