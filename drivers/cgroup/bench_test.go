package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkConnect measures what a socket pays for the hooks: socket(),
// connect() and close() of a UDP socket to loopback (no packet is sent), in
// a cgroup with no programs, under the programs but matched by no rule, and
// matched (priority and DSCP set). The benchmark moves its own process into
// the test cgroups and back. On a busy machine ns/op is noisy; hook-ns/op is
// the kernel's own account of the time spent in our programs per iteration
// (BPF_ENABLE_STATS run time), which is not.
func BenchmarkConnect(b *testing.B) {
	root, tree := testTree(b)
	home, err := ownCgroup(root)
	if err != nil {
		b.Skip(err)
	}
	bare := mkCgroup(b, root, tree, "bare")
	hooked := mkCgroup(b, root, tree, "hooked")
	unmatched := mkCgroup(b, hooked, "unmatched")
	matched := mkCgroup(b, hooked, "matched")
	d, err := New(Options{Root: root})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	// Two rules so that the programs sit on "hooked", above both.
	if err := d.Apply([]Rule{
		{Flow: "m", Cgroup: tree + "/hooked/matched", DSCP: 46, Priority: 6},
		{Flow: "n", Cgroup: tree + "/hooked/none", DSCP: 8, Priority: 1},
	}); err != nil {
		b.Fatal(err)
	}
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	hookTime := func() time.Duration {
		var sum time.Duration
		for _, p := range d.progs {
			if st, err := p.Stats(); err == nil {
				sum += st.Runtime
			}
		}
		return sum
	}
	dst := &unix.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}}
	for _, c := range []struct{ name, dir string }{
		{"no-hook", bare}, {"hook-unmatched", unmatched}, {"hook-matched", matched},
	} {
		b.Run(c.name, func(b *testing.B) {
			if err := moveSelf(c.dir); err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := moveSelf(home); err != nil {
					b.Fatal(err)
				}
			}()
			before := hookTime()
			for b.Loop() {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				if err := unix.Connect(fd, dst); err != nil {
					b.Fatal(err)
				}
				unix.Close(fd)
			}
			b.ReportMetric(float64(hookTime()-before)/float64(b.N), "hook-ns/op")
		})
	}
	if n, _ := d.Counts(); n["m"] == 0 {
		b.Error("the matched sockets were not counted")
	}
}

// ownCgroup is this process's cgroup2 directory (/proc/self/cgroup "0::").
func ownCgroup(root string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return filepath.Join(root, p), nil
		}
	}
	return "", os.ErrNotExist
}

func moveSelf(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644)
}
