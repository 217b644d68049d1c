package fallback

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/qosplane/qosplane/offload"
)

// gsoFrame builds a TCP GSO frame (IPv6 when v6) of payload bytes with
// gso_size seg, flags CWR|ACK|PSH|FIN, sequence 1000, the checksum left to
// offload as the kernel hands it over.
func gsoFrame(v6 bool, payload, seg int) (f []byte, vnet [10]byte) {
	f = syn(v6, false, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	var pr parsed
	parse(f, &pr)
	f[pr.l4+13] = tcpFlagCWR | 0x10 | tcpFlagPSH | tcpFlagFIN
	binary.BigEndian.PutUint32(f[pr.l4+4:], 1000)
	for i := range payload {
		f = append(f, byte(i*13))
	}
	if v6 {
		binary.BigEndian.PutUint16(f[pr.l3+4:], uint16(len(f)-pr.l3-40))
	} else {
		binary.BigEndian.PutUint16(f[pr.l3+2:], uint16(len(f)-pr.l3))
		f[pr.l3+10], f[pr.l3+11] = 0, 0
		binary.BigEndian.PutUint16(f[pr.l3+10:], ipv4Checksum(f[pr.l3:pr.l3+20]))
	}
	binary.BigEndian.PutUint16(f[pr.l4+16:], csumFold(pseudoHeader(f, &pr, len(f)-pr.l4)))
	vnet[0] = vnetFlagNeedsCsum
	vnet[1] = vnetGSOTCPv4
	if v6 {
		vnet[1] = vnetGSOTCPv6
	}
	binary.LittleEndian.PutUint16(vnet[2:], uint16(pr.hdrEnd))
	binary.LittleEndian.PutUint16(vnet[4:], uint16(seg))
	binary.LittleEndian.PutUint16(vnet[6:], uint16(pr.l4))
	binary.LittleEndian.PutUint16(vnet[8:], 16)
	return f, vnet
}

// checkSegments splits the GSO frame and checks the segments against it:
// sizes, sequence numbers, flags, IPv4 ID, checksums, and the payload.
func checkSegments(t *testing.T, v6 bool, payload, seg int) {
	t.Helper()
	f, vnet := gsoFrame(v6, payload, seg)
	p := newPacer(t, plan(1e6, []offload.ClassPlan{classPlan("be", 0, 0, "")}), Config{Packets: 256})
	k := p.Get()
	k.SetLen(copy(k.ReadBuf(), f))
	k.HasVnet, k.Vnet = true, vnet
	var pr parsed
	parse(k.Frame(), &pr)
	out, res := splitGSO(k, &pr, p.Get, nil)
	want := (payload + seg - 1) / seg
	if payload <= seg {
		if res != fragWhole {
			t.Fatalf("payload %d <= gso %d: result %v, want whole", payload, seg, res)
		}
		return
	}
	if res != fragCut || len(out)+1 != want {
		t.Fatalf("v6=%v payload %d gso %d: result %v, %d segments, want %d", v6, payload, seg, res, len(out)+1, want)
	}
	var got []byte
	for i, q := range append([]*Packet{k}, out...) {
		g := q.Frame()
		var qr parsed
		parse(g, &qr)
		if q.Vnet != ([10]byte{}) {
			t.Fatalf("segment %d: virtio header %x, want cleared", i, q.Vnet)
		}
		if c := ipv4Checksum(pseudoAndL4(g)); c != 0 {
			t.Fatalf("segment %d: TCP checksum off by %#x", i, c)
		}
		if !v6 && ipv4Checksum(g[qr.l3:qr.l3+20]) != 0 {
			t.Fatalf("segment %d: IPv4 header checksum wrong", i)
		}
		if !v6 && binary.BigEndian.Uint16(g[qr.l3+4:]) != 0x1234+uint16(i) {
			t.Fatalf("segment %d: IPv4 ID %#x", i, binary.BigEndian.Uint16(g[qr.l3+4:]))
		}
		if s := binary.BigEndian.Uint32(g[qr.l4+4:]); s != 1000+uint32(len(got)) {
			t.Fatalf("segment %d: seq %d, want %d", i, s, 1000+len(got))
		}
		fl := g[qr.l4+13]
		last := i == want-1
		if fl&tcpFlagFIN != 0 != last || fl&tcpFlagPSH != 0 != last || fl&tcpFlagCWR != 0 != (i == 0) || fl&0x10 == 0 {
			t.Fatalf("segment %d of %d: flags %#x", i, want, fl)
		}
		if n := len(g) - qr.hdrEnd; n > seg || !last && n != seg {
			t.Fatalf("segment %d: %d payload bytes, gso size %d", i, n, seg)
		}
		got = append(got, g[qr.hdrEnd:]...)
	}
	if !bytes.Equal(got, f[len(f)-payload:]) {
		t.Fatal("segments' payload differs from the GSO frame's")
	}
}

// TestSplitGSO: TCP GSO frames over IPv4 and IPv6 split as a device's TSO
// would.
func TestSplitGSO(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		checkSegments(t, v6, 3000, 1000)
		checkSegments(t, v6, 2897, 559)
		checkSegments(t, v6, 500, 559)
	}
}

// FuzzSplitGSO: any payload and gso size.
func FuzzSplitGSO(f *testing.F) {
	f.Add(false, uint16(3000), uint16(1000))
	f.Add(true, uint16(60000), uint16(1))
	f.Fuzz(func(t *testing.T, v6 bool, payload, seg uint16) {
		if seg == 0 || int(payload)/int(seg) > 200 || payload > 16000 {
			return
		}
		checkSegments(t, v6, int(payload), int(seg))
	})
}
