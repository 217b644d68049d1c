package datapath

import (
	"github.com/cilium/ebpf/asm"
)

// The fail-open programs, written as instructions like the fast path's.
// Each reads the guard's deadline (guard.go) with a direct map value load
// and compares it with bpf_ktime_get_ns; "alive" means now <= deadline.
//
//   - steerProg, the egress hook of the host's interface (attach mode):
//     alive, redirect the frame into the pacer's veth; dead, go on
//     unchanged (TC_ACT_UNSPEC, which is also TCX_NEXT).
//   - bypassProg, the ingress hook of each bridge interface (bridge mode,
//     on-failure bypass): alive, go on (the pacer's packet socket has the
//     frame); dead, redirect it to the other interface's egress.
//   - liveSockProg, the pacer's receive sockets: alive, keep the frame;
//     dead, drop it, so that a pacer that was stopped (SIGSTOP) does not
//     replay what the kernel forwarded meanwhile.

const tcActUnspec = -1 // TC_ACT_UNSPEC: go on to the next filter (TCX_NEXT too)

// aliveCheck emits R8 = deadline, R0 = now and a jump to dead when the
// pacer is dead. It clobbers R0-R5, R7 and R8.
func aliveCheck(liveFD int, dead string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapValue(asm.R7, liveFD, 0),
		asm.LoadMem(asm.R8, asm.R7, 0, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.JGT.Reg(asm.R0, asm.R8, dead),
	}
}

// steerProg redirects to redirIfindex's egress while the pacer is alive.
func steerProg(liveFD, redirIfindex int) asm.Instructions {
	p := aliveCheck(liveFD, "open")
	return append(p,
		asm.Mov.Imm(asm.R1, int32(redirIfindex)),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcActUnspec).WithSymbol("open"),
		asm.Return(),
	)
}

// bypassProg redirects to peerIfindex's egress while the pacer is dead.
func bypassProg(liveFD, peerIfindex int) asm.Instructions {
	p := aliveCheck(liveFD, "bypass")
	return append(p,
		asm.Mov.Imm(asm.R0, tcActUnspec),
		asm.Return(),
		asm.Mov.Imm(asm.R1, int32(peerIfindex)).WithSymbol("bypass"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
	)
}

// liveSockProg keeps every frame while the pacer is alive and drops every
// frame while it is dead.
func liveSockProg(liveFD int) asm.Instructions {
	p := aliveCheck(liveFD, "dead")
	return append(p,
		asm.Mov.Imm(asm.R0, sockKeepAll),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("dead"),
		asm.Return(),
	)
}

// liveSockPrefix is liveSockProg's check in front of another socket filter:
// it drops the frame while the pacer is dead and leaves R1 (the skb) as it
// found it. liveFD < 0 emits nothing.
func liveSockPrefix(liveFD int) asm.Instructions {
	if liveFD < 0 {
		return nil
	}
	p := asm.Instructions{asm.Mov.Reg(asm.R9, asm.R1)}
	p = append(p, aliveCheck(liveFD, "dead")...)
	return append(p,
		asm.Ja.Label("alive"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("dead"),
		asm.Return(),
		asm.Mov.Reg(asm.R1, asm.R9).WithSymbol("alive"),
	)
}
