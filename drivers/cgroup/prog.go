package cgroup

import (
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// The socket programs, written as instructions. They run when a socket is
// created, connects, or (unconnected UDP only) sends, never per packet.
//
// Each walks the calling task's cgroup ancestry at the levels where policy
// cgroups can be (the depths of the patterns, deepest first) and looks each
// ancestor's id up in the classes map (cgroup id -> entry). The first entry
// with a rule matching the socket's protocol (and, where known, its
// destination port) decides: a deeper cgroup wins over its ancestors, and
// within an entry the rules are ordered most specific first. A socket of a
// task under no policy cgroup costs the walk and nothing else.
//
//   - create (cgroup/sock_create, v4 and v6): writes the socket's
//     priority for rules without a port (the destination is not known yet)
//     and counts the socket for that rule's flow. The kernel does not allow
//     bpf_setsockopt there, so the DSCP waits for connect or sendmsg.
//   - bind (cgroup/bind4, bind6): as connect, for rules without a port,
//     so that a socket bound before it sends (a server, or any UDP socket
//     Go opens) carries the DSCP from its first datagram.
//   - connect (cgroup/connect4, connect6): sets IP_TOS / IPV6_TCLASS
//     and then SO_PRIORITY (IP_TOS also rewrites the priority, so the order
//     matters) with bpf_setsockopt; counts the socket when the rule has a
//     port (a port-less rule was counted at creation).
//   - sendmsg (cgroup/sendmsg4, sendmsg6; unconnected UDP): marks a socket
//     that create classified (its priority is non-zero) and whose TOS is
//     still 0. Its cost per send is a context load for sockets we did not
//     classify, and a getsockopt for those we did. When a rule marks with
//     priority 0 the priority cannot tell, and every unconnected send in
//     the subtree pays the getsockopt (and the walk while its TOS is 0).
//     The datagram of that first send still leaves with TOS 0: udp_sendmsg
//     reads the TOS before the hook runs. So a UDP socket that neither
//     binds nor connects is marked from its second datagram on. (An
//     lsm_cgroup socket_post_create program could set the TOS at creation,
//     but this kernel refuses LSM and tracing program loads with EPERM.)

// Layout of a classes-map entry: maxRules rules of ruleSize bytes each,
// packed from the first; a rule whose used byte is 0 ends the list.
const (
	maxRules  = 4
	ruleSize  = 16
	entrySize = maxRules * ruleSize

	offProto  = 0  // u8, 0 matches any protocol
	offUsed   = 1  // u8, 1 for a rule
	offPortLo = 2  // u16 host order, 0 matches any destination port
	offPortHi = 4  // u16 host order
	offTOS    = 6  // u8, DSCP<<2
	offPrio   = 8  // u32, the socket priority
	offFlow   = 12 // u32, index into the counters map
)

// bpf_sock and bpf_sock_addr offsets (include/uapi/linux/bpf.h).
const (
	sockProtocol     = 12 // bpf_sock.protocol
	sockPriority     = 20 // bpf_sock.priority (writable at sock_create)
	sockAddrUserPort = 24 // bpf_sock_addr.user_port, network order
	sockAddrProtocol = 36 // bpf_sock_addr.protocol
	sockAddrSk       = 64 // bpf_sock_addr.sk
)

// Socket option levels and names for bpf_setsockopt.
const (
	solSocket  = 1  // SOL_SOCKET
	soPriority = 12 // SO_PRIORITY
	solIP      = 0  // SOL_IP
	ipTOS      = 1  // IP_TOS
	solIPv6    = 41 // SOL_IPV6
	ipv6TClass = 67 // IPV6_TCLASS
)

// Stack slots.
const (
	stackKey = -8  // u64 cgroup id, the classes map key
	stackIdx = -16 // u32 flow index, the counters map key
	stackOpt = -24 // u32 setsockopt/getsockopt value
)

// hook is one program kind.
type hook int

const (
	hookCreate hook = iota
	hookConnect
	hookSendmsg
	hookBind
)

// family is 4 or 6: which socket options carry the DSCP.
func tosOption(family int) (level, name int32) {
	if family == 6 {
		return solIPv6, ipv6TClass
	}
	return solIP, ipTOS
}

// classify emits the ancestry walk. On entry R6 is the context, R8 the
// socket's protocol and R9 its destination port in host order (0 when
// unknown, which skips rules with a port). On a match it jumps to "apply"
// with R7 pointing at the rule; after the last level it falls through.
// levels are cgroup depths, deepest first.
func classify(classesFD int, levels []int) asm.Instructions {
	var p asm.Instructions
	for li, level := range levels {
		next := fmt.Sprintf("level%d", li+1)
		here := fmt.Sprintf("level%d", li)
		p = append(p,
			asm.Mov.Imm(asm.R1, int32(level)).WithSymbol(here),
			asm.FnGetCurrentAncestorCgroupId.Call(),
			asm.JEq.Imm(asm.R0, 0, next),
			asm.StoreMem(asm.R10, stackKey, asm.R0, asm.DWord),
			asm.LoadMapPtr(asm.R1, classesFD),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, stackKey),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, next),
		)
		for ri := range maxRules {
			off := int16(ri * ruleSize)
			skip := fmt.Sprintf("l%dr%d", li, ri+1)
			if ri == maxRules-1 {
				skip = next
			}
			p = append(p,
				asm.LoadMem(asm.R1, asm.R0, off+offUsed, asm.Byte),
				asm.JEq.Imm(asm.R1, 0, next),
				asm.LoadMem(asm.R1, asm.R0, off+offProto, asm.Byte),
				asm.JEq.Imm(asm.R1, 0, fmt.Sprintf("l%dr%dport", li, ri)),
				asm.JNE.Reg(asm.R1, asm.R8, skip),
				asm.LoadMem(asm.R2, asm.R0, off+offPortLo, asm.Half).WithSymbol(fmt.Sprintf("l%dr%dport", li, ri)),
				asm.JEq.Imm(asm.R2, 0, fmt.Sprintf("l%dr%dhit", li, ri)),
				asm.JGT.Reg(asm.R2, asm.R9, skip), // also skips when the port is unknown (0)
				asm.LoadMem(asm.R3, asm.R0, off+offPortHi, asm.Half),
				asm.JGT.Reg(asm.R9, asm.R3, skip),
				asm.Mov.Reg(asm.R7, asm.R0).WithSymbol(fmt.Sprintf("l%dr%dhit", li, ri)),
				asm.Add.Imm(asm.R7, int32(off)),
				asm.Ja.Label("apply"),
			)
			if ri < maxRules-1 {
				// The next rule's first instruction carries the skip label.
				p = append(p, asm.Mov.Imm(asm.R1, 0).WithSymbol(skip))
			}
		}
	}
	return append(p, asm.Mov.Imm(asm.R0, 1).WithSymbol(fmt.Sprintf("level%d", len(levels))), asm.Return())
}

// count emits counters[rule.flow] += 1; R7 is the rule. Clobbers R0-R5.
func count(countersFD int) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, offFlow, asm.Word),
		asm.StoreMem(asm.R10, stackIdx, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, countersFD),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackIdx),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "counted"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("counted"),
		asm.Return(),
	}
}

// createProg is the cgroup/sock_create program.
func createProg(classesFD, countersFD int, levels []int) asm.Instructions {
	p := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R8, asm.R6, sockProtocol, asm.Word),
		asm.Mov.Imm(asm.R9, 0),
	}
	p = append(p, classify(classesFD, levels)...)
	p = append(p,
		asm.LoadMem(asm.R1, asm.R7, offPrio, asm.Word).WithSymbol("apply"),
		asm.StoreMem(asm.R6, sockPriority, asm.R1, asm.Word),
	)
	return append(p, count(countersFD)...)
}

// setsockopt emits bpf_setsockopt(ctx, level, name, &value, 4) with value
// loaded from the rule (R7) at off with size sz. Clobbers R0-R5.
func setsockopt(level, name int32, off int16, sz asm.Size) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R7, off, sz),
		asm.StoreMem(asm.R10, stackOpt, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, level),
		asm.Mov.Imm(asm.R3, name),
		asm.Mov.Reg(asm.R4, asm.R10),
		asm.Add.Imm(asm.R4, stackOpt),
		asm.Mov.Imm(asm.R5, 4),
		asm.FnSetsockopt.Call(),
	}
}

// addrProg is the cgroup/bind{4,6} (h == hookBind), connect{4,6}
// (hookConnect) or sendmsg{4,6} (hookSendmsg) program. A sendmsg program
// goes on only for sockets create gave a priority, unless zeroPrio (some
// rule marks with priority 0, so the priority tells nothing).
func addrProg(h hook, family, classesFD, countersFD int, c progConfig) asm.Instructions {
	level, name := tosOption(family)
	p := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if h == hookSendmsg {
		if !c.zeroPrio {
			p = append(p,
				// Only sockets classified at creation.
				asm.LoadMem(asm.R1, asm.R6, sockAddrSk, asm.DWord),
				asm.LoadMem(asm.R1, asm.R1, sockPriority, asm.Word),
				asm.JEq.Imm(asm.R1, 0, "pass"),
			)
		}
		p = append(p,
			// Only until marked.
			asm.StoreImm(asm.R10, stackOpt, 0, asm.Word),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, level),
			asm.Mov.Imm(asm.R3, name),
			asm.Mov.Reg(asm.R4, asm.R10),
			asm.Add.Imm(asm.R4, stackOpt),
			asm.Mov.Imm(asm.R5, 4),
			asm.FnGetsockopt.Call(),
			asm.JNE.Imm(asm.R0, 0, "pass"),
			asm.LoadMem(asm.R1, asm.R10, stackOpt, asm.Word),
			asm.JNE.Imm(asm.R1, 0, "pass"),
		)
	}
	p = append(p, asm.LoadMem(asm.R8, asm.R6, sockAddrProtocol, asm.Word))
	if h == hookBind {
		// The port bound is the local one: only port-less rules apply.
		p = append(p, asm.Mov.Imm(asm.R9, 0))
	} else {
		p = append(p,
			asm.LoadMem(asm.R9, asm.R6, sockAddrUserPort, asm.Word),
			asm.HostTo(asm.BE, asm.R9, asm.Half),
			asm.And.Imm(asm.R9, 0xffff),
		)
	}
	p = append(p, classify(classesFD, c.levels)...)
	apply := setsockopt(level, name, offTOS, asm.Byte)
	apply[0] = apply[0].WithSymbol("apply")
	p = append(p, apply...)
	p = append(p, setsockopt(solSocket, soPriority, offPrio, asm.Word)...)
	if h == hookConnect {
		// Port-less rules were counted when the socket was created.
		p = append(p,
			asm.LoadMem(asm.R1, asm.R7, offPortLo, asm.Half),
			asm.JEq.Imm(asm.R1, 0, "pass"),
		)
		p = append(p, count(countersFD)...)
	}
	return append(p, asm.Mov.Imm(asm.R0, 1).WithSymbol("pass"), asm.Return())
}

// progKind is one program and where it attaches.
type progKind struct {
	name   string
	typ    ebpf.ProgramType
	attach ebpf.AttachType
	hook   hook
	family int
}

// progKinds are the programs the driver attaches, in attach order.
var progKinds = []progKind{
	{"qp_sock_create", ebpf.CGroupSock, ebpf.AttachCGroupInetSockCreate, hookCreate, 0},
	{"qp_bind4", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Bind, hookBind, 4},
	{"qp_bind6", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Bind, hookBind, 6},
	{"qp_connect4", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Connect, hookConnect, 4},
	{"qp_connect6", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Connect, hookConnect, 6},
	{"qp_sendmsg4", ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP4Sendmsg, hookSendmsg, 4},
	{"qp_sendmsg6", ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP6Sendmsg, hookSendmsg, 6},
}

// progConfig is what the programs are built for.
type progConfig struct {
	levels   []int // cgroup depths of the rules, deepest first
	zeroPrio bool  // some rule sets priority 0 with a DSCP
}

func (c progConfig) equal(o progConfig) bool {
	return c.zeroPrio == o.zeroPrio && slices.Equal(c.levels, o.levels)
}

// load builds and loads k's program for the given maps and configuration.
func (k progKind) load(classes, counters *ebpf.Map, c progConfig) (*ebpf.Program, error) {
	var insns asm.Instructions
	if k.hook == hookCreate {
		insns = createProg(classes.FD(), counters.FD(), c.levels)
	} else {
		insns = addrProg(k.hook, k.family, classes.FD(), counters.FD(), c)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: k.name, Type: k.typ, AttachType: k.attach, Instructions: insns, License: "GPL",
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", k.name, err)
	}
	return prog, nil
}
