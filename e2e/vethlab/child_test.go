package vethlab

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestChildOutlivesThread forks from a goroutine that ends locked to its
// thread, as the lab's namespace and realtime goroutines do, so the runtime
// discards the thread. A plain exec.Cmd with Pdeathsig started there is
// killed (the hazard, checked so the test cannot pass vacuously); a Child
// is not.
func TestChildOutlivesThread(t *testing.T) {
	forkOnDoomedThread := func(start func() (func() bool, func())) (alive func() bool, kill func()) {
		for alive == nil {
			done := make(chan struct{})
			go func() {
				defer close(done)
				runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
				// The runtime parks the main thread instead of ending it;
				// try again on another.
				if unix.Gettid() != unix.Getpid() {
					alive, kill = start()
				}
			}()
			<-done
		}
		return alive, kill
	}

	plainAlive, plainKill := forkOnDoomedThread(func() (func() bool, func()) {
		cmd := exec.Command("sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Error(err)
			return func() bool { return false }, func() {}
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		return func() bool {
				select {
				case <-exited:
					return false
				case <-time.After(500 * time.Millisecond):
					return true
				}
			}, func() {
				_ = cmd.Process.Kill()
				<-exited
			}
	})
	defer plainKill()
	if plainAlive() {
		t.Fatal("a child forked on a thread that exited survived: the hazard this test guards against did not occur")
	}

	var c *Child
	childAlive, _ := forkOnDoomedThread(func() (func() bool, func()) {
		var err error
		if c, err = startChild(exec.Command("sleep", "30"), syscall.SIGKILL); err != nil {
			t.Error(err)
			return func() bool { return false }, func() {}
		}
		return func() bool {
			select {
			case <-c.Done():
				return false
			case <-time.After(500 * time.Millisecond):
				return true
			}
		}, nil
	})
	if c == nil {
		t.FailNow()
	}
	defer func() {
		_ = c.Signal(syscall.SIGKILL)
		_ = c.Wait()
	}()
	if !childAlive() {
		t.Fatalf("Child was killed when the thread that asked for it exited: %v", c.Wait())
	}
}
