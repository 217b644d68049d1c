package vethlab

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// labRTPrio is the SCHED_FIFO priority of the generator and receiver
// threads, below the pacer's (10): on a machine shared with other work the
// lab's own traffic must not be what lags.
const labRTPrio = 5

// realtimeThread locks the goroutine to its thread and makes the thread
// SCHED_FIFO. The goroutine must exit without unlocking, so that the
// runtime ends the thread instead of reusing it at that priority. It
// reports whether the policy was set (not as non-root, for instance).
func realtimeThread() bool {
	runtime.LockOSThread()
	attr := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: labRTPrio}
	return unix.SchedSetAttr(0, &attr, 0) == nil
}
