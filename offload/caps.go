package offload

import (
	"embed"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/qosplane/qosplane/model"
)

// Capabilities describe what a device can carry. Profiles ship with qosplane
// (profiles/*.yaml, see Profiles) and can be loaded from a file; a driver's
// Probe completes them with what it reads from the device.
type Capabilities struct {
	Profile string `yaml:"profile" json:"profile"`
	// Kind is "nic", "switch" or "software".
	Kind string `yaml:"kind" json:"kind"`
	// Drivers lists the kernel drivers (ethtool driver names) the profile is
	// picked for when probing.
	Drivers     []string `yaml:"drivers" json:"drivers,omitempty"`
	Description string   `yaml:"description" json:"description,omitempty"`

	// TrafficClasses is the number of hardware traffic classes (mqprio
	// num_tc); zero means no hardware queues.
	TrafficClasses int `yaml:"traffic-classes" range:"0-16" json:"traffic_classes"`
	// Channels is the number of transmit queues to split among TCs.
	Channels int `yaml:"channels" range:"0-4096" json:"channels"`
	// MaxRate and MinRate say whether the per-TC shaper takes a max_rate
	// and a min_rate.
	MaxRate bool `yaml:"max-rate" json:"max_rate"`
	MinRate bool `yaml:"min-rate" json:"min_rate"`
	// RateGranularity: TC rates are multiples of it (bit/s); zero = 1 bit/s.
	RateGranularity model.Rate `yaml:"rate-granularity" json:"rate_granularity,omitempty"`
	// MaxTCRate is the highest rate one TC's shaper takes; zero = link speed.
	MaxTCRate model.Rate `yaml:"max-tc-rate" json:"max_tc_rate,omitempty"`
	// MinHWTC is the lowest TC index a receive steering rule may name
	// (ice refuses hw_tc 0).
	MinHWTC int `yaml:"min-hw-tc" range:"0-15" json:"min_hw_tc,omitempty"`
	// MaxRateSumLink: the TCs' max rates together may not exceed the link
	// (i40e_validate_mqprio_qopt, cxgb4_mqprio_validate refuse more).
	MaxRateSumLink bool `yaml:"max-rate-sum-link" json:"max_rate_sum_link,omitempty"`
	// MaxRateUnsetIsZero: a TC without a max rate reaches the hardware as
	// a 0 rate, not as unlimited (cxgb4_mqprio_alloc_tc); the plan says so.
	MaxRateUnsetIsZero bool `yaml:"max-rate-unset-is-zero" json:"max_rate_unset_is_zero,omitempty"`
	// TC0QueuesPow2: TC 0's queue count must be a power of two (i40e_setup_tc:
	// "Override queues (%u) not power of 2").
	TC0QueuesPow2 bool `yaml:"tc0-queues-pow2" json:"tc0_queues_pow2,omitempty"`
	// QueueLayout says who lays out the TCs' transmit queues: "" (the plan,
	// mqprio channel mode) or "rings-per-tc": the driver takes mqprio as a
	// TC count and gives every TC as many queues as there are channels, TC i
	// at i × channels (bnxt_setup_mq_tc, bnxt_setup_msix), with no rates.
	QueueLayout string `yaml:"queue-layout" json:"queue_layout,omitempty"`
	// TCQueuesMax caps, for a rings-per-tc device, the queues each TC gets:
	// with n TCs at most TCQueuesMax[n-1] (ixgbe_set_dcb_queues: 16 up to
	// 4 TCs, 8 above). Empty: no cap beyond the channel count.
	TCQueuesMax []int `yaml:"tc-queues-max" json:"tc_queues_max,omitempty"`

	// Offload lists, per rule direction, the matches and actions the device
	// executes in hardware. A direction that is absent offloads nothing.
	Offload map[RuleDirection]OffloadSet `yaml:"-" json:"offload,omitempty"`
	// OffloadFile is Offload as written in a profile file.
	OffloadFile OffloadDirections `yaml:"offload" json:"-"`
	// MaxRules is the most offloaded rules per device; zero = no limit.
	MaxRules int `yaml:"max-rules" json:"max_rules,omitempty"`
	// Ntuple: the device steers received flows to queues with ethtool
	// ntuple rules (used where it has no flower hw_tc; see NtupleCaps).
	Ntuple *NtupleCaps `yaml:"ntuple" json:"ntuple,omitempty"`
	// HTB: the device offloads HTB (tc qdisc ... htb offload); the
	// compiler prefers it over mqprio for classes with minimum rates or
	// borrowing (see HTBCaps, compile_htb.go).
	HTB *HTBCaps `yaml:"htb" json:"htb,omitempty"`

	// DCB says the device takes ETS, PFC, maxrate and app entries over
	// dcbnl; RoCE that it has an RDMA function whose default ToS can be
	// set.
	DCB  bool `yaml:"dcb" json:"dcb,omitempty"`
	RoCE bool `yaml:"roce" json:"roce,omitempty"`

	// SRIOV says what the PF takes for its VFs' QoS; nil: nothing.
	SRIOV *SRIOVCaps `yaml:"sriov" json:"sriov,omitempty"`

	// Switch describes an OpenConfig switch's deviations.
	Switch *SwitchCaps `yaml:"switch" json:"switch,omitempty"`

	// LinkSpeed is the probed link speed in bit/s (not in profile files).
	LinkSpeed model.Rate `yaml:"-" json:"link_speed,omitempty"`
}

// OffloadDirections is the profile-file form of Capabilities.Offload.
type OffloadDirections struct {
	Egress      *OffloadSet `yaml:"egress"`
	Ingress     *OffloadSet `yaml:"ingress"`
	Representor *OffloadSet `yaml:"representor"`
}

// OffloadSet names the match fields (model.Match yaml names plus
// "port-range") and action kinds a device offloads in one direction.
type OffloadSet struct {
	Matches []string     `yaml:"matches" json:"matches"`
	Actions []ActionKind `yaml:"actions" json:"actions"`
	// Require lists match fields every offloaded rule must have (i40e's
	// ADQ cloud filter needs a destination address and port).
	Require []string `yaml:"require" json:"require,omitempty"`
	// Protocols, when set, are the only IP protocols a rule may match
	// (tcp, udp, sctp).
	Protocols []string `yaml:"protocols" json:"protocols,omitempty"`
	// ExactAddresses: an address match must be one host (/32 or /128).
	ExactAddresses bool `yaml:"exact-addresses" json:"exact_addresses,omitempty"`
}

// SwitchCaps is what an OpenConfig switch accepts.
type SwitchCaps struct {
	// Conditions lists the classifier condition fields it takes: dscp,
	// src, dst, protocol, src-port, dst-port, port-range.
	Conditions []string `yaml:"conditions" json:"conditions"`
	// DSCPSet: match DSCP with dscp-set rather than the single dscp leaf.
	DSCPSet bool `yaml:"dscp-set" json:"dscp_set,omitempty"`
	// Remark lists the remark actions it takes: set-dscp, set-dot1p.
	Remark []string `yaml:"remark" json:"remark"`
	// Policers: two-rate-three-color policers; OneRateShaper: the
	// one-rate-two-color shaper.
	TwoRateThreeColor bool `yaml:"two-rate-three-color" json:"two_rate_three_color,omitempty"`
	OneRateTwoColor   bool `yaml:"one-rate-two-color" json:"one_rate_two_color,omitempty"`
	// MaxWeight bounds WRR weights; zero = no bound.
	MaxWeight uint32 `yaml:"max-weight" json:"max_weight,omitempty"`
	// QueueIDRequired: queues must carry a queue-id.
	QueueIDRequired bool `yaml:"queue-id-required" json:"queue_id_required,omitempty"`
	// QueueID: the switch takes queue-id at all.
	QueueID bool `yaml:"queue-id" json:"queue_id,omitempty"`
	// Queues is the number of output queues per port.
	Queues int `yaml:"queues" range:"1-64" json:"queues"`
}

// Has reports whether s offloads every named match field and action.
func (s OffloadSet) Has(matches []string, actions []ActionKind) (missing string, ok bool) {
	for _, m := range matches {
		if !slices.Contains(s.Matches, m) {
			return "match on " + m, false
		}
	}
	for _, a := range actions {
		if !slices.Contains(s.Actions, a) {
			return "action " + string(a), false
		}
	}
	return "", true
}

// Refuses returns why the set cannot take a rule matching m beyond its
// fields (Has checks those): a required field missing, another protocol,
// an address prefix where the device matches whole addresses only.
func (s OffloadSet) Refuses(m *model.Match) string {
	have := matchFields(m)
	for _, f := range s.Require {
		if !slices.Contains(have, f) {
			return "a rule without a match on " + f
		}
	}
	if len(s.Protocols) > 0 && !slices.Contains(s.Protocols, protocolNames[m.Protocol]) {
		name := protocolNames[m.Protocol]
		if name == "" {
			name = fmt.Sprint(m.Protocol)
		}
		return fmt.Sprintf("protocol %s (only %s)", name, strings.Join(s.Protocols, ", "))
	}
	if s.ExactAddresses {
		for _, p := range []model.Prefix{m.Src, m.Dst} {
			if p.IsValid() && p.Bits() != p.Addr().BitLen() {
				return fmt.Sprintf("address prefix %v (whole addresses only)", p)
			}
		}
	}
	return ""
}

var protocolNames = map[model.Protocol]string{6: "tcp", 17: "udp", 132: "sctp"}

//go:embed profiles/*.yaml
var profileFS embed.FS

// Profiles returns the names of the built-in capability profiles, sorted.
func Profiles() []string {
	ents, _ := profileFS.ReadDir("profiles")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(out)
	return out
}

// LoadProfile returns the built-in profile called name, or, when name is a
// path to a file (contains a '/' or ends in .yaml/.yml/.json), the profile
// in that file.
func LoadProfile(name string) (*Capabilities, error) {
	if strings.ContainsRune(name, '/') || slices.Contains([]string{".yaml", ".yml", ".json"}, path.Ext(name)) {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("capability profile: %w", err)
		}
		return ParseProfile(name, data)
	}
	data, err := profileFS.ReadFile("profiles/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown capability profile %q (built in: %s)", name, strings.Join(Profiles(), ", "))
	}
	return ParseProfile("profiles/"+name+".yaml", data)
}

// ParseProfile reads a capability profile (YAML or JSON) strictly: unknown
// fields are errors with file, line and column.
func ParseProfile(file string, data []byte) (*Capabilities, error) {
	c := new(Capabilities)
	pos, err := model.DecodeStrict(file, data, c)
	if pos == nil {
		return nil, err
	}
	var errs model.ErrorList
	if err != nil {
		errs = err.(model.ErrorList)
	}
	bad := func(p, format string, args ...any) {
		errs = append(errs, &model.Error{File: file, Pos: pos[p], Path: p, Msg: fmt.Sprintf(format, args...)})
	}
	switch c.Kind {
	case "nic", "software":
	case "switch":
		if c.Switch == nil {
			bad("kind", "a switch profile needs a switch section")
		}
	default:
		bad("kind", "unknown kind %q (use nic, switch or software)", c.Kind)
	}
	if c.Profile == "" {
		bad("profile", "is required")
	}
	switch c.QueueLayout {
	case "", "rings-per-tc":
	default:
		bad("queue-layout", "unknown queue layout %q (use rings-per-tc or leave it out)", c.QueueLayout)
	}
	if len(c.TCQueuesMax) > 0 && c.QueueLayout != "rings-per-tc" {
		bad("tc-queues-max", "caps a layout the driver makes: it needs queue-layout rings-per-tc")
	}
	if len(c.TCQueuesMax) > max(c.TrafficClasses, 1) {
		bad("tc-queues-max", "%d entries for %d traffic classes", len(c.TCQueuesMax), c.TrafficClasses)
	}
	for i, n := range c.TCQueuesMax {
		if n < 1 {
			bad(fmt.Sprintf("tc-queues-max[%d]", i), "%d queues: want at least 1", n)
		}
	}
	if c.TrafficClasses > 0 && c.Channels < c.TrafficClasses {
		bad("channels", "%d channels cannot serve %d traffic classes", c.Channels, c.TrafficClasses)
	}
	c.Offload = make(map[RuleDirection]OffloadSet)
	for dir, set := range map[RuleDirection]*OffloadSet{OnEgress: c.OffloadFile.Egress, OnIngress: c.OffloadFile.Ingress, OnRepresentor: c.OffloadFile.Representor} {
		if set == nil {
			continue
		}
		for i, a := range set.Actions {
			if !slices.Contains(knownActions, a) {
				bad(fmt.Sprintf("offload.%s.actions[%d]", dir, i), "unknown action %q", a)
			}
		}
		for i, m := range set.Matches {
			if !slices.Contains(knownMatches, m) {
				bad(fmt.Sprintf("offload.%s.matches[%d]", dir, i), "unknown match %q", m)
			}
		}
		for i, m := range set.Require {
			if !slices.Contains(set.Matches, m) {
				bad(fmt.Sprintf("offload.%s.require[%d]", dir, i), "required match %q is not in matches", m)
			}
		}
		for i, p := range set.Protocols {
			if !slices.Contains([]string{"tcp", "udp", "sctp"}, p) {
				bad(fmt.Sprintf("offload.%s.protocols[%d]", dir, i), "unknown protocol %q (use tcp, udp or sctp)", p)
			}
		}
		c.Offload[dir] = *set
	}
	if c.Ntuple != nil {
		for i, m := range c.Ntuple.Matches {
			if !slices.Contains(knownMatches, m) {
				bad(fmt.Sprintf("ntuple.matches[%d]", i), "unknown match %q", m)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

var knownActions = []ActionKind{SetPriority, SteerTC, SetDSCP, SetPCP, Police, PolicePeak, SetClass}

var knownMatches = []string{"src", "dst", "protocol", "src-port", "dst-port", "port-range", "vlan", "dscp", "interface"}

// matchFields lists the model.Match fields m sets, by their profile names.
func matchFields(m *model.Match) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(m.Src.IsValid(), "src")
	add(m.Dst.IsValid(), "dst")
	add(m.Protocol != 0, "protocol")
	add(!m.SrcPort.IsZero(), "src-port")
	add(!m.DstPort.IsZero(), "dst-port")
	add(!m.SrcPort.IsZero() && !m.SrcPort.Exact() || !m.DstPort.IsZero() && !m.DstPort.Exact(), "port-range")
	add(m.VLAN != 0, "vlan")
	add(m.DSCP != nil, "dscp")
	add(m.Interface != "", "interface")
	return out
}
