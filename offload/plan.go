// Package offload compiles a validated policy (package model) and a device's
// capabilities into a plan: what each target must hold, where each class and
// rule runs (hardware, the kernel's software path, or qosplane's pacer) and
// why. Plans are deterministic, serialisable to JSON, printable and
// diffable: Diff(current, wanted) yields the ordered operations a driver
// applies.
//
// Units follow package model: rates in bit/s, sizes in bytes.
package offload

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/qosplane/qosplane/model"
)

// Placement says where a class or rule runs.
type Placement string

// Placements.
const (
	// Hardware: offloaded to the device (tc skip_sw, mqprio hw 1, a switch).
	Hardware Placement = "hardware"
	// Software: the kernel's software datapath (tc skip_hw).
	Software Placement = "software"
	// Pacer: qosplane's userspace token-bucket pacer (package fallback).
	Pacer Placement = "pacer"
	// Socket: BPF programs on the host's cgroups set the socket's
	// priority and DSCP once, when it is created or connects (package
	// drivers/cgroup); its packets carry them with no per-packet work.
	Socket Placement = "socket"
	// Unsupported: nothing on this target can carry it; Reason says why.
	Unsupported Placement = "unsupported"
)

// Where is a placement and, unless the placement is Hardware, the reason.
type Where struct {
	Placement Placement `json:"placement"`
	Reason    string    `json:"reason,omitempty"`
}

// Plan is the compiled policy for every target.
type Plan struct {
	Policy  string        `json:"policy"`
	Targets []*TargetPlan `json:"targets"`
}

// TargetPlan is everything one driver needs for one target. Drivers act on
// it alone; they never read the policy.
type TargetPlan struct {
	Target string           `json:"target"`
	Kind   model.TargetKind `json:"kind"`
	// Owner prefixes every name qosplane installs on the target
	// ("qosplane-<policy>", joined to class and classifier names with
	// "--", which policy names cannot contain); drivers touch nothing
	// without it.
	Owner   string `json:"owner"`
	Profile string `json:"profile"`
	Device  Device `json:"device"`
	// Capacity is the link capacity used for admission, in bit/s.
	Capacity model.Rate `json:"capacity,omitempty"`
	// Queues is the hardware queue layout (mqprio); nil without one.
	Queues *QueueLayout `json:"queues,omitempty"`
	// HTB is the offloaded HTB tree that replaces Queues when the
	// compiler chose it; nil without one.
	HTB     *HTBPlan    `json:"htb,omitempty"`
	Classes []ClassPlan `json:"classes"`
	// Rules are in evaluation order: ascending Precedence, then ID.
	Rules []Rule     `json:"rules"`
	DCB   *DCB       `json:"dcb,omitempty"`
	RoCE  []RoCE     `json:"roce,omitempty"`
	Pacer *PacerPlan `json:"pacer,omitempty"`
	// SRIOV is the PF's per-VF QoS; nil without one.
	SRIOV *SRIOVPlan `json:"sriov,omitempty"`
	// Switch is what the switch accepts, for a switch target: the driver
	// encodes the plan within these limits (e.g. dscp-set vs dscp).
	Switch *SwitchCaps `json:"switch,omitempty"`
	// Notes are what a person should know: merges, rounding, fallbacks.
	Notes []string `json:"notes,omitempty"`
}

// Device says how to reach a target. For switches the secrets are named, not
// held: Credentials.PasswordEnv / PasswordFile are read by the driver.
type Device struct {
	Interface    string            `json:"interface,omitempty"`
	PCI          string            `json:"pci,omitempty"`
	Representors []string          `json:"representors,omitempty"`
	Address      string            `json:"address,omitempty"`
	Interfaces   []string          `json:"interfaces,omitempty"`
	TLS          model.TLS         `json:"tls"`
	Credentials  model.Credentials `json:"credentials"`
}

// QueueLayout is a NIC's transmit queue layout: mqprio in channel mode with a
// per-TC shaper. Rates are after rounding to the device's granularity.
type QueueLayout struct {
	NumTC int `json:"num_tc"`
	// PrioTC maps skb priority 0-15 to a traffic class.
	PrioTC [16]uint8 `json:"prio_tc"`
	TCs    []TC      `json:"tcs"`
	Where  Where     `json:"where"`
}

// TC is one hardware traffic class: a contiguous queue group with a shaper.
type TC struct {
	Index   int      `json:"index"`
	Classes []string `json:"classes"`
	// Count queues starting at Offset serve the TC.
	Count  uint16 `json:"count"`
	Offset uint16 `json:"offset"`
	// MinRate and MaxRate are the shaper's limits; zero means none.
	MinRate model.Rate `json:"min_rate,omitempty"`
	MaxRate model.Rate `json:"max_rate,omitempty"`
}

// ClassPlan is one class of service as a target carries it. All fields are
// effective values (defaults applied).
type ClassPlan struct {
	Name    string            `json:"name"`
	Service model.ServiceType `json:"service"`
	// Priority is the strict priority level, higher first; Weight shares a
	// level (deficit round robin).
	Priority uint8  `json:"priority"`
	Weight   uint32 `json:"weight"`
	// TC is the hardware traffic class, or -1 without hardware queues.
	TC int `json:"tc"`
	// SkbPriority is the skb->priority that steers packets to TC, or to
	// the class's HTB leaf (its classid) when the target has HTB.
	SkbPriority uint32 `json:"skb_priority"`
	// Queue names the class's switch queue and QueueID its number.
	Queue   string `json:"queue,omitempty"`
	QueueID uint8  `json:"queue_id,omitempty"`

	Rate       model.Rate `json:"rate,omitempty"`
	Peak       model.Rate `json:"peak,omitempty"`
	Bucket     model.Size `json:"bucket,omitempty"`
	MinPoliced model.Size `json:"min_policed,omitempty"`
	MaxSDU     model.Size `json:"max_sdu"`
	// Overhead is the per-packet protocol overhead (28 for UDP, 40 for
	// TCP) added to the token rate when MinPoliced is set:
	// EffectiveRate = (1 + Overhead/MinPoliced) * Rate.
	Overhead      model.Size `json:"overhead,omitempty"`
	EffectiveRate model.Rate `json:"effective_rate,omitempty"`
	NonConforming model.Mode `json:"non_conforming"`
	// Mark and MarkNonConforming are complete: both fields set.
	Mark              Mark `json:"mark"`
	MarkNonConforming Mark `json:"mark_non_conforming"`
	RoCE              bool `json:"roce,omitempty"`
	PFC               bool `json:"pfc,omitempty"`
	// Scheduler is how a switch enforces the class's rate:
	// "one-rate-two-color" (cir/bc, SHAPE or remark on exceed),
	// "two-rate-three-color" (cir/pir/bc/be policer), or "" (none).
	Scheduler string `json:"scheduler,omitempty"`
	Where     Where  `json:"where"`
}

// Mark is a DSCP (0-63) and an 802.1p PCP (0-7).
type Mark struct {
	DSCP uint8 `json:"dscp"`
	PCP  uint8 `json:"pcp"`
}

// RuleDirection is where a rule is installed.
type RuleDirection string

// Rule directions.
const (
	// OnEgress classifies a NIC's transmitted packets (clsact egress).
	OnEgress RuleDirection = "egress"
	// OnIngress steers a NIC's received packets (clsact ingress, hw_tc).
	OnIngress RuleDirection = "ingress"
	// OnRepresentor acts on a VF representor's ingress, i.e. the VF's
	// transmitted traffic, in switchdev mode.
	OnRepresentor RuleDirection = "representor"
	// OnClassifier is a term of a switch's input classifier.
	OnClassifier RuleDirection = "classifier"
	// OnSocket marks the sockets of a cgroup (Match.Cgroup) when they are
	// created or connect; Device is the NIC whose TC the priority selects.
	OnSocket RuleDirection = "socket"
)

// Rule is one classification rule: a match and its actions on one device.
type Rule struct {
	// ID is stable across compiles: "<flow>/<direction>/<device>".
	ID    string `json:"id"`
	Flow  string `json:"flow"`
	Class string `json:"class"`
	// Direction and Device say where the rule is installed (Device is an
	// interface, a representor, or a switch classifier name,
	// "<owner>--ipv4" or "<owner>--ipv6").
	Direction RuleDirection `json:"direction"`
	Device    string        `json:"device"`
	// Precedence orders evaluation, lower first. It derives from the
	// match's specificity alone, so adding a flow renumbers no other rule;
	// rules of equal precedence never overlap. It is the tc filter pref.
	Precedence uint16      `json:"precedence"`
	Match      model.Match `json:"match"`
	Actions    []Action    `json:"actions"`
	Where      Where       `json:"where"`
	// Stored is the fingerprint a driver read back with the installed
	// rule (Current). When set, Diff compares it with the wanted rule's
	// RuleFingerprint instead of comparing content, so a driver need not
	// decode every field it installed.
	Stored string `json:"-"`
}

// ActionKind names a rule action.
type ActionKind string

// Action kinds.
const (
	// SetPriority sets skb->priority (tc skbedit priority) so that the
	// packet lands in its class's TC. Field: Priority.
	SetPriority ActionKind = "set-priority"
	// SteerTC steers received packets into a TC's queue group (flower
	// hw_tc). Field: TC.
	SteerTC ActionKind = "steer-tc"
	// SteerQueue steers received packets to one receive queue, the first
	// of their class's TC (an ethtool ntuple rule, on NICs without flower
	// hw_tc). Fields: TC and Queue.
	SteerQueue ActionKind = "steer-queue"
	// SetDSCP rewrites DSCP (tc pedit on the IPv4 TOS / IPv6 traffic class
	// with the checksum fixed). Field: DSCP.
	SetDSCP ActionKind = "set-dscp"
	// SetPCP rewrites the 802.1Q priority of a tagged packet (tc vlan
	// modify). Field: PCP.
	SetPCP ActionKind = "set-pcp"
	// Police meters the traffic: Rate/Burst (and Peak) with Exceed saying
	// what happens above them. A non-empty Shared names a meter shared by
	// every rule of a class (one tc action index).
	Police ActionKind = "police"
	// PolicePeak is not an action of a rule but a capability: a device
	// whose offload set lists it offloads policers with a peak rate (mlx5
	// meters do not: no peakrate, avrate or overhead).
	PolicePeak ActionKind = "police-peak"
	// SetClass sends the packet to its class (a switch forwarding group,
	// or the pacer's class). Field: Class in the Rule.
	SetClass ActionKind = "set-class"
)

// Action is one action of a rule. Only the fields its Kind names are set.
type Action struct {
	Kind     ActionKind `json:"kind"`
	Priority uint32     `json:"priority,omitempty"`
	TC       int        `json:"tc,omitempty"`
	Queue    uint16     `json:"queue,omitempty"`
	DSCP     uint8      `json:"dscp,omitempty"`
	PCP      uint8      `json:"pcp,omitempty"`
	Rate     model.Rate `json:"rate,omitempty"`
	Peak     model.Rate `json:"peak,omitempty"`
	Burst    model.Size `json:"burst,omitempty"`
	Exceed   *Exceed    `json:"exceed,omitempty"`
	Shared   string     `json:"shared,omitempty"`
}

// Exceed is what a policer does with traffic above its rate: drop it, or
// pass it remarked to the non-conforming DSCP/PCP and demoted to
// DemotePriority (the borrow mode).
type Exceed struct {
	Drop           bool   `json:"drop,omitempty"`
	DSCP           uint8  `json:"dscp,omitempty"`
	PCP            uint8  `json:"pcp,omitempty"`
	DemotePriority uint32 `json:"demote_priority,omitempty"`
}

// DCB is the data center bridging configuration for a NIC (dcbnl): ETS,
// per-TC max rate, PFC and the DSCP-to-priority application table.
type DCB struct {
	// PrioTC maps 802.1p priority 0-7 to a TC.
	PrioTC [8]uint8 `json:"prio_tc"`
	// Strict lists TCs served in strict priority; the others share by ETS
	// Bandwidth (percent, summing to 100 over non-strict TCs).
	Strict    []int      `json:"strict,omitempty"`
	Bandwidth [8]uint8   `json:"bandwidth"`
	MaxRate   [8]uint64  `json:"max_rate"` // bit/s per TC; 0 = unlimited
	PFC       []uint8    `json:"pfc,omitempty"`
	App       []DSCPPrio `json:"app,omitempty"`
}

// DSCPPrio maps a DSCP value to an 802.1p priority (DCB app table).
type DSCPPrio struct {
	DSCP     uint8 `json:"dscp"`
	Priority uint8 `json:"priority"`
}

// RoCE sets the default ToS of RDMA connections on the interface's RDMA
// device, so RoCE traffic carries its class's DSCP.
type RoCE struct {
	Class string `json:"class"`
	// TOS is DSCP<<2 (ECN bits clear).
	TOS uint8 `json:"tos"`
}

// PacerPlan says how qosplane's software pacer serves a target.
type PacerPlan struct {
	// Mode is "attach" (the interface's egress is steered through the
	// pacer) or "bridge" (a bump in the wire: frames from Interface are
	// shaped and sent out of Peer; frames from Peer to Interface pass
	// unshaped).
	Mode      string `json:"mode"`
	Interface string `json:"interface"`
	Peer      string `json:"peer,omitempty"`
	// OnFailure is what a bridge does while the pacer is dead: "bypass"
	// (the kernel forwards, unshaped) or "block". Empty in attach mode,
	// which always fails open.
	OnFailure string `json:"on_failure,omitempty"`
	// PortRate is the rate the pacer's scheduler serves at, in bit/s.
	PortRate model.Rate `json:"port_rate"`
	Reason   string     `json:"reason"`
	// SlowLink is how the pacer cuts best-effort segments on a slow link;
	// nil when it does not (the port is not slow, or no class bounds
	// delay, or full-size frames already fit).
	SlowLink *SlowLink `json:"slow_link,omitempty"`
}

// Fingerprint is a short stable hash of v's JSON encoding. Drivers store it
// with what they install (a tc cookie, a description) so that Current can
// report it and Diff can tell an unchanged object from a changed one.
func Fingerprint(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("offload: fingerprint: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
