package vethlab

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// procCPUClock returns the CPU time of process pid's whole thread group in
// ns, from its process CPU clock (the scheduler's exact run time, what
// clock_getcpuclockid(3) gives): unlike procCPU it is not tick sampled, but
// it counts only time the scheduler ran the process's threads.
func procCPUClock(pid int) (int64, error) {
	// Linux: a process CPU clock id is (^pid << 3) | CPUCLOCK_SCHED (2).
	id := int32(^pid)<<3 | 2
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, fmt.Errorf("cpu clock of pid %d: %w", pid, err)
	}
	return ts.Nano(), nil
}

// CPUExact returns the pacer process's CPU time so far in ns from its
// process CPU clock (see procCPUClock); CPU is the tick-sampled figure.
func (p *PacerProc) CPUExact() (int64, error) { return procCPUClock(p.proc.Pid()) }
