package kubelab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// process is one child program of the lab (etcd or kube-apiserver), its
// standard output and error appended to a log file.
//
// It is killed with SIGKILL when the test process dies. Linux sends that
// parent-death signal (prctl PR_SET_PDEATHSIG) when the thread that forked
// the child exits, not when the process does, and Go may end a thread at
// any time (a goroutine that returns while locked to its thread takes the
// thread with it; package vethlab's tests do that when entering a network
// namespace). So the child is forked from a goroutine that locks its own
// OS thread and keeps it, blocked in Wait, until the child exits: the thread
// outlives the child and the signal comes only with the test process's
// death.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the child has exited
	err     error         // what Wait returned; read only after done
}

// childEnv is the environment of the children: the test's, less variables
// that would change what etcd or kube-apiserver do (ETCD_* are etcd flags;
// KUBECONFIG is not theirs to read).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startProcess starts path with args, its output appended to logPath.
func startProcess(name, path string, args []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	fmt.Fprintf(logf, "=== %s %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))
	cmd := exec.Command(path, args...)
	cmd.Env = childEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}

	started := make(chan error, 1)
	go func() {
		// Never unlocked: the thread must stay until Wait returns, and a
		// goroutine that exits locked ends its thread, which is harmless
		// once the child is gone.
		runtime.LockOSThread()
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, path, err)
	}
	return p, nil
}

// exited reports whether the child has exited, and if so how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM, waits up to grace for the child to exit, then sends
// SIGKILL and waits for it. It returns when the child is gone; the error is
// nil when the child exited on its own or from SIGTERM.
func (p *process) stop(grace time.Duration) error {
	if done, _ := p.exited(); done {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: SIGTERM: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s: did not exit within %v of SIGTERM; killed", p.name, grace)
}

// logTail returns the last n lines of the child's log, for error messages.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", p.logPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
