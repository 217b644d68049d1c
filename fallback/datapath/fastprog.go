package datapath

import (
	"github.com/cilium/ebpf/asm"
)

// The fast path's BPF programs, written as instructions so that building
// qosplane needs no C compiler. Three programs share one flow parser:
//
//   - flowTC, tcx ingress of In: a frame of a flow in the flow map is
//     counted, its DSCP rewritten if the flow says so, and redirected to
//     Out's egress; any other frame goes on (TCX_NEXT) to the pacer's
//     receive socket.
//   - flowSock, the socket filter of In's receive socket: it drops the
//     frames flowTC will redirect. (Packet sockets bound to every protocol
//     see a frame before tc ingress does, so without it both would
//     forward the frame.) It leaves its verdict for flowTC in the verdict
//     map, see below.
//   - reverseTC, tcx ingress of Out: every frame is counted and redirected
//     to In's egress (the reverse direction is never shaped).
//
// Both flow programs read the frame with bpf_skb_load_bytes (linear or
// not) and decide from the same bytes, so they agree on every frame. They
// take only untagged IPv4 and IPv6 frames (no 802.1Q tag in the frame or
// in the skb) that are not fragments, carrying TCP or UDP directly (no
// IPv6 extension header); everything else is the pacer's.

// The verdict map is a per-CPU array of one entry in which flowSock leaves
// the key of the frame it judged and whether it dropped it. flowTC, which
// runs next for that frame on that CPU (__netif_receive_skb_core delivers
// to the taps, then runs tc ingress, with bottom halves off in between),
// follows that verdict instead of reading the flow map a second time, and
// clears it. Reading the map twice let a flow inserted between the two
// reads be both kept by the socket and redirected: the frame left twice.
// A frame the socket filter did not judge (a live-check drop) finds no
// verdict for its key and is decided by the flow map alone.
const (
	verdictKey     = 0  // fastKeyLen bytes: the judged frame's flow key
	verdictState   = 40 // u32: 0 none (or consumed), verdictDropped, verdictKept
	verdictLen     = 48
	verdictDropped = 1
	verdictKept    = 2
)

// The flow map's key, in bytes: the layout fastKey encodes.
const (
	keySrc     = 0  // 16 bytes, IPv4 in the first 4, the rest 0
	keyDst     = 16 // 16 bytes
	keySport   = 32 // 2 bytes, network order
	keyDport   = 34 // 2 bytes, network order
	keyProto   = 36
	keyDSCP    = 37
	keyFamily  = 38 // 4 or 6
	fastKeyLen = 40
)

// The flow map's value: counters the program adds to and what it writes.
const (
	valPkts     = 0  // u64, frames forwarded
	valBytes    = 8  // u64, L2 bytes, every GSO segment with its headers
	valMark     = 16 // u8, DSCP to write
	valRewrite  = 17 // u8, 1 to write valMark
	fastValLen  = 24
	revValLen   = 16 // the reverse counters: frames, bytes (skb->len)
	ethHdrLen   = 14
	tcxNext     = -1 // TCX_NEXT: not ours, go on
	tcActShot   = 2  // TC_ACT_SHOT
	sockKeepAll = -1 // a socket filter's "keep the whole frame"
)

// Offsets in struct __sk_buff.
const (
	skbLen         = 0
	skbProtocol    = 16 // ethertype, network order
	skbVlanPresent = 20
	skbGSOSegs     = 164
)

// Stack layout (offsets from the frame pointer).
const (
	stKey = -fastKeyLen // the key being built
	stHdr = -104        // 64 bytes: the IP header as loaded
	stSeg = -112        // GSO segment count
	stTmp = -120        // bytes to store into the frame
	stIdx = -124        // u32 0: the verdict map's key
)

// Ethertypes as the 32-bit load of skb->protocol (network order) reads on
// a little-endian machine. (BPF has the host's byte order; qosplane's
// datapath is built for little-endian Linux.)
const (
	protoIPv4LE = 0x0008
	protoIPv6LE = 0xDD86
)

// parseFlow emits the parser: R6 = skb, the key at stKey, R7 = offset of
// the L4 header; frames it does not take jump to "slow".
func parseFlow() asm.Instructions {
	p := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R0, 0),
		asm.StoreMem(asm.RFP, stKey, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+8, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+16, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+24, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+32, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R6, skbVlanPresent, asm.Word),
		asm.JNE.Imm(asm.R0, 0, "slow"),
		asm.LoadMem(asm.R0, asm.R6, skbProtocol, asm.Word),
		asm.JEq.Imm(asm.R0, protoIPv4LE, "v4"),
		asm.JEq.Imm(asm.R0, protoIPv6LE, "v6"),
		asm.Ja.Label("slow"),
	}
	// IPv4: a 20-byte header, version 4, IHL >= 5, not a fragment.
	p = append(p, labelled("v4", skbBytes(asm.FnSkbLoadBytes, offImm(ethHdrLen), stHdr, 20))...)
	p = append(p, asm.JNE.Imm(asm.R0, 0, "slow"))
	p = append(p, ipVersion(4)...)
	p = append(p,
		asm.And.Imm(asm.R0, 0x0F),
		asm.LSh.Imm(asm.R0, 2),
		asm.JLT.Imm(asm.R0, 20, "slow"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.Add.Imm(asm.R7, ethHdrLen),
		// Flags and fragment offset, loaded little-endian: MF and the
		// offset (0x3FFF in network order) are the bits 0xFF3F.
		asm.LoadMem(asm.R1, asm.RFP, stHdr+6, asm.Half),
		asm.And.Imm(asm.R1, 0xFF3F),
		asm.JNE.Imm(asm.R1, 0, "slow"),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+9, asm.Byte),
		asm.StoreMem(asm.RFP, stKey+keyProto, asm.R1, asm.Byte),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+1, asm.Byte),
		asm.RSh.Imm(asm.R1, 2),
		asm.StoreMem(asm.RFP, stKey+keyDSCP, asm.R1, asm.Byte),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+12, asm.Word),
		asm.StoreMem(asm.RFP, stKey+keySrc, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+16, asm.Word),
		asm.StoreMem(asm.RFP, stKey+keyDst, asm.R1, asm.Word),
		asm.StoreImm(asm.RFP, stKey+keyFamily, 4, asm.Byte),
		asm.Ja.Label("l4"),
	)
	// IPv6: a 40-byte header, version 6, TCP or UDP next.
	p = append(p, labelled("v6", skbBytes(asm.FnSkbLoadBytes, offImm(ethHdrLen), stHdr, 40))...)
	p = append(p, asm.JNE.Imm(asm.R0, 0, "slow"))
	p = append(p, ipVersion(6)...)
	p = append(p,
		// DSCP: the traffic class's top six bits, the low nibble of byte 0
		// and the top two bits of byte 1.
		asm.And.Imm(asm.R0, 0x0F),
		asm.LSh.Imm(asm.R0, 2),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+1, asm.Byte),
		asm.RSh.Imm(asm.R1, 6),
		asm.Or.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.RFP, stKey+keyDSCP, asm.R0, asm.Byte),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+6, asm.Byte),
		asm.StoreMem(asm.RFP, stKey+keyProto, asm.R1, asm.Byte),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+8, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+keySrc, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+16, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+keySrc+8, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+24, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+keyDst, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, stHdr+32, asm.DWord),
		asm.StoreMem(asm.RFP, stKey+keyDst+8, asm.R1, asm.DWord),
		asm.StoreImm(asm.RFP, stKey+keyFamily, 6, asm.Byte),
		asm.Mov.Imm(asm.R7, ethHdrLen+40),

		// TCP or UDP: the ports straight into the key.
		asm.LoadMem(asm.R1, asm.RFP, stKey+keyProto, asm.Byte).WithSymbol("l4"),
		asm.JEq.Imm(asm.R1, 6, "ports"),
		asm.JEq.Imm(asm.R1, 17, "ports"),
		asm.Ja.Label("slow"),
	)
	p = append(p, labelled("ports", skbBytes(asm.FnSkbLoadBytes, offReg(asm.R7, 0), stKey+keySport, 4))...)
	return append(p, asm.JNE.Imm(asm.R0, 0, "slow"))
}

// skbBytes emits fn(R6, off, fp+stackOff, n) for fn bpf_skb_load_bytes
// or bpf_skb_store_bytes (flags 0), with setOff putting the frame offset in
// R2 (offImm, offReg); R0 is 0 on success.
func skbBytes(fn asm.BuiltinFunc, setOff asm.Instructions, stackOff int16, n int32) asm.Instructions {
	p := asm.Instructions{asm.Mov.Reg(asm.R1, asm.R6)}
	p = append(p, setOff...)
	p = append(p,
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, int32(stackOff)),
		asm.Mov.Imm(asm.R4, n),
	)
	if fn == asm.FnSkbStoreBytes {
		p = append(p, asm.Mov.Imm(asm.R5, 0))
	}
	return append(p, fn.Call())
}

// offImm sets R2 to the frame offset off.
func offImm(off int32) asm.Instructions { return asm.Instructions{asm.Mov.Imm(asm.R2, off)} }

// offReg sets R2 to the frame offset in r plus add.
func offReg(r asm.Register, add int32) asm.Instructions {
	p := asm.Instructions{asm.Mov.Reg(asm.R2, r)}
	if add != 0 {
		p = append(p, asm.Add.Imm(asm.R2, add))
	}
	return p
}

// labelled puts label on the first instruction of p.
func labelled(label string, p asm.Instructions) asm.Instructions {
	p[0] = p[0].WithSymbol(label)
	return p
}

// ipVersion emits R0 = the IP header's first byte (at stHdr) and a jump to
// "slow" unless its version nibble is v.
func ipVersion(v int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R0, asm.RFP, stHdr, asm.Byte),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.RSh.Imm(asm.R1, 4),
		asm.JNE.Imm(asm.R1, v, "slow"),
	}
}

// lookupFlow emits the flow map lookup: R0 = the value, or jump to "slow".
func lookupFlow(flowsFD int) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, flowsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "slow"),
	}
}

// lookupVerdict emits R0 = this CPU's verdict entry, or a jump to miss.
func lookupVerdict(verdictFD int, miss string) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, stIdx, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, verdictFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stIdx),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, miss),
	}
}

// flowSockProg is the socket filter: drop (0) the frames of flows in the
// map, keep the rest whole, and leave the verdict for flowTCProg in the
// verdict map. With liveFD >= 0 it also drops every frame while the pacer
// is dead (liveSockPrefix).
func flowSockProg(flowsFD, verdictFD, liveFD int) asm.Instructions {
	p := append(liveSockPrefix(liveFD), parseFlow()...)
	p = append(p, lookupVerdict(verdictFD, "judge")...)
	p = append(p, asm.Mov.Reg(asm.R8, asm.R0))
	for off := int16(0); off < fastKeyLen; off += 8 {
		p = append(p,
			asm.LoadMem(asm.R1, asm.RFP, stKey+off, asm.DWord),
			asm.StoreMem(asm.R8, verdictKey+off, asm.R1, asm.DWord),
		)
	}
	p = append(p,
		asm.StoreImm(asm.R8, verdictState, verdictKept, asm.Word),
		asm.LoadMapPtr(asm.R1, flowsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "slow"),
		asm.StoreImm(asm.R8, verdictState, verdictDropped, asm.Word),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	// No verdict entry (a per-CPU array's always has one): the map alone.
	p = append(p, labelled("judge", lookupFlow(flowsFD))...)
	return append(p,
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		asm.Mov.Imm(asm.R0, sockKeepAll).WithSymbol("slow"),
		asm.Return(),
	)
}

// followVerdict emits flowTCProg's reading of the socket filter's verdict:
// a frame the socket kept goes to "slow" (the pacer has it); one it dropped,
// or one it did not judge, goes on to the flow map lookup ("lookup"). The
// entry is cleared when it matched.
func followVerdict(verdictFD int) asm.Instructions {
	p := lookupVerdict(verdictFD, "lookup")
	for off := int16(0); off < fastKeyLen; off += 8 {
		p = append(p,
			asm.LoadMem(asm.R1, asm.R0, verdictKey+off, asm.DWord),
			asm.LoadMem(asm.R2, asm.RFP, stKey+off, asm.DWord),
			asm.JNE.Reg(asm.R1, asm.R2, "lookup"),
		)
	}
	return append(p,
		asm.LoadMem(asm.R1, asm.R0, verdictState, asm.Word),
		asm.StoreImm(asm.R0, verdictState, 0, asm.Word),
		asm.JEq.Imm(asm.R1, verdictKept, "slow"),
	)
}

// flowTCProg is the tcx ingress program of In: count, rewrite the DSCP and
// redirect the frames of flows in the map to outIfindex's egress, but not
// a frame the socket filter kept (verdictFD). A frame the socket dropped
// whose flow left the map meanwhile (the sweeper expires idle flows) is
// lost, as neither path has it.
func flowTCProg(flowsFD, verdictFD, outIfindex int) asm.Instructions {
	p := parseFlow()
	p = append(p, followVerdict(verdictFD)...)
	p = append(p, labelled("lookup", lookupFlow(flowsFD))...)
	p = append(p,
		asm.Mov.Reg(asm.R8, asm.R0),
		// Bytes on the wire: a GSO frame leaves as gso_segs segments, each
		// with its own copy of the headers (L2 to the end of TCP or UDP).
		asm.LoadMem(asm.R9, asm.R6, skbLen, asm.Word),
		asm.LoadMem(asm.R1, asm.R6, skbGSOSegs, asm.Word),
		asm.JLE.Imm(asm.R1, 1, "count"),
		asm.StoreMem(asm.RFP, stSeg, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, stKey+keyProto, asm.Byte),
		asm.JNE.Imm(asm.R1, 6, "udphdr"),
	)
	p = append(p, skbBytes(asm.FnSkbLoadBytes, offReg(asm.R7, 12), stTmp, 1)...) // TCP data offset
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, "count"),
		asm.LoadMem(asm.R4, asm.RFP, stTmp, asm.Byte),
		asm.RSh.Imm(asm.R4, 4),
		asm.LSh.Imm(asm.R4, 2),
		asm.Ja.Label("hdrlen"),
		asm.Mov.Imm(asm.R4, 8).WithSymbol("udphdr"),
		asm.Add.Reg(asm.R4, asm.R7).WithSymbol("hdrlen"),
		asm.LoadMem(asm.R1, asm.RFP, stSeg, asm.DWord),
		asm.Sub.Imm(asm.R1, 1),
		asm.Mul.Reg(asm.R1, asm.R4),
		asm.Add.Reg(asm.R9, asm.R1),

		asm.Mov.Imm(asm.R1, 1).WithSymbol("count"),
		asm.StoreXAdd(asm.R8, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Add.Imm(asm.R1, valBytes),
		asm.StoreXAdd(asm.R1, asm.R9, asm.DWord),

		asm.LoadMem(asm.R1, asm.R8, valRewrite, asm.Byte),
		asm.JEq.Imm(asm.R1, 0, "redirect"),
		asm.LoadMem(asm.R3, asm.R8, valMark, asm.Byte),
		asm.LSh.Imm(asm.R3, 2),
		asm.LoadMem(asm.R1, asm.RFP, stKey+keyFamily, asm.Byte),
		asm.JEq.Imm(asm.R1, 6, "mark6"),

		// IPv4: TOS = DSCP<<2 | ECN, the header checksum updated for the
		// first 16-bit word (version/IHL and TOS).
		asm.LoadMem(asm.R5, asm.RFP, stHdr+1, asm.Byte),
		asm.Mov.Reg(asm.R0, asm.R5),
		asm.And.Imm(asm.R5, 3),
		asm.Or.Reg(asm.R3, asm.R5),
		asm.JEq.Reg(asm.R3, asm.R0, "redirect"),
		asm.StoreMem(asm.RFP, stTmp, asm.R3, asm.Byte),
		asm.LoadMem(asm.R4, asm.RFP, stHdr, asm.Half), // old word as in memory
		asm.Mov.Reg(asm.R5, asm.R4),
		asm.And.Imm(asm.R5, 0x00FF),
		asm.LSh.Imm(asm.R3, 8),
		asm.Or.Reg(asm.R5, asm.R3), // new word as in memory
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, ethHdrLen+10),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.Mov.Reg(asm.R4, asm.R5),
		asm.Mov.Imm(asm.R5, 2),
		asm.FnL3CsumReplace.Call(),
		asm.JNE.Imm(asm.R0, 0, "shot"),
	)
	p = append(p, skbBytes(asm.FnSkbStoreBytes, offImm(ethHdrLen+1), stTmp, 1)...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, "shot"),
		asm.Ja.Label("redirect"),

		// IPv6: the traffic class spans the low nibble of byte 0 and the
		// high nibble of byte 1; no checksum covers it.
		asm.LoadMem(asm.R4, asm.RFP, stHdr, asm.Byte).WithSymbol("mark6"),
		asm.LoadMem(asm.R5, asm.RFP, stHdr+1, asm.Byte),
		asm.Mov.Reg(asm.R0, asm.R5),
		asm.RSh.Imm(asm.R0, 4),
		asm.And.Imm(asm.R0, 3),
		asm.Or.Reg(asm.R3, asm.R0), // new traffic class
		asm.Mov.Reg(asm.R0, asm.R3),
		asm.RSh.Imm(asm.R0, 4),
		asm.And.Imm(asm.R4, 0xF0),
		asm.Or.Reg(asm.R4, asm.R0),
		asm.And.Imm(asm.R3, 0x0F),
		asm.LSh.Imm(asm.R3, 4),
		asm.And.Imm(asm.R5, 0x0F),
		asm.Or.Reg(asm.R5, asm.R3),
		asm.StoreMem(asm.RFP, stTmp, asm.R4, asm.Byte),
		asm.StoreMem(asm.RFP, stTmp+1, asm.R5, asm.Byte),
	)
	p = append(p, skbBytes(asm.FnSkbStoreBytes, offImm(ethHdrLen), stTmp, 2)...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, "shot"),

		asm.Mov.Imm(asm.R1, int32(outIfindex)).WithSymbol("redirect"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("slow"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcActShot).WithSymbol("shot"),
		asm.Return(),
	)
	return p
}

// reverseTCProg is the tcx ingress program of Out: count every frame in
// the one-entry array revFD and redirect it to inIfindex's egress.
func reverseTCProg(revFD, inIfindex int) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, revFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "redirect"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word),
		asm.Add.Imm(asm.R0, 8),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R1, int32(inIfindex)).WithSymbol("redirect"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
	}
}
