package fallback

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// TestSetDSCPv4 rewrites every DSCP over every TOS and checks the ECN bits
// are kept and the incremental checksum equals one computed from scratch.
func TestSetDSCPv4(t *testing.T) {
	buf := make([]byte, 128)
	for tos := range 256 {
		for dscp := range uint8(64) {
			s := udp4(1, 2, 100)
			s.tos = uint8(tos)
			n := s.build(buf)
			f := buf[:n]
			binary.BigEndian.PutUint16(f[14+4:], uint16(tos*257+int(dscp))) // vary the header
			binary.BigEndian.PutUint16(f[14+10:], 0)
			binary.BigEndian.PutUint16(f[14+10:], ipv4Checksum(f[14:34]))
			var pr parsed
			parse(f, &pr)
			setDSCP(f, &pr, dscp)
			if f[15] != dscp<<2|uint8(tos)&3 {
				t.Fatalf("tos %#x dscp %d: byte %#x", tos, dscp, f[15])
			}
			if ipv4Checksum(f[14:34]) != 0 {
				t.Fatalf("tos %#x dscp %d: checksum does not verify", tos, dscp)
			}
			got := binary.BigEndian.Uint16(f[24:])
			binary.BigEndian.PutUint16(f[24:], 0)
			if want := ipv4Checksum(f[14:34]); got != want && !(got == 0xFFFF && want == 0) && !(got == 0 && want == 0xFFFF) {
				t.Fatalf("tos %#x dscp %d: checksum %#x, from scratch %#x", tos, dscp, got, want)
			}
		}
	}
}

func TestSetDSCPv6AndCE(t *testing.T) {
	s := frameSpec{src: "2001:db8::1", dst: "2001:db8::2", proto: protoTCP, sport: 1, dport: 2, tos: 0x01, vlan: -1, size: 100}
	f := make([]byte, 100)
	s.build(f)
	orig := bytes.Clone(f)
	var pr parsed
	parse(f, &pr)
	setDSCP(f, &pr, 46) // EF: 0xB8, ECT(1) kept -> 0xB9
	if f[14] != 0x6B || f[15] != 0x90 {
		t.Fatalf("traffic class bytes %#x %#x, want 0x6b 0x90", f[14], f[15])
	}
	setCE(f, &pr)
	if f[14] != 0x6B || f[15] != 0xB0 {
		t.Fatalf("after CE %#x %#x, want 0x6b 0xb0", f[14], f[15])
	}
	if !bytes.Equal(f[16:], orig[16:]) || !bytes.Equal(f[:14], orig[:14]) {
		t.Fatal("bytes outside the traffic class changed")
	}
}

func TestSetPCP(t *testing.T) {
	p := newPacer(t, plan(0, []offload.ClassPlan{classPlan("c", 0, 0, model.Shape)}), Config{})
	// Tagged: PCP rewritten, VID and DEI kept, length unchanged.
	s := udp4(1, 2, 100)
	s.vlan = 0x1234 & 0x1FFF // DEI set, VID 0x234
	k := pkt(t, p, s)
	var pr parsed
	parse(k.Frame(), &pr)
	if pr.vlan != 0x234 {
		t.Fatalf("vlan %#x", pr.vlan)
	}
	if grow := k.setPCP(&pr, 5); grow != 0 || len(k.Frame()) != 100 {
		t.Fatalf("tagged grew by %d", grow)
	}
	if tci := binary.BigEndian.Uint16(k.Frame()[14:]); tci != 5<<13|0x1234 {
		t.Fatalf("tci %#x", tci)
	}
	p.Put(k)

	// Untagged with PCP 0: nothing inserted.
	k = pkt(t, p, udp4(1, 2, 100))
	parse(k.Frame(), &pr)
	if k.setPCP(&pr, 0) != 0 || len(k.Frame()) != 100 {
		t.Fatal("PCP 0 inserted a tag")
	}

	// Untagged: a priority tag is inserted into the headroom.
	orig := bytes.Clone(k.Frame())
	k.HasVnet = true
	k.Vnet = [10]byte{vnetFlagNeedsCsum, 1, 54, 0, 0xA8, 0x05, 34, 0, 16, 0} // TCPv4 GSO, hdr_len 54, csum_start 34
	if grow := k.setPCP(&pr, 6); grow != 4 {
		t.Fatalf("grew by %d, want 4", grow)
	}
	f := k.Frame()
	if len(f) != 104 || !bytes.Equal(f[:12], orig[:12]) || !bytes.Equal(f[16:], orig[12:]) {
		t.Fatalf("frame after insertion wrong:\n% x\n% x", f[:20], orig[:20])
	}
	if binary.BigEndian.Uint16(f[12:]) != etherVLAN || binary.BigEndian.Uint16(f[14:]) != 6<<13 {
		t.Fatalf("tag % x", f[12:16])
	}
	if hl, cs := binary.LittleEndian.Uint16(k.Vnet[2:]), binary.LittleEndian.Uint16(k.Vnet[6:]); hl != 58 || cs != 38 {
		t.Fatalf("vnet hdr_len %d csum_start %d, want 58 38", hl, cs)
	}
	var pr2 parsed
	parse(f, &pr2)
	if pr2.l3 != pr.l3 || pr2.tagOff != 12 || pr2.vlan != 0 || pr2.dport != 2 {
		t.Fatalf("reparse %+v vs %+v", pr2, pr)
	}
}

// TestPacerMarks: conforming packets get the class mark, a rule's SetDSCP
// and SetPCP override it, and the frame leaves tagged with a valid checksum.
func TestPacerMarks(t *testing.T) {
	cp := classPlan("c", 4, 0, model.Shape)
	cp.Mark = offload.Mark{DSCP: 24, PCP: 4}
	r := pacerRule("ef", "c", 1, model.Match{DstPort: model.PortRange{Lo: 5060, Hi: 5061}},
		offload.Action{Kind: offload.SetDSCP, DSCP: 46}, offload.Action{Kind: offload.SetPCP, PCP: 6})
	p := newPacer(t, plan(0, []offload.ClassPlan{cp}, r), Config{})
	s := udp4(1, 5061, 200)
	s.tos = 0x02
	p.Enqueue(pkt(t, p, s), 0)
	p.Enqueue(pkt(t, p, udp4(1, 80, 200)), 0)
	var got [][2]uint16
	drain(p, 0, func(k *Packet) {
		f := k.Frame()
		if ipv4Checksum(f[18:38]) != 0 {
			t.Fatal("checksum")
		}
		if k.WireLen() != 204 {
			t.Fatalf("wire len %d, want 204", k.WireLen())
		}
		got = append(got, [2]uint16{uint16(f[19]), binary.BigEndian.Uint16(f[14:]) >> 13})
	})
	want := [][2]uint16{{46<<2 | 2, 6}, {24 << 2, 4}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("tos/pcp %v, want %v", got, want)
	}
}

func TestWireLenGSO(t *testing.T) {
	p := newPacer(t, plan(0, []offload.ClassPlan{classPlan("c", 0, 0, model.Shape)}), Config{})
	s := frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, sport: 1, dport: 2, vlan: -1, size: 54 + 4000}
	k := pkt(t, p, s)
	k.HasVnet = true
	k.Vnet = [10]byte{vnetFlagNeedsCsum, 1, 54, 0, 0xDC, 0x05, 34, 0, 16, 0} // gso_size 1500
	// 4000 payload bytes: 3 segments, two extra 54-byte headers.
	if got := k.WireLen(); got != 4054+2*54 {
		t.Fatalf("GSO WireLen %d, want %d", got, 4054+2*54)
	}
	k.HasVnet = false
	if got := k.WireLen(); got != 4054 {
		t.Fatalf("WireLen %d", got)
	}
}
