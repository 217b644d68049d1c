package offload

import (
	"context"
	"time"

	"github.com/qosplane/qosplane/model"
)

// Driver is what a target kind implements (drivers/nic, drivers/gnmi, and
// the software pacer in package fallback). One Driver serves one target.
//
// The flow is: caps := Probe; want := Compile(policy, caps); cur := Current;
// ops := Diff(cur, want); if len(ops) > 0 { Apply(want, ops) }.
type Driver interface {
	// Probe reports the device's capabilities: the profile the driver
	// picks (or the one it was told to use) completed with what it reads
	// from the device, such as the link speed and channel count.
	Probe(ctx context.Context) (*Capabilities, error)
	// Current reads back what qosplane owns on the device, as a plan with
	// the same IDs and fingerprints a compile would produce. A device that
	// holds nothing of qosplane's returns an empty plan, not an error.
	Current(ctx context.Context) (*TargetPlan, error)
	// Apply carries out ops, which take Current to want. It is all or
	// nothing: on error the device is left as it was before the call and
	// the error says which operation failed and why (with the device's
	// own message where it gave one).
	Apply(ctx context.Context, want *TargetPlan, ops []Op) error
	// Remove deletes everything qosplane owns on the device and restores
	// what it replaced (e.g. the root qdisc that was there before).
	Remove(ctx context.Context) error
	// Counters reads per-class and per-rule counters.
	Counters(ctx context.Context) (*Counters, error)
	// Close releases the driver's connections and handles. It does not
	// change the device.
	Close() error
}

// Counters are a target's counters at one time. Counts are cumulative since
// the object was installed.
type Counters struct {
	Time    time.Time                `json:"time"`
	Classes map[string]ClassCounters `json:"classes,omitempty"`
	Rules   map[string]RuleCounters  `json:"rules,omitempty"`
	// SlowLink is what a pacer on a slow link did to best-effort frames
	// (PacerPlan.SlowLink); nil elsewhere.
	SlowLink *SlowLinkCounters `json:"slow_link,omitempty"`
}

// SlowLinkCounters count a slow-link pacer's cuts of best-effort frames.
type SlowLinkCounters struct {
	// MSSClamped counts SYNs and SYN-ACKs whose MSS option was lowered.
	MSSClamped uint64 `json:"mss_clamped"`
	// Fragmented counts IPv4 datagrams cut, Fragments what they became.
	Fragmented uint64 `json:"fragmented"`
	Fragments  uint64 `json:"fragments"`
	// DFWhole counts frames too large but left whole: their DF flag is set.
	DFWhole uint64 `json:"df_whole"`
	// GSOSplit counts TCP GSO frames split into their Segments.
	GSOSplit uint64 `json:"gso_split,omitempty"`
	Segments uint64 `json:"segments,omitempty"`
	// FragDropped counts frames dropped: no room for their pieces.
	FragDropped uint64 `json:"frag_dropped,omitempty"`
}

// ClassCounters are one class's counters. Drivers fill what the device
// reports and leave the rest zero.
type ClassCounters struct {
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	Drops     uint64 `json:"drops"`
	DropBytes uint64 `json:"drop_bytes,omitempty"`
	// QueueDrops are the part of Drops that conformed but found no room
	// in the class's queue: what congestion of the port took, not the
	// meter (the rest: meter and policer discards, frames above the
	// MaxSDU, a borrowing class's demoted excess its queue had no room
	// for). Zero where the device does not tell them apart.
	QueueDrops           uint64 `json:"queue_drops,omitempty"`
	ConformingPackets    uint64 `json:"conforming_packets,omitempty"`
	ConformingBytes      uint64 `json:"conforming_bytes,omitempty"`
	NonConformingPackets uint64 `json:"non_conforming_packets,omitempty"`
	NonConformingBytes   uint64 `json:"non_conforming_bytes,omitempty"`
	// QueueDepth is the current queue length in bytes.
	QueueDepth uint64 `json:"queue_depth,omitempty"`
	// ConfiguredRate is the class's rate as applied, in bit/s.
	ConfiguredRate model.Rate `json:"configured_rate,omitempty"`
	Where          Placement  `json:"where,omitempty"`
}

// RuleCounters are one rule's counters (tc filter stats, switch term
// matches). HardwarePackets/HardwareBytes are the part the device counted.
type RuleCounters struct {
	Packets         uint64    `json:"packets"`
	Bytes           uint64    `json:"bytes"`
	HardwarePackets uint64    `json:"hw_packets,omitempty"`
	HardwareBytes   uint64    `json:"hw_bytes,omitempty"`
	Where           Placement `json:"where,omitempty"`
}

// Referencer is implemented by drivers whose Current reports the device
// against the plan they are to reach (a switch whose tree is read back and
// compared unit by unit). Callers give it the wanted plan before Current.
type Referencer interface {
	Reference(want *TargetPlan)
}
