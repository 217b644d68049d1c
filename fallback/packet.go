package fallback

import "encoding/binary"

// Packet is a frame owned by the pacer's pool. The datapath reads a frame
// into ReadBuf, then calls SetLen. Headroom bytes precede the frame so that
// an 802.1Q tag can be inserted without copying the payload.
type Packet struct {
	buf []byte // Headroom + MaxFrame bytes
	off int    // frame start in buf
	n   int    // frame length in bytes

	// Vnet is the virtio_net_hdr read with PACKET_VNET_HDR when HasVnet;
	// its fields are little endian (the host's order on amd64/arm64).
	Vnet    [10]byte
	HasVnet bool
	// IfIndex is the interface the frame arrived on (0 unknown).
	IfIndex int

	headroom int
	// scheduling state, valid between Enqueue and Dequeue
	next  *Packet
	wire  int32  // WireLen cached at Enqueue, bytes
	cost  int32  // metered size (MinPoliced applied), bytes
	hash  uint32 // flow hash (sub-queue choice)
	inUse bool
}

// virtio_net_hdr fields.
const (
	vnetFlagNeedsCsum = 1
	vnetGSONone       = 0
	vnetGSOECN        = 0x80
)

// ReadBuf returns the writable area after the headroom, MaxFrame bytes.
func (p *Packet) ReadBuf() []byte { return p.buf[p.headroom:] }

// SetLen sets the frame length after a read into ReadBuf; n is clamped to
// [0, MaxFrame].
func (p *Packet) SetLen(n int) {
	p.off = p.headroom
	p.n = min(max(n, 0), len(p.buf)-p.headroom)
	p.wire = 0
}

// Frame returns the current frame (after marking and tag insertion).
func (p *Packet) Frame() []byte { return p.buf[p.off : p.off+p.n] }

// gso returns the segment payload size of a GSO frame, or 0.
func (p *Packet) gso() int {
	if !p.HasVnet || p.Vnet[1]&^vnetGSOECN == vnetGSONone {
		return 0
	}
	return int(binary.LittleEndian.Uint16(p.Vnet[4:6]))
}

// WireLen is the bytes the frame occupies on the wire for rate accounting:
// the L2 frame length (no FCS), and for a GSO frame the sum of its segments
// (len + (segs-1)*header length), where the header length is parsed from
// the frame (Ethernet, VLAN, IP and TCP/UDP headers).
func (p *Packet) WireLen() int {
	if p.wire > 0 {
		return int(p.wire)
	}
	var pr parsed
	parse(p.Frame(), &pr)
	return p.wireLen(&pr)
}

func (p *Packet) wireLen(pr *parsed) int {
	g := p.gso()
	if g <= 0 {
		return p.n
	}
	hdr := pr.hdrEnd
	if hdr <= 0 {
		hdr = int(binary.LittleEndian.Uint16(p.Vnet[2:4]))
	}
	payload := p.n - hdr
	if hdr <= 0 || payload <= g {
		return p.n
	}
	segs := (payload + g - 1) / g
	return p.n + (segs-1)*hdr
}

// pool is a LIFO free list of packets with lazily allocated buffers.
type pool struct {
	free     []*Packet
	made     int
	limit    int
	headroom int
	maxFrame int
}

func (pl *pool) get() *Packet {
	if n := len(pl.free); n > 0 {
		p := pl.free[n-1]
		pl.free = pl.free[:n-1]
		p.inUse = true
		return p
	}
	if pl.made >= pl.limit {
		return nil
	}
	pl.made++
	p := &Packet{buf: make([]byte, pl.headroom+pl.maxFrame), headroom: pl.headroom, inUse: true}
	p.off = pl.headroom
	return p
}

func (pl *pool) put(p *Packet) {
	if p == nil || !p.inUse {
		return // a double Put is ignored rather than corrupting the list
	}
	p.inUse = false
	p.next = nil
	p.HasVnet = false
	p.IfIndex = 0
	p.n = 0
	p.off = p.headroom
	p.wire = 0
	pl.free = append(pl.free, p)
}
