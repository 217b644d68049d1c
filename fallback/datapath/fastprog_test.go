package datapath

import (
	"encoding/binary"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/fallback"
)

// The fast path's programs run here in the kernel with BPF_PROG_TEST_RUN:
// the verifier accepts them, and the bytes they write and the verdicts
// they return are the kernel's. (A test run of a socket filter starts at
// the IP header, where a real packet socket's starts at the Ethernet
// header: sockFrame gives it the Ethernet header twice. TestFastPathLab
// runs the filter on a real socket.)

// testFrame describes a frame for the programs.
type testFrame struct {
	src, dst     string // IPv6 when they contain ':'
	proto        uint8
	sport, dport uint16
	tos          uint8  // IPv4 TOS or IPv6 traffic class
	frag         uint16 // IPv4 flags+offset field
	tag          bool   // an 802.1Q tag in the frame
	extHdr       bool   // an IPv6 hop-by-hop header before L4
	payload      int
}

func (f testFrame) bytes() []byte {
	b := make([]byte, 0, 128+f.payload)
	b = append(b, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1)
	if f.tag {
		b = append(b, 0x81, 0x00, 0x00, 0x07)
	}
	src, dst := netip.MustParseAddr(f.src), netip.MustParseAddr(f.dst)
	l4len := 8
	if f.proto == 6 {
		l4len = 20
	}
	if src.Is4() {
		b = append(b, 0x08, 0x00)
		h := make([]byte, 20)
		h[0], h[1] = 0x45, f.tos
		binary.BigEndian.PutUint16(h[2:], uint16(20+l4len+f.payload))
		binary.BigEndian.PutUint16(h[6:], f.frag)
		h[8], h[9] = 64, f.proto
		a, d := src.As4(), dst.As4()
		copy(h[12:], a[:])
		copy(h[16:], d[:])
		binary.BigEndian.PutUint16(h[10:], ipSum(h))
		b = append(b, h...)
	} else {
		b = append(b, 0x86, 0xDD)
		h := make([]byte, 40)
		h[0], h[1] = 0x60|f.tos>>4, f.tos<<4|0x0a // flow label bits kept
		h[2], h[3] = 0xbc, 0xde
		next := f.proto
		ext := 0
		if f.extHdr {
			next, ext = 0, 8
		}
		binary.BigEndian.PutUint16(h[4:], uint16(ext+l4len+f.payload))
		h[6], h[7] = next, 64
		a, d := src.As16(), dst.As16()
		copy(h[8:], a[:])
		copy(h[24:], d[:])
		b = append(b, h...)
		if f.extHdr {
			b = append(b, f.proto, 0, 1, 4, 0, 0, 0, 0)
		}
	}
	l4 := make([]byte, l4len)
	binary.BigEndian.PutUint16(l4[0:], f.sport)
	binary.BigEndian.PutUint16(l4[2:], f.dport)
	if f.proto == 6 {
		l4[12] = 5 << 4
	}
	b = append(b, l4...)
	return append(b, make([]byte, f.payload)...)
}

// ipSum is the IPv4 header checksum of h (0 when h's checksum is right).
func ipSum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s>>16 != 0 {
		s = s&0xFFFF + s>>16
	}
	return ^uint16(s)
}

func (f testFrame) flow(mark uint8, rewrite bool) fallback.FastFlow {
	ff := fallback.FastFlow{Proto: f.proto, SrcPort: f.sport, DstPort: f.dport, DSCP: f.tos >> 2, Mark: mark, Rewrite: rewrite}
	src, dst := netip.MustParseAddr(f.src), netip.MustParseAddr(f.dst)
	if src.Is4() {
		ff.Family = 4
		a, d := src.As4(), dst.As4()
		copy(ff.Src[:], a[:])
		copy(ff.Dst[:], d[:])
	} else {
		ff.Family = 6
		ff.Src, ff.Dst = src.As16(), dst.As16()
	}
	return ff
}

// progEnv is a flow map with the flow programs loaded on it.
type progEnv struct {
	flows    *ebpf.Map
	verdicts *ebpf.Map
	tc       *ebpf.Program
	sock     *ebpf.Program
	rev      *ebpf.Map
	revTC    *ebpf.Program
}

const testOutIfindex = 77

func loadProgs(t *testing.T) *progEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root (CI runs the unit tests as root)")
	}
	fp := &fastPath{}
	var err error
	fp.flows, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: fastKeyLen, ValueSize: fastValLen, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	fp.rev, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: revValLen, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	fp.verdicts, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: verdictLen, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fp.closeObjects)
	env := &progEnv{flows: fp.flows, rev: fp.rev, verdicts: fp.verdicts}
	if env.tc, err = fp.load("qp_test_tc", ebpf.SchedCLS, flowTCProg(fp.flows.FD(), fp.verdicts.FD(), testOutIfindex)); err != nil {
		t.Fatal(err)
	}
	if env.sock, err = fp.load("qp_test_sock", ebpf.SocketFilter, flowSockProg(fp.flows.FD(), fp.verdicts.FD(), -1)); err != nil {
		t.Fatal(err)
	}
	if env.revTC, err = fp.load("qp_test_rev", ebpf.SchedCLS, reverseTCProg(fp.rev.FD(), testOutIfindex)); err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *progEnv) add(t *testing.T, f fallback.FastFlow) {
	t.Helper()
	v := fastVal{Mark: f.Mark}
	if f.Rewrite {
		v.Rewrite = 1
	}
	if err := e.flows.Update(keyOf(&f), v, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
}

// run test-runs the TC program on frame (ctx: gso_segs and gso_size when
// segs > 0) and returns the verdict and the frame after it.
func (e *progEnv) run(t *testing.T, prog *ebpf.Program, frame []byte, segs, segSize uint32) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(frame)+64)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	if segs > 0 {
		ctx := make([]byte, 192) // struct __sk_buff
		binary.LittleEndian.PutUint32(ctx[skbGSOSegs:], segs)
		binary.LittleEndian.PutUint32(ctx[176:], segSize) // gso_size
		opts.Context = ctx
	}
	ret, err := prog.Run(opts)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	return ret, opts.DataOut[:len(frame)]
}

const tcActRedirect = 7

func TestFlowTCProgram(t *testing.T) {
	env := loadProgs(t)
	v4 := testFrame{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, sport: 4000, dport: 5001, tos: 0x2a<<2 | 1, payload: 100}
	v6 := testFrame{src: "2001:db8::1", dst: "2001:db8::2", proto: 6, sport: 4000, dport: 443, tos: 0x2a<<2 | 2, payload: 100}
	keep := testFrame{src: "10.0.0.1", dst: "10.0.0.3", proto: 6, sport: 1, dport: 2, tos: 8 << 2, payload: 10}
	env.add(t, v4.flow(10, true))
	env.add(t, v6.flow(46, true))
	env.add(t, keep.flow(0, false))

	// IPv4: DSCP 42 -> 10, ECN kept, checksum right, nothing else
	// changed, redirected.
	ret, out := env.run(t, env.tc, v4.bytes(), 0, 0)
	if ret != tcActRedirect {
		t.Fatalf("IPv4 flow: verdict %d, want redirect (%d)", ret, tcActRedirect)
	}
	want4 := v4
	want4.tos = 10<<2 | 1
	if w := want4.bytes(); string(out) != string(w) {
		t.Errorf("IPv4 frame after rewrite\n got % x\nwant % x", out[:40], w[:40])
	}
	if s := ipSum(out[14:34]); s != 0 {
		t.Errorf("IPv4 header checksum wrong after rewrite (sum %#x)", s)
	}
	// IPv6: traffic class 42<<2|2 -> 46<<2|2; version and flow label kept.
	in6 := v6.bytes()
	ret, out = env.run(t, env.tc, in6, 0, 0)
	if ret != tcActRedirect {
		t.Fatalf("IPv6 flow: verdict %d, want redirect", ret)
	}
	want6 := v6
	want6.tos = 46<<2 | 2
	if w := want6.bytes(); string(out) != string(w) {
		t.Errorf("IPv6 frame after rewrite\n got % x\nwant % x (traffic class %#x, the rest kept)", out[:40], w[:40], 46<<2|2)
	}
	// Rewrite off: the frame leaves as it came.
	in := keep.bytes()
	ret, out = env.run(t, env.tc, in, 0, 0)
	if ret != tcActRedirect || string(out) != string(in) {
		t.Errorf("flow without rewrite: verdict %d, frame changed %v", ret, string(out) != string(in))
	}

	// Frames the fast path must leave to the pacer.
	frag := v4
	frag.frag = 0x2000 // MF
	tagged := v4
	tagged.tag = true
	ext := v6
	ext.extHdr = true
	otherDSCP := v4
	otherDSCP.tos = 0
	otherPort := v4
	otherPort.sport++
	icmp := v4
	icmp.proto = 1
	for name, f := range map[string]testFrame{
		"IPv4 fragment": frag, "802.1Q-tagged": tagged, "IPv6 extension header": ext,
		"another DSCP": otherDSCP, "another port": otherPort, "ICMP": icmp,
	} {
		if ret, _ := env.run(t, env.tc, f.bytes(), 0, 0); ret != uint32(0xFFFFFFFF) {
			t.Errorf("%s: verdict %d, want TCX_NEXT (-1)", name, int32(ret))
		}
	}

	// Counters: the IPv4 flow once; the IPv6 flow once plus a GSO frame of
	// 3 segments counted with 2 more copies of its 74-byte headers.
	var v fastVal
	k4, k6 := v4.flow(0, false), v6.flow(0, false)
	if err := env.flows.Lookup(keyOf(&k4), &v); err != nil || v.Pkts != 1 || v.Bytes != uint64(len(v4.bytes())) {
		t.Errorf("IPv4 counters %+v (%v), want 1 frame of %d bytes", v, err, len(v4.bytes()))
	}
	env.run(t, env.tc, v6.bytes(), 3, 40)
	if err := env.flows.Lookup(keyOf(&k6), &v); err != nil || v.Pkts != 2 || v.Bytes != uint64(2*len(in6)+2*(14+40+20)) {
		t.Errorf("IPv6 counters %+v (%v), want 2 frames, %d bytes", v, err, 2*len(in6)+2*(14+40+20))
	}
}

func TestReverseTCProgram(t *testing.T) {
	env := loadProgs(t)
	f := testFrame{src: "10.0.0.2", dst: "10.0.0.1", proto: 1, payload: 50}.bytes()
	for range 3 {
		if ret, _ := env.run(t, env.revTC, f, 0, 0); ret != tcActRedirect {
			t.Fatalf("reverse: verdict %d, want redirect", ret)
		}
	}
	var v revVal
	if err := env.rev.Lookup(uint32(0), &v); err != nil || v.Pkts != 3 || v.Bytes != uint64(3*len(f)) {
		t.Errorf("reverse counters %+v (%v), want 3 frames, %d bytes", v, err, 3*len(f))
	}
}

// sockFrame is frame as a test run of a socket filter needs it: the run
// pulls an Ethernet header (setting the skb's protocol from it) and a
// packet socket's filter sees the frame from its Ethernet header, so the
// header goes in twice.
func sockFrame(frame []byte) []byte {
	return append(append([]byte(nil), frame[:ethHdrLen]...), frame...)
}

// verdictOf returns the verdict entry of the CPU the test runs on.
func (e *progEnv) verdictOf(t *testing.T, cpu int) (fastKey, uint32) {
	t.Helper()
	var all [][]byte
	if err := e.verdicts.Lookup(uint32(0), &all); err != nil {
		t.Fatal(err)
	}
	var k fastKey
	copy(k[:], all[cpu][verdictKey:])
	return k, binary.LittleEndian.Uint32(all[cpu][verdictState:])
}

// TestHandoverVerdict: the tc program follows the socket filter's verdict
// on the frame it just judged, so a flow entering the map between the two
// programs' runs leaves the frame to exactly one path (the race that sent
// a frame twice at a flow's handover to the fast path).
func TestHandoverVerdict(t *testing.T) {
	env := loadProgs(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	f := testFrame{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, sport: 4000, dport: 5001, tos: 46 << 2, payload: 100}
	ff := f.flow(46, false)
	key := keyOf(&ff)
	sockRun := func() uint32 {
		ret, err := env.sock.Run(&ebpf.RunOptions{Data: sockFrame(f.bytes())})
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}
	const keep = uint32(0xFFFFFFFF)

	// The socket keeps the frame (no flow yet); the flow enters the map;
	// the tc program must not redirect the frame the pacer already has.
	if ret := sockRun(); ret != keep {
		t.Fatalf("socket filter, flow not in the map: %d, want keep", ret)
	}
	if k, st := env.verdictOf(t, 0); k != key || st != verdictKept {
		t.Fatalf("verdict after a kept frame: state %d, key match %v; want kept (%d) for the frame's key", st, k == key, verdictKept)
	}
	env.add(t, ff)
	if ret, _ := env.run(t, env.tc, f.bytes(), 0, 0); ret != keep {
		t.Fatalf("tc after the socket kept the frame: verdict %d, want TCX_NEXT: the pacer forwards it", int32(ret))
	}
	if _, st := env.verdictOf(t, 0); st != 0 {
		t.Fatalf("verdict state %d after the tc program read it, want 0 (consumed)", st)
	}
	// The next frame: the socket drops it, the tc program redirects it.
	if ret := sockRun(); ret != 0 {
		t.Fatalf("socket filter, flow in the map: %d, want drop (0)", ret)
	}
	if _, st := env.verdictOf(t, 0); st != verdictDropped {
		t.Fatalf("verdict after a dropped frame: state %d, want %d", st, verdictDropped)
	}
	if ret, _ := env.run(t, env.tc, f.bytes(), 0, 0); ret != tcActRedirect {
		t.Fatalf("tc after the socket dropped the frame: verdict %d, want redirect", ret)
	}
	// A frame the socket did not judge (no verdict for its key): the map
	// decides.
	if ret, _ := env.run(t, env.tc, f.bytes(), 0, 0); ret != tcActRedirect {
		t.Fatalf("tc without a verdict: %d, want redirect (flow in the map)", ret)
	}
	// A verdict left for another flow's frame is not followed.
	other := f
	other.sport++
	if ret := sockRun(); ret != 0 {
		t.Fatal("socket filter: want drop")
	}
	if ret, _ := env.run(t, env.tc, other.bytes(), 0, 0); ret != keep {
		t.Fatalf("tc, another flow's verdict pending: %d, want TCX_NEXT (not in the map)", int32(ret))
	}
}
