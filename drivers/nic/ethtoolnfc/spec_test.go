package ethtoolnfc

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// The offsets below are written out from include/uapi/linux/ethtool.h
// (6.1; checked with offsetof on x86_64), not taken from the package's
// constants, so that a wrong constant fails here.
func TestEncodeTCP4Golden(t *testing.T) {
	// ethtool -N dev flow-type tcp4 src-ip 10.0.0.1 m 0.0.0.255 dst-port 80 action 3 loc 7
	// (ethtool's "m" is inverted: the kernel mask is 255.255.255.0).
	r := &Rule{Type: TCPv4,
		Value:    IP4{Src: netip.MustParseAddr("10.0.0.1"), DstPort: 80},
		Mask:     IP4{Src: netip.MustParseAddr("255.255.255.0"), DstPort: 0xffff},
		Ring:     3,
		Location: 7}
	b := rxnfc(cmdInsertRule, 0)
	if err := encodeRule(b[16:16+168], r); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 192)
	want[0] = 0x32                            // cmd ETHTOOL_SRXCLSRLINS
	want[16] = 1                              // fs.flow_type TCP_V4_FLOW
	copy(want[16+4:], []byte{10, 0, 0, 1})    // h_u.tcp_ip4_spec.ip4src
	copy(want[16+4+10:], []byte{0, 80})       // h_u.tcp_ip4_spec.pdst (be16)
	copy(want[16+76:], []byte{255, 255, 255}) // m_u.tcp_ip4_spec.ip4src
	copy(want[16+76+10:], []byte{0xff, 0xff}) // m_u.tcp_ip4_spec.pdst
	want[16+152] = 3                          // ring_cookie (u64, host order)
	want[16+160] = 7                          // location
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", b, want)
	}
	got, err := decodeRule(b[16 : 16+168])
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(r) {
		t.Fatalf("round trip: %+v, want %+v", got, r)
	}
}

func TestEncodeIP4ExtGolden(t *testing.T) {
	// flow-type ip4 dst-ip 192.168.1.2 l4proto 17 vlan 0x0005 m 0xf000 user-def 0x0000000100000002 action -1 (drop)
	r := &Rule{Type: IPv4,
		Value:  IP4{Dst: netip.MustParseAddr("192.168.1.2"), Proto: 17},
		Mask:   IP4{Dst: netip.MustParseAddr("255.255.255.255"), Proto: 0xff},
		HasExt: true, ExtValue: Ext{VLANTCI: 5, Data: [2]uint32{1, 2}}, ExtMask: Ext{VLANTCI: 0x0fff, Data: [2]uint32{0xffffffff, 0xffffffff}},
		Ring: Discard, Location: 0x102}
	fs := make([]byte, 168)
	if err := encodeRule(fs, r); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 168)
	binary.LittleEndian.PutUint32(want[0:], 0x8000000d) // IP_USER_FLOW | FLOW_EXT
	copy(want[4+4:], []byte{192, 168, 1, 2})            // h_u.usr_ip4_spec.ip4dst
	want[4+13] = 1                                      // ip_ver ETH_RX_NFC_IP4
	want[4+14] = 17                                     // proto
	copy(want[56+10:], []byte{0, 5})                    // h_ext.vlan_tci
	copy(want[56+12:], []byte{0, 0, 0, 1, 0, 0, 0, 2})  // h_ext.data[0..1]
	copy(want[76+4:], []byte{255, 255, 255, 255})       // m_u ip4dst
	want[76+14] = 0xff                                  // m_u proto (ip_ver mask stays 0)
	copy(want[128+10:], []byte{0x0f, 0xff})             // m_ext.vlan_tci
	copy(want[128+12:], bytes.Repeat([]byte{0xff}, 8))  // m_ext.data
	copy(want[152:], bytes.Repeat([]byte{0xff}, 8))     // RX_CLS_FLOW_DISC
	binary.LittleEndian.PutUint32(want[160:], 0x102)    // location
	if !bytes.Equal(fs, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", fs, want)
	}
	got, err := decodeRule(fs)
	if err != nil || !got.Equal(r) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, ok := got.Queue(); ok {
		t.Fatal("a drop rule has no queue")
	}
}

func TestRxnfcLayout(t *testing.T) {
	if b := rxnfc(cmdGetAllRules, 3); len(b) != 200 || b[0] != 0x30 {
		t.Fatalf("GRXCLSRLALL buffer for 3 locations: %d bytes (want 188+12)", len(b))
	}
	if b := rxnfc(cmdGetRuleCount, 0); len(b) != 192 {
		t.Fatalf("sizeof(struct ethtool_rxnfc) = 192, got %d", len(b))
	}
}

func TestEqualIgnoresUnmaskedBitsAndEmptyExt(t *testing.T) {
	a := Rule{Type: UDPv4, Value: IP4{Dst: netip.MustParseAddr("10.1.2.3"), DstPort: 53},
		Mask: IP4{Dst: netip.MustParseAddr("255.255.0.0"), DstPort: 0xffff}, Ring: 2, Location: 1}
	b := a
	b.Value.Dst = netip.MustParseAddr("10.1.0.0")
	b.Value.SrcPort = 9 // mask 0
	b.HasExt = true     // ixgbe reports FLOW_EXT with zero masks
	if !a.Equal(&b) {
		t.Fatal("rules differing only outside the mask must be equal")
	}
	b.Ring = 3
	if a.Equal(&b) {
		t.Fatal("a different queue must differ")
	}
}

func TestEncodeRefuses(t *testing.T) {
	fs := make([]byte, 168)
	if err := encodeRule(fs, &Rule{Type: 5}); err == nil {
		t.Fatal("tcp6 must be refused")
	}
	if err := encodeRule(fs, &Rule{Type: TCPv4, Value: IP4{Src: netip.MustParseAddr("::1")}}); err == nil {
		t.Fatal("an IPv6 address in tcp4 must be refused")
	}
}
