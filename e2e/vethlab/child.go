package vethlab

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Child is a long-lived process the lab started, killed with sig when the
// test process dies (a killed run leaves no pacer or iperf3 server behind).
//
// The kernel sends that parent-death signal when the OS thread that forked
// the child exits, not the process (prctl(2) PR_SET_PDEATHSIG), and the lab
// ends threads: a goroutine that entered a namespace or went realtime
// returns locked, so the Go runtime discards its thread. A child forked on
// such a thread would be signalled mid-run. startChild therefore forks from
// a goroutine locked to a thread of its own, which stays until the child has
// exited.
type Child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startChild starts cmd as a Child killed with sig when the test process
// dies.
func startChild(cmd *exec.Cmd, sig syscall.Signal) (*Child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
	c := &Child{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to the child.
func (c *Child) Signal(sig syscall.Signal) error { return c.cmd.Process.Signal(sig) }

// Done is closed once the child has exited and its output is collected.
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait waits for the child to exit and returns what exec.Cmd.Wait returned.
func (c *Child) Wait() error {
	<-c.done
	return c.err
}
