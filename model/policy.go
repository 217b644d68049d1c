// Package model is qosplane's unified flow model: classes of service, the
// flows (filterspecs) that map packets into them, and the targets (NICs and
// switches) they are compiled for. It parses policy files (YAML or JSON),
// fills defaults from the service type, and validates them, reporting every
// problem with file, line, column and field path.
//
// Units: every Rate is in bits per second and every Size in bytes, counted on
// the L2 frame as the Linux kernel counts it (no FCS, preamble or gap).
package model

import "time"

// Policy is one policy file after Load: defaults applied and validated.
type Policy struct {
	// Name identifies the policy; it prefixes what qosplane installs.
	Name    string   `yaml:"name" json:"name"`
	Marking Marking  `yaml:"marking" json:"marking"`
	Classes []Class  `yaml:"classes" json:"classes"`
	Flows   []Flow   `yaml:"flows" json:"flows"`
	Targets []Target `yaml:"targets" json:"targets"`

	// File is the path the policy was read from, for messages.
	File string `yaml:"-" json:"-"`
	// pos maps field paths to their place in File.
	pos map[string]Pos
}

// Marking overrides the default DSCP and 802.1p values per service type for
// the whole policy. Classes may override again.
type Marking struct {
	BestEffort     Mark `yaml:"best-effort" json:"best-effort"`
	ControlledLoad Mark `yaml:"controlled-load" json:"controlled-load"`
	Guaranteed     Mark `yaml:"guaranteed" json:"guaranteed"`
	NetworkControl Mark `yaml:"network-control" json:"network-control"`
	Qualitative    Mark `yaml:"qualitative" json:"qualitative"`
	// NonConforming applies to non-conforming packets of every service type.
	NonConforming Mark `yaml:"non-conforming" json:"non-conforming"`
}

// Mark is an optional DSCP (0-63) and 802.1p PCP (0-7) to write into packets.
// A nil field leaves that part of the packet as it is.
type Mark struct {
	DSCP *uint8 `yaml:"dscp" range:"0-63" json:"dscp,omitempty"`
	PCP  *uint8 `yaml:"pcp" range:"0-7" json:"pcp,omitempty"`
}

// Class is a class of service: the treatment (flowspec) shared by the flows
// mapped into it. After Load every field holds its effective value.
type Class struct {
	Name    string      `yaml:"name" json:"name"`
	Service ServiceType `yaml:"service" json:"service"`
	// Priority is the strict priority level, 0-7; higher is served first.
	// Default from the service type (network-control 7, guaranteed 5,
	// controlled-load 4, qualitative 1, best-effort 0).
	Priority uint8 `yaml:"priority" range:"0-7" json:"priority"`
	// Weight shares a priority level among its classes (deficit round
	// robin), 1-65535; default 1.
	Weight uint32 `yaml:"weight" range:"1-65535" json:"weight"`
	// Rate is the committed (token) rate; zero means no rate limit.
	Rate Rate `yaml:"rate" json:"rate"`
	// Peak is the most rate at which packets leave; zero means unlimited.
	Peak Rate `yaml:"peak" json:"peak,omitempty"`
	// Bucket is the token bucket depth. Default: the larger of two MaxSDU and
	// 10 ms at Rate.
	Bucket Size `yaml:"bucket" json:"bucket,omitempty"`
	// MinPoliced counts smaller packets as this size; zero means off.
	MinPoliced Size `yaml:"min-policed" json:"min-policed,omitempty"`
	// MaxSDU is the largest packet of the class; default 1518 bytes.
	MaxSDU Size `yaml:"max-sdu" json:"max-sdu"`
	// NonConforming is what happens to traffic above the rate. Default:
	// shape for guaranteed, borrow otherwise.
	NonConforming Mode `yaml:"non-conforming" json:"non-conforming"`
	// Mark and MarkNonConforming are the values written into conforming and
	// non-conforming packets; both are complete after Load.
	Mark              Mark `yaml:"mark" json:"mark"`
	MarkNonConforming Mark `yaml:"mark-non-conforming" json:"mark-non-conforming"`
	// RoCE says RDMA over Converged Ethernet traffic belongs to this class:
	// NIC targets set the RDMA device's default ToS to the class's DSCP.
	RoCE bool `yaml:"roce" json:"roce,omitempty"`
	// PFC asks for priority flow control (lossless) on the class's priority.
	PFC bool `yaml:"pfc" json:"pfc,omitempty"`
	// Latency is the most delay a packet of the class tolerates at a
	// target (the flowspec's Latency), for service types that bound delay
	// (ServiceType.BoundsDelay); zero: not stated, DefaultLatency is
	// assumed. A pacer on a slow link cuts best-effort segments so that
	// the tightest Latency holds (see Fallback.SlowLink).
	Latency Delay `yaml:"latency" json:"latency,omitempty"`
}

// DefaultLatency is the delay bound assumed for a class that bounds delay
// but states no Latency.
const DefaultLatency = Delay(10 * time.Millisecond)

// Flow is a filterspec: which packets belong to a class, with optional
// per-flow policing and remarking.
type Flow struct {
	// Name identifies the flow; default "<class>-<index>".
	Name  string `yaml:"name" json:"name"`
	Class string `yaml:"class" json:"class"`
	// Direction is where the flow is classified; default egress.
	Direction Direction `yaml:"direction" json:"direction"`
	Match     Match     `yaml:"match" json:"match"`
	// Police drops the flow's traffic above its own rate and burst.
	Police *Police `yaml:"police" json:"police,omitempty"`
	// Remark overrides the class's conforming marking for this flow.
	Remark Mark `yaml:"remark" json:"remark"`
}

// Police is a single-rate policer for one flow.
type Police struct {
	Rate  Rate `yaml:"rate" json:"rate"`
	Burst Size `yaml:"burst" json:"burst"`
}

// Target is a device the policy is compiled for.
type Target struct {
	Name string     `yaml:"name" json:"name"`
	Kind TargetKind `yaml:"kind" json:"kind"`

	// NIC targets.
	Interface    string   `yaml:"interface" json:"interface,omitempty"`
	PCI          string   `yaml:"pci" json:"pci,omitempty"`
	Representors []string `yaml:"representors" json:"representors,omitempty"`
	Fallback     Fallback `yaml:"fallback" json:"fallback"`
	// SRIOV gives the PF's VFs their QoS; nil for none.
	SRIOV *SRIOV `yaml:"sriov" json:"sriov,omitempty"`

	// Switch targets.
	Address     string      `yaml:"address" json:"address,omitempty"`
	Interfaces  []string    `yaml:"interfaces" json:"interfaces,omitempty"`
	TLS         TLS         `yaml:"tls" json:"tls"`
	Credentials Credentials `yaml:"credentials" json:"credentials"`

	// Profile names a capability profile or a profile file; default: the
	// profile the driver probes.
	Profile string `yaml:"profile" json:"profile,omitempty"`
	// Capacity is the link capacity for admission control and the pacer's
	// port rate; default: the probed link speed.
	Capacity Rate `yaml:"capacity" json:"capacity,omitempty"`
	// Classes limits the target to these classes; default all.
	Classes []string `yaml:"classes" json:"classes,omitempty"`
}

// Fallback says how the software pacer attaches to a NIC target when the
// hardware cannot carry the policy.
type Fallback struct {
	// Mode is "attach" (steer the interface's egress through the pacer) or
	// "bridge" (bump in the wire between Interface and Peer). Default attach.
	Mode string `yaml:"mode" json:"mode,omitempty"`
	// Peer is the second interface in bridge mode.
	Peer string `yaml:"peer" json:"peer,omitempty"`
	// OnFailure is what a bridge does while its pacer is dead (the agent
	// crashed, was killed or hangs): "bypass" (default) forwards between
	// the two interfaces in the kernel, unshaped; "block" forwards nothing.
	// Attach mode always fails open (the host's egress leaves unshaped):
	// a dead pacer must never cut a host off its network.
	OnFailure string `yaml:"on-failure" json:"on-failure,omitempty"`
	// SlowLink is the port rate in bit/s below which the pacer treats its
	// link as slow: when a class that bounds delay is present it clamps
	// the MSS of best-effort TCP connections and fragments large
	// best-effort IPv4 datagrams, so that no best-effort frame holds the
	// wire longer than half the tightest class Latency. Default
	// DefaultSlowLink; at most MaxSlowLink.
	SlowLink Rate `yaml:"slow-link" json:"slow-link,omitempty"`
}

// Slow-link thresholds, bit/s.
const (
	DefaultSlowLink = Rate(10e6)
	// MaxSlowLink bounds Fallback.SlowLink: above it a 1514-byte frame
	// serialises in under 12 us and cutting segments only costs throughput.
	MaxSlowLink = Rate(1e9)
)

// TLS configures the gNMI connection to a switch.
type TLS struct {
	CAFile     string `yaml:"ca-file" json:"ca-file,omitempty"`
	CertFile   string `yaml:"cert-file" json:"cert-file,omitempty"`
	KeyFile    string `yaml:"key-file" json:"key-file,omitempty"`
	ServerName string `yaml:"server-name" json:"server-name,omitempty"`
	// Insecure allows plaintext gRPC; only when the policy says so.
	Insecure bool `yaml:"insecure" json:"insecure,omitempty"`
}

// Credentials name where a switch's username and password come from. Secrets
// are never written inline: the password comes from an environment variable
// or a file.
type Credentials struct {
	Username     string `yaml:"username" json:"username,omitempty"`
	UsernameEnv  string `yaml:"username-env" json:"username-env,omitempty"`
	PasswordEnv  string `yaml:"password-env" json:"password-env,omitempty"`
	PasswordFile string `yaml:"password-file" json:"password-file,omitempty"`
	// Password exists only to refuse it with a clear message.
	Password string `yaml:"password" json:"-"`
}

// ClassByName returns the class named name.
func (p *Policy) ClassByName(name string) (*Class, bool) {
	for i := range p.Classes {
		if p.Classes[i].Name == name {
			return &p.Classes[i], true
		}
	}
	return nil, false
}

// Pos returns where the field at path was written, or the nearest parent's
// position when it was not.
func (p *Policy) Pos(path string) Pos {
	r := reporter{pos: p.pos}
	return r.at(path)
}

// TargetClasses returns the classes a target carries, in policy order.
func (p *Policy) TargetClasses(t *Target) []*Class {
	var out []*Class
	for i := range p.Classes {
		c := &p.Classes[i]
		if len(t.Classes) == 0 {
			out = append(out, c)
			continue
		}
		for _, n := range t.Classes {
			if n == c.Name {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
