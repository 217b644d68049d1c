package datapath

import (
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// openGuard creates the bump's liveness word (dead until the shaping loop's
// first beat).
func (b *Bump) openGuard() error {
	g, err := newGuard(b.opts.LiveGrace)
	if err != nil {
		return fmt.Errorf("pacer datapath: %w", err)
	}
	b.guard = g
	return nil
}

// liveFilter attaches liveSockProg to the receive socket fd. The socket
// holds the program; the descriptor here is closed.
func (b *Bump) liveFilter(fd int) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "qp_live_sock", Type: ebpf.SocketFilter, Instructions: liveSockProg(b.guard.fd()), License: "Dual MIT/GPL",
	})
	if err != nil {
		return fmt.Errorf("pacer datapath: load qp_live_sock: %+v", err)
	}
	defer prog.Close()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog.FD()); err != nil {
		return fmt.Errorf("pacer datapath: attach liveness socket filter: %w", err)
	}
	return nil
}

// LiveFD is the liveness map's descriptor, for the kernel programs that fail
// open when the pacer is dead (steering, bypass); -1 for an unshaped bump.
// It stays valid until Stop.
func (b *Bump) LiveFD() int {
	if b.guard == nil {
		return -1
	}
	return b.guard.fd()
}

// Alive reports whether the shaping loop's last beat is still within the
// grace, as the kernel programs see it.
func (b *Bump) Alive() bool {
	if b.guard == nil {
		return false
	}
	return b.guard.alive()
}
