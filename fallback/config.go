package fallback

import (
	"log/slog"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Config tunes a Pacer. Zero fields take defaults.
type Config struct {
	// PortRate is the scheduler's rate in bit/s; 0 takes
	// TargetPlan.Pacer.PortRate, and if that is 0 too the port is not
	// rate limited (the scheduler then only orders packets).
	PortRate model.Rate
	// SlowLink cuts best-effort segments on a slow port (clamped TCP MSS,
	// IPv4 fragments); nil takes TargetPlan.Pacer.SlowLink, and without
	// one frames are served whole.
	SlowLink *offload.SlowLink
	// NoSlowLink serves whole frames even where the plan asks for a slow
	// link treatment (to measure without it). (Local addition.)
	NoSlowLink bool
	// MaxDelay bounds each class queue, expressed as delay at the class
	// rate (the port rate for classes without one); default 20ms.
	MaxDelay time.Duration
	// Headroom is the bytes kept free before each frame for 802.1Q tag
	// insertion; default 64, at least 4.
	Headroom int
	// MaxFrame is the largest frame in bytes (a GSO frame read with
	// PACKET_VNET_HDR may be 64 KiB); default 65535.
	MaxFrame int
	// Packets is the packet pool size; default sized from the queue bounds
	// (between 256 and 4096). Buffers are allocated on first use, so an
	// idle pacer holds little memory.
	Packets int
	// FlowIdle is how long a flow cache entry lives without traffic;
	// default 30s.
	FlowIdle time.Duration

	// FlowEntries is the flow cache size in entries, rounded up to a power
	// of two; default 16384. (Local addition to the contract.)
	FlowEntries int
	// PassUnmatched sends frames that match no rule unmetered and
	// unmarked at priority 0 (sharing that level by DRR with weight 1,
	// counted as class "(unmatched)"), instead of into the lowest-priority
	// class. The plan has no field for this choice. (Local addition.)
	PassUnmatched bool
	// FastPath offers the flows that the pacer would pass straight through
	// to a fast path outside it (see FastFlow; the datapath's tc BPF
	// forwarder). Off, every frame is the pacer's. (Local addition.)
	FastPath bool
	// IfIndex resolves a rule's Match.Interface to an interface index;
	// default net.InterfaceByName. (Local addition, for tests.)
	IfIndex func(name string) (int, error)
	// Logger receives the pacer's few log records (at New); default
	// slog.Default(). (Local addition.)
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMaxDelay    = 20 * time.Millisecond
	DefaultHeadroom    = 64
	DefaultMaxFrame    = 65535
	DefaultFlowIdle    = 30 * time.Second
	DefaultFlowEntries = 1 << 14
)

func (c *Config) setDefaults() {
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.Headroom <= 0 {
		c.Headroom = DefaultHeadroom
	}
	if c.Headroom < 4 {
		c.Headroom = 4
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.FlowIdle <= 0 {
		c.FlowIdle = DefaultFlowIdle
	}
	if c.FlowEntries <= 0 {
		c.FlowEntries = DefaultFlowEntries
	}
}
