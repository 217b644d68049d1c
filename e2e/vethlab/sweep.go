package vethlab

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// labNetns matches the namespaces New makes: "<prefix>-<pid>-<n>-<role>".
var labNetns = regexp.MustCompile(`^(.+)-([0-9]+)-([0-9]+)-(app|pacer|peer)$`)

// sweepStale deletes the lab namespaces of processes that no longer run: a
// run killed with SIGKILL (a CI timeout, a helper's kill -9) cannot close
// its labs, so the next lab removes them. A namespace whose process is
// alive, or that is not named like a lab's, is left alone. Errors are
// ignored: a namespace another sweep removed first is gone either way.
func sweepStale(ctx context.Context) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := labNetns.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[2])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_, _ = run(ctx, "ip", "netns", "del", name)
	}
}

// processAlive reports whether a process with pid exists (signal 0; EPERM
// means it exists under another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
