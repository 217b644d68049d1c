package offload

import (
	"time"

	"github.com/qosplane/qosplane/model"
)

// SlowLink is what the pacer does on a port slower than the target's
// fallback.slow-link threshold while a class bounds delay: no best-effort
// frame may hold the wire longer than half the tightest delay bound, so
// that a delay-bound packet arriving behind one still meets its bound.
//
// The formula (bytes, bit/s, seconds):
//
//	Frame = max(MinSlowFrame, PortRate · Latency / 2 / 8)
//	MSS4  = Frame − 14 (Ethernet) − 20 (IPv4) − 20 (TCP)
//	MSS6  = Frame − 14 (Ethernet) − 40 (IPv6) − 20 (TCP)
//
// so a best-effort frame's serialisation time Frame·8/PortRate is at most
// Latency/2 (more only where MinSlowFrame binds). TCP options the sender
// adds (timestamps: 12 bytes) come out of the MSS, so a clamped segment's
// frame is at most Frame. IPv4 fragments carry at most Frame − 14 − IHL
// bytes of payload, rounded down to a multiple of 8.
type SlowLink struct {
	// Below is the threshold (fallback.slow-link), bit/s; the port rate is
	// under it.
	Below model.Rate `json:"below"`
	// Latency is the tightest delay bound of the target's classes and
	// Class the class that asks for it.
	Latency model.Delay `json:"latency"`
	Class   string      `json:"class"`
	// Frame is the largest best-effort frame, bytes (L2, no FCS).
	Frame model.Size `json:"frame"`
	// MSS4 and MSS6 are the MSS the pacer writes into best-effort TCP
	// SYNs and SYN-ACKs that offer more, over IPv4 and IPv6, bytes.
	MSS4 model.Size `json:"mss4"`
	MSS6 model.Size `json:"mss6"`
}

// Slow-link sizes, bytes.
const (
	// MinSlowFrame is the smallest Frame: below it headers dominate (an
	// IPv6 TCP segment of this frame carries 182 bytes) and TCP's minimum
	// MSS is near.
	MinSlowFrame = 256
	// fullFrame is a full-size untagged Ethernet frame (1500-byte MTU).
	fullFrame = 1514
	// Header bytes below the TCP payload, without options.
	hdrTCP4 = 14 + 20 + 20
	hdrTCP6 = 14 + 40 + 20
)

// slowLink computes the target's SlowLink (nil when the pacer serves whole
// frames) and notes why when it is nil for a slow port.
func (cc *compiler) slowLink(port, below model.Rate) *SlowLink {
	if port == 0 || below == 0 || port >= below {
		return nil
	}
	var tight *model.Class
	lat := func(c *model.Class) model.Delay {
		if c.Latency != 0 {
			return c.Latency
		}
		return model.DefaultLatency
	}
	for _, c := range cc.classes {
		if c.Service.BoundsDelay() && (tight == nil || lat(c) < lat(tight)) {
			tight = c
		}
	}
	if tight == nil {
		cc.notef("slow link (port %v < %v) but no class bounds delay: the pacer serves whole frames", port, below)
		return nil
	}
	d := lat(tight)
	frame := SlowFrame(port, time.Duration(d))
	if frame >= fullFrame {
		cc.notef("slow link (port %v < %v): a full-size frame serialises within half of %v (class %s): the pacer serves whole frames", port, below, d, tight.Name)
		return nil
	}
	return &SlowLink{
		Below: below, Latency: d, Class: tight.Name, Frame: model.Size(frame),
		MSS4: model.Size(frame - hdrTCP4), MSS6: model.Size(frame - hdrTCP6),
	}
}

// SlowFrame is the largest frame in bytes whose serialisation at port
// bit/s takes at most half of latency, and at least MinSlowFrame.
func SlowFrame(port model.Rate, latency time.Duration) uint64 {
	// port <= 1e9 (model.MaxSlowLink) and latency in ns: split to avoid
	// overflow of port·latency.
	s := uint64(latency) / 1e9
	ns := uint64(latency) % 1e9
	b := uint64(port)*s/16 + uint64(port)*ns/16/1e9
	return max(b, MinSlowFrame)
}

// serialisation is the time a frame of size bytes holds a port of rate
// bit/s, rounded to microseconds.
func serialisation(size model.Size, rate model.Rate) time.Duration {
	if rate == 0 {
		return 0
	}
	return (time.Duration(uint64(size)*8*1e6/uint64(rate)) * time.Microsecond)
}
