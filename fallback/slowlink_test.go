package fallback

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// syn builds an untagged TCP SYN (ack: SYN-ACK) from 10.0.0.1 (or 2001:db8::1
// when v6) with the given options after the 20-byte header and a correct
// checksum.
func syn(v6, ack bool, opts []byte) []byte {
	s := frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, sport: 40000, dport: 5201, vlan: -1}
	if v6 {
		s.src, s.dst = "2001:db8::1", "2001:db8::2"
	}
	hdr := 14 + 20
	if v6 {
		hdr = 14 + 40
	}
	s.size = hdr + 20 + len(opts)
	b := make([]byte, s.size)
	s.build(b)
	copy(b[hdr+20:], opts)
	b[hdr+12] = byte((20+len(opts))/4) << 4
	b[hdr+13] = tcpFlagSYN
	if ack {
		b[hdr+13] |= 0x10
	}
	binary.BigEndian.PutUint16(b[hdr+16:], 0)
	binary.BigEndian.PutUint16(b[hdr+16:], ipv4Checksum(pseudoAndL4(b)))
	return b
}

// pseudoAndL4 is the TCP/UDP pseudo-header followed by the L4 bytes of an
// untagged frame: its Internet checksum is 0 when the L4 checksum is right.
func pseudoAndL4(f []byte) []byte {
	var pr parsed
	parse(f, &pr)
	var ps []byte
	l3 := pr.l3
	if pr.family == 4 {
		ihl := int(f[l3]&0x0F) * 4
		total := int(binary.BigEndian.Uint16(f[l3+2:]))
		seg := f[l3+ihl : l3+total]
		ps = append(ps, f[l3+12:l3+20]...)
		ps = append(ps, 0, f[l3+9], byte(len(seg)>>8), byte(len(seg)))
		return append(ps, seg...)
	}
	seg := f[l3+40:]
	ps = append(ps, f[l3+8:l3+40]...)
	ps = append(ps, 0, 0, byte(len(seg)>>8), byte(len(seg)), 0, 0, 0, f[l3+6])
	return append(ps, seg...)
}

func mssOf(t *testing.T, f []byte) uint16 {
	t.Helper()
	var pr parsed
	parse(f, &pr)
	for o := pr.l4 + 20; o+3 < pr.hdrEnd; {
		switch f[o] {
		case tcpOptEnd:
			t.Fatal("no MSS option")
		case tcpOptNOP:
			o++
		case tcpOptMSS:
			return binary.BigEndian.Uint16(f[o+2:])
		default:
			o += int(f[o+1])
		}
	}
	t.Fatal("no MSS option")
	return 0
}

// Option lists: MSS 1460 word-aligned (Linux's order), after one NOP
// (the value straddles two checksum words), and after SACK-permitted.
var (
	optsLinux = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	optsOdd   = []byte{1, 2, 4, 0x05, 0xb4, 1, 1, 1}
	optsSack  = []byte{4, 2, 2, 4, 0x05, 0xb4, 0, 0}
)

// TestClampMSS: the MSS of SYNs and SYN-ACKs over IPv4 and IPv6 is lowered
// with the checksum still right, wherever the option sits; smaller MSS,
// other segments and a partial checksum's field are handled as they must.
func TestClampMSS(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, ack := range []bool{false, true} {
			for i, opts := range [][]byte{optsLinux, optsOdd, optsSack} {
				f := syn(v6, ack, opts)
				var pr parsed
				parse(f, &pr)
				if !clampMSS(f, &pr, 571, false) {
					t.Fatalf("v6=%v ack=%v opts %d: not clamped", v6, ack, i)
				}
				if got := mssOf(t, f); got != 571 {
					t.Errorf("v6=%v ack=%v opts %d: MSS %d, want 571", v6, ack, i, got)
				}
				if c := ipv4Checksum(pseudoAndL4(f)); c != 0 {
					t.Errorf("v6=%v ack=%v opts %d: TCP checksum off by %#x", v6, ack, i, c)
				}
				if clampMSS(f, &pr, 1000, false) {
					t.Errorf("v6=%v ack=%v opts %d: raised the MSS", v6, ack, i)
				}
			}
		}
	}
	// A data segment keeps its bytes.
	f := syn(false, false, optsLinux)
	f[14+20+13] = 0x10
	orig := bytes.Clone(f)
	var pr parsed
	parse(f, &pr)
	if clampMSS(f, &pr, 571, false) || !bytes.Equal(f, orig) {
		t.Error("clamped a segment without SYN")
	}
	// A partial checksum (offload) keeps its field: the device sums the
	// new option bytes.
	f = syn(false, false, optsLinux)
	sum := binary.BigEndian.Uint16(f[14+20+16:])
	parse(f, &pr)
	if !clampMSS(f, &pr, 571, true) || binary.BigEndian.Uint16(f[14+20+16:]) != sum || mssOf(t, f) != 571 {
		t.Error("partial checksum: want MSS 571 and the checksum field as it was")
	}
}

// FuzzClampMSS: arbitrary SYN options never panic the clamp, and whatever
// it changes leaves a correct checksum correct and the MSS at most the
// clamp.
func FuzzClampMSS(f *testing.F) {
	for _, o := range [][]byte{optsLinux, optsOdd, optsSack, {2, 4}, {2, 3, 1, 0}, {3}} {
		f.Add(o, false, uint16(536))
	}
	f.Fuzz(func(t *testing.T, opts []byte, v6 bool, mss uint16) {
		if len(opts) > 40 {
			opts = opts[:40]
		}
		opts = append(opts, make([]byte, (4-len(opts)%4)%4)...)
		fr := syn(v6, false, opts)
		orig := bytes.Clone(fr)
		var pr parsed
		parse(fr, &pr)
		if !clampMSS(fr, &pr, mss, false) {
			if !bytes.Equal(fr, orig) {
				t.Fatal("not clamped, but the frame changed")
			}
			return
		}
		if c := ipv4Checksum(pseudoAndL4(fr)); c != 0 {
			t.Fatalf("checksum off by %#x after clamping %x", c, opts)
		}
		// Only an MSS option's value changed, to mss.
		var changed []int
		for i := range fr {
			if i != pr.l4+16 && i != pr.l4+17 && fr[i] != orig[i] {
				changed = append(changed, i)
			}
		}
		if len(changed) == 0 || changed[len(changed)-1]-changed[0] > 1 {
			t.Fatalf("bytes %v changed", changed)
		}
		at := changed[0]
		if orig[at-2] != tcpOptMSS || orig[at-1] != 4 {
			at--
		}
		if orig[at-2] != tcpOptMSS || orig[at-1] != 4 || binary.BigEndian.Uint16(fr[at:]) != mss {
			t.Fatalf("bytes %v changed, not an MSS option's value set to %d", changed, mss)
		}
	})
}

// datagram builds an untagged IPv4 UDP datagram of size bytes (frame) with
// the IPv4 options opts (a multiple of 4 bytes), DF when df, payload bytes
// counting up.
func datagram(size int, opts []byte, df bool) []byte {
	s := udp4(1000, 2000, size)
	b := make([]byte, size)
	s.build(b)
	// Move the UDP header and payload after the options.
	h := b[14:]
	copy(h[20+len(opts):], h[20:size-14-len(opts)])
	copy(h[20:], opts)
	h[0] = 0x45 + byte(len(opts)/4)
	if df {
		binary.BigEndian.PutUint16(h[6:], ipv4DF)
	}
	l4 := 20 + len(opts)
	binary.BigEndian.PutUint16(h[l4+4:], uint16(size-14-l4))
	for i := l4 + 8; i < size-14; i++ {
		h[i] = byte(i)
	}
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ipv4Checksum(h[:l4]))
	binary.BigEndian.PutUint16(h[l4+6:], ipv4Checksum(pseudoAndL4(b)))
	return b
}

// reassemble puts fragments (frames) back together as RFC 791 says and
// returns the IPv4 payload, checking each fragment's header on the way.
func reassemble(t *testing.T, frags [][]byte, frame int) []byte {
	t.Helper()
	var out []byte
	for i, f := range frags {
		if len(f) > frame {
			t.Fatalf("fragment %d: %d bytes, more than %d", i, len(f), frame)
		}
		h := f[14:]
		ihl := int(h[0]&0x0F) * 4
		if c := ipv4Checksum(h[:ihl]); c != 0 {
			t.Fatalf("fragment %d: header checksum off by %#x", i, c)
		}
		total := int(binary.BigEndian.Uint16(h[2:]))
		fl := binary.BigEndian.Uint16(h[6:])
		if int(fl&ipv4OffMask)*8 != len(out) {
			t.Fatalf("fragment %d at offset %d, want %d", i, int(fl&ipv4OffMask)*8, len(out))
		}
		last := i == len(frags)-1
		if fl&ipv4MF != 0 == last || fl&ipv4DF != 0 {
			t.Fatalf("fragment %d of %d: flags %#x", i, len(frags), fl)
		}
		if !last && (total-ihl)%8 != 0 {
			t.Fatalf("fragment %d: payload %d bytes, not a multiple of 8", i, total-ihl)
		}
		out = append(out, h[ihl:total]...)
	}
	return out
}

// Options: a timestamp-like option without the copy flag (type 68), a
// no-op, and a copied one (type 130, security).
var optsIP = []byte{68, 4, 0, 0, 1, 130, 3, 0}

// TestFragment4: a datagram with options is cut into fragments that fit,
// reassemble to the original payload (UDP checksum still right), carry
// every option in the first and only the copied ones after; DF keeps the
// datagram whole; a small one is left alone.
func TestFragment4(t *testing.T) {
	const frame = 625
	orig := datagram(1514, optsIP, false)
	p := newPacer(t, plan(1e6, []offload.ClassPlan{classPlan("be", 0, 0, "")}), Config{})
	k := p.Get()
	k.SetLen(copy(k.ReadBuf(), orig))
	var pr parsed
	parse(k.Frame(), &pr)
	out, res := fragment4(k, &pr, frame, p.Get, nil)
	if res != fragCut || len(out) != 2 {
		t.Fatalf("result %v, %d more fragments; want cut into 3", res, len(out))
	}
	frames := [][]byte{k.Frame()}
	for _, q := range out {
		frames = append(frames, q.Frame())
	}
	payload := reassemble(t, frames, frame)
	if !bytes.Equal(payload, orig[14+20+len(optsIP):]) {
		t.Fatal("reassembled payload differs")
	}
	if !bytes.Equal(frames[0][14+20:14+20+len(optsIP)], optsIP) {
		t.Errorf("first fragment options %x, want %x", frames[0][34:34+len(optsIP)], optsIP)
	}
	if got := frames[1][14+20 : 14+24]; frames[1][14] != 0x46 || !bytes.Equal(got, []byte{130, 3, 0, 0}) {
		t.Errorf("later fragment: ihl %d options %x, want the copied option only", frames[1][14]&15, got)
	}
	whole := append(bytes.Clone(orig[:14+20+len(optsIP)]), payload...)
	if c := ipv4Checksum(pseudoAndL4(whole)); c != 0 {
		t.Errorf("reassembled UDP checksum off by %#x", c)
	}
	for _, tc := range []struct {
		name string
		f    []byte
		want fragResult
	}{
		{"DF", datagram(1514, nil, true), fragDF},
		{"small", datagram(frame, nil, false), fragWhole},
	} {
		k.SetLen(copy(k.ReadBuf(), tc.f))
		parse(k.Frame(), &pr)
		if _, res := fragment4(k, &pr, frame, p.Get, nil); res != tc.want || !bytes.Equal(k.Frame(), tc.f) {
			t.Errorf("%s: result %v (frame changed: %v), want %v", tc.name, res, !bytes.Equal(k.Frame(), tc.f), tc.want)
		}
	}
}

// TestFragment4PartialChecksum: a UDP checksum left to offload
// (NEEDS_CSUM) is completed before the datagram is cut.
func TestFragment4PartialChecksum(t *testing.T) {
	orig := datagram(1400, nil, false)
	p := newPacer(t, plan(1e6, []offload.ClassPlan{classPlan("be", 0, 0, "")}), Config{})
	k := p.Get()
	k.SetLen(copy(k.ReadBuf(), orig))
	f := k.Frame()
	// As the kernel hands it over: the field holds the folded
	// pseudo-header sum, the rest is for the device.
	ps := pseudoAndL4(f)
	binary.BigEndian.PutUint16(f[14+20+6:], ^ipv4Checksum(ps[:12]))
	k.HasVnet = true
	k.Vnet[0] = vnetFlagNeedsCsum
	binary.LittleEndian.PutUint16(k.Vnet[6:], 14+20)
	binary.LittleEndian.PutUint16(k.Vnet[8:], 6)
	var pr parsed
	parse(f, &pr)
	out, res := fragment4(k, &pr, 600, p.Get, nil)
	if res != fragCut || k.Vnet[0]&vnetFlagNeedsCsum != 0 {
		t.Fatalf("result %v, vnet flags %#x", res, k.Vnet[0])
	}
	frames := [][]byte{k.Frame()}
	for _, q := range out {
		frames = append(frames, q.Frame())
	}
	whole := append(bytes.Clone(orig[:14+20]), reassemble(t, frames, 600)...)
	if got, want := binary.BigEndian.Uint16(whole[14+20+6:]), binary.BigEndian.Uint16(orig[14+20+6:]); got != want {
		t.Errorf("completed UDP checksum %#x, want %#x", got, want)
	}
}

// FuzzFragment4: any datagram size, option list and frame size cut into
// fragments reassembles to the original payload with valid headers.
func FuzzFragment4(f *testing.F) {
	f.Add(uint16(1514), optsIP, uint16(625))
	f.Add(uint16(3000), []byte{}, uint16(256))
	f.Add(uint16(9000), []byte{131, 7, 4, 1, 2, 3, 4, 0}, uint16(100))
	f.Fuzz(func(t *testing.T, size uint16, opts []byte, frame uint16) {
		if len(opts) > 40 {
			opts = opts[:40]
		}
		opts = append(opts, make([]byte, (4-len(opts)%4)%4)...)
		sz := min(max(int(size), 14+20+len(opts)+8), 9000)
		orig := datagram(sz, opts, false)
		p := newPacer(t, plan(1e6, []offload.ClassPlan{classPlan("be", 0, 0, "")}), Config{Packets: 256, MaxFrame: 9000})
		k := p.Get()
		k.SetLen(copy(k.ReadBuf(), orig))
		var pr parsed
		parse(k.Frame(), &pr)
		out, res := fragment4(k, &pr, int(frame), p.Get, nil)
		if res != fragCut {
			if !bytes.Equal(k.Frame(), orig) {
				t.Fatalf("result %v but the frame changed", res)
			}
			return
		}
		frames := [][]byte{k.Frame()}
		for _, q := range out {
			frames = append(frames, q.Frame())
		}
		if !bytes.Equal(reassemble(t, frames, int(frame)), orig[14+20+len(opts):]) {
			t.Fatal("reassembled payload differs")
		}
	})
}

// slowPlan is a pacer plan at 1 Mbit/s with a guaranteed class (UDP port
// 5004) and best effort, and the slow-link sizes for a 10 ms bound.
func slowPlan() *offload.TargetPlan {
	g := classPlan("voice", 5, 64e3, model.Shape)
	g.Service = model.Guaranteed
	be := classPlan("be", 0, 0, "")
	be.Service = model.BestEffort
	tp := plan(1e6, []offload.ClassPlan{g, be},
		pacerRule("rtp", "voice", 1, model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: 5004, Hi: 5004}}),
		pacerRule("ssh", "voice", 1, model.Match{Protocol: model.TCP, DstPort: model.PortRange{Lo: 22, Hi: 22}}))
	tp.Pacer.SlowLink = &offload.SlowLink{Below: 10e6, Latency: model.Delay(10e6), Class: "voice", Frame: 625, MSS4: 571, MSS6: 551}
	return tp
}

// TestPacerSlowLink: through Enqueue/Dequeue, a best-effort SYN leaves
// clamped and a delay-bound one untouched; a best-effort datagram leaves as
// fragments, a DF one whole and counted, a delay-bound one whole; Stats
// count each; NoSlowLink serves everything whole.
func TestPacerSlowLink(t *testing.T) {
	for _, off := range []bool{false, true} {
		p := newPacer(t, slowPlan(), Config{NoSlowLink: off})
		var sent [][]byte
		enq := func(f []byte) {
			k := p.Get()
			k.SetLen(copy(k.ReadBuf(), f))
			p.Enqueue(k, 0)
		}
		enq(syn(false, false, optsLinux))     // best effort: clamped
		enq(syn(true, true, optsOdd))         // best effort IPv6 SYN-ACK: clamped
		sshSyn := syn(false, false, optsSack) // voice: untouched
		binary.BigEndian.PutUint16(sshSyn[14+20+2:], 22)
		binary.BigEndian.PutUint16(sshSyn[14+20+16:], 0)
		binary.BigEndian.PutUint16(sshSyn[14+20+16:], ipv4Checksum(pseudoAndL4(sshSyn)))
		enq(sshSyn)
		enq(datagram(1400, nil, false)) // best effort: 3 fragments
		enq(datagram(1400, nil, true))  // DF: whole, counted
		rtp := datagram(1000, nil, false)
		binary.BigEndian.PutUint16(rtp[14+20+2:], 5004)
		enq(rtp) // voice: whole
		drainAll(p, 0, func(k *Packet) { sent = append(sent, bytes.Clone(k.Frame())) })
		p.publishAll()
		st := p.Stats().SlowLink
		mss := map[uint16]int{}
		sizes := map[int]int{}
		for _, f := range sent {
			var pr parsed
			parse(f, &pr)
			if pr.proto == protoTCP {
				mss[mssOf(t, f)]++
			} else {
				sizes[len(f)]++
			}
		}
		if off {
			if st != (SlowLinkStats{}) || len(sent) != 6 || mss[1460] != 3 {
				t.Errorf("NoSlowLink: stats %+v, %d frames, MSS %v; want nothing cut", st, len(sent), mss)
			}
			continue
		}
		want := SlowLinkStats{MSSClamped: 2, Fragmented: 1, Fragments: 3, DFWhole: 1}
		if st != want {
			t.Errorf("stats %+v, want %+v", st, want)
		}
		if c := p.Counters().SlowLink; c == nil || c.DFWhole != 1 || c.MSSClamped != 2 || c.Fragments != 3 {
			t.Errorf("Counters().SlowLink %+v, want the stats", c)
		}
		if mss[571] != 1 || mss[551] != 1 || mss[1460] != 1 {
			t.Errorf("MSS sent %v, want 571 (IPv4), 551 (IPv6) and the voice SYN's 1460", mss)
		}
		if sizes[1400] != 1 || sizes[1000] != 1 || len(sent) != 8 {
			t.Errorf("%d frames, sizes %v: want the DF and the voice datagram whole and 3 fragments", len(sent), sizes)
		}
		for n, c := range sizes {
			if n > 625 && n != 1400 && n != 1000 {
				t.Errorf("%d frames of %d bytes, above the slow-link frame", c, n)
			}
		}
	}
}

// TestClampReverse: a SYN-ACK coming back from the peer is clamped when
// its connection, as the shaped side sees it, is best effort, and left
// alone when it is of a class that bounds delay (ssh: dst-port 22 on the
// shaped side, source port 22 here).
func TestClampReverse(t *testing.T) {
	p := newPacer(t, slowPlan(), Config{})
	if !p.ClampsReverse() {
		t.Fatal("ClampsReverse false on a slow link")
	}
	be := syn(false, true, optsLinux) // from port 40000: best effort
	p.ClampReverse(be, nil)
	ssh := syn(false, true, optsLinux)
	binary.BigEndian.PutUint16(ssh[14+20:], 22)
	binary.BigEndian.PutUint16(ssh[14+20+16:], 0)
	binary.BigEndian.PutUint16(ssh[14+20+16:], ipv4Checksum(pseudoAndL4(ssh)))
	p.ClampReverse(ssh, nil)
	if mssOf(t, be) != 571 || ipv4Checksum(pseudoAndL4(be)) != 0 {
		t.Errorf("best-effort SYN-ACK: MSS %d (checksum %#x), want 571 and a right checksum", mssOf(t, be), ipv4Checksum(pseudoAndL4(be)))
	}
	if mssOf(t, ssh) != 1460 {
		t.Errorf("ssh SYN-ACK: MSS %d, want 1460 untouched", mssOf(t, ssh))
	}
	if got := p.Stats().SlowLink.MSSClamped; got != 1 {
		t.Errorf("MSSClamped %d, want 1", got)
	}
	if newPacer(t, slowPlan(), Config{NoSlowLink: true}).ClampsReverse() {
		t.Error("ClampsReverse with NoSlowLink")
	}
}
