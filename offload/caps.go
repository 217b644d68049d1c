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
