package htb

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Golden bytes written out from the uapi structs (offsets checked with
// offsetof on x86_64), not from htb.go's constants.
func TestHTBQdiscOptionsGolden(t *testing.T) {
	// tc qdisc add dev X root handle 1: htb offload default 0x10
	want := []byte{
		24, 0, 2, 0, // nlattr len 24, TCA_HTB_INIT
		3, 0, 0, 0, // version TC_HTB_PROTOVER
		10, 0, 0, 0, // rate2quantum
		0x10, 0, 0, 0, // defcls
		0, 0, 0, 0, // debug
		0, 0, 0, 0, // direct_pkts
		4, 0, 9, 0, // TCA_HTB_OFFLOAD (flag, no payload)
	}
	if got := QdiscOptions(0x10, true); !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	if Offloaded(QdiscOptions(0, false)) || !Offloaded(want) {
		t.Fatal("Offloaded")
	}
	if d, ok := DefCls(want); !ok || d != 0x10 {
		t.Fatalf("DefCls %#x %v", d, ok)
	}
	if _, ok := DefCls(want[24:]); ok {
		t.Fatal("DefCls without TCA_HTB_INIT")
	}
}

func TestHTBClassGolden(t *testing.T) {
	// rate 1gbit ceil 40gbit burst 15000 cburst 15000: the ceil (5e9 bytes/s)
	// does not fit the u32 and goes in TCA_HTB_CEIL64.
	c := Class{RateBytes: 125_000_000, CeilBytes: 5_000_000_000, BurstBytes: 15000, CBurstBytes: 15000}
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{12, 0, 7, 0} // TCA_HTB_CEIL64
	want = binary.LittleEndian.AppendUint64(want, 5_000_000_000)
	want = append(want, 48, 0, 1, 0) // TCA_HTB_PARMS, 44 bytes
	opt := make([]byte, 44)
	opt[1], opt[13] = 1, 1                              // linklayer ethernet (rate, ceil)
	binary.LittleEndian.PutUint32(opt[8:], 125_000_000) // rate.rate
	binary.LittleEndian.PutUint32(opt[20:], 0xffffffff) // ceil.rate saturated
	binary.LittleEndian.PutUint32(opt[24:], 1875)       // buffer: 120 µs = 120000 ns / 64
	binary.LittleEndian.PutUint32(opt[28:], 46)         // cbuffer: 3 µs -> 46 ticks
	want = append(want, opt...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	back, err := DecodeClass(got)
	if err != nil || back.RateBytes != c.RateBytes || back.CeilBytes != c.CeilBytes {
		t.Fatalf("decode: %+v %v", back, err)
	}
	if _, err := (Class{RateBytes: 2, CeilBytes: 1}).Encode(); err == nil {
		t.Fatal("ceil below rate accepted")
	}
}
