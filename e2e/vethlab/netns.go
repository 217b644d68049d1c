package vethlab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"github.com/vishvananda/netns"
)

// Netns is a named network namespace made by the lab.
type Netns struct {
	Name string
}

// newNetns creates the namespace name with `ip netns add`.
func newNetns(ctx context.Context, name string) (*Netns, error) {
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return nil, err
	}
	return &Netns{Name: name}, nil
}

// delete removes the namespace; processes still inside keep it alive until
// they exit.
func (n *Netns) delete() error {
	_, err := run(context.Background(), "ip", "netns", "del", n.Name)
	return err
}

// Run runs a command inside the namespace and returns its combined output.
func (n *Netns) Run(ctx context.Context, name string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Start starts a command inside the namespace as a Child that is killed
// when the test process dies; stdout, when not nil, receives its output.
// ctx kills it early.
func (n *Netns) Start(ctx context.Context, stdout io.Writer, name string, args ...string) (*Child, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.Stdout = stdout
	return startChild(cmd, syscall.SIGKILL)
}

// Sysctl writes value to /proc/sys/<key> (key with slashes) as seen from
// inside the namespace.
func (n *Netns) Sysctl(key, value string) error {
	return n.Do(func() error {
		if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
			return fmt.Errorf("netns %q: sysctl %s: %w", n.Name, key, err)
		}
		return nil
	})
}

// Do calls f on an OS thread that has entered the namespace, then returns
// the thread to the caller's namespace. Sockets opened inside f stay in the
// namespace for their whole life, so f is the place to open them.
func (n *Netns) Do(f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %q: current namespace: %w", n.Name, err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %q: %w", n.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %q: enter: %w", n.Name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: keep it locked so that
		// the runtime ends it with this goroutine.
		return fmt.Errorf("netns %q: leave: %w", n.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// run executes a command and returns its output; the error carries the
// command line and its output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
