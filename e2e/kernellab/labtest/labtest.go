// Package labtest is what tests share to run in the kernel lab VM (see
// e2e/kernellab): a test that needs the lab skips, with the reason, outside
// it, and fails inside it, where everything the lab provides must exist
// (as cilium/ebpf's testutils do for kernel features).
package labtest

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/nsim"
	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
)

// EnvVar is set to 1 inside the lab VM by its init.
const EnvVar = "QOSPLANE_KERNEL_LAB"

// InLab reports whether the test runs inside the kernel lab VM.
func InLab() bool { return os.Getenv(EnvVar) == "1" }

// Need skips the test outside the lab and fails it inside when ok is false.
// what says what is missing.
func Need(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	if InLab() {
		t.Fatalf("kernel lab: "+format, args...)
	}
	t.Skipf("needs the kernel lab (bash e2e/kernellab/run.sh PKG): "+format, args...)
}

// NeedNICs needs root, the test NICs named (qostestnic's qtn0, qtn1, ...),
// the module's debugfs state and iproute2's tc.
func NeedNICs(t testing.TB, names ...string) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "root")
	for _, n := range names {
		_, err := net.InterfaceByName(n)
		Need(t, err == nil, "interface %s (qostestnic module): %v", n, err)
	}
	Need(t, qtnstate.Available(), "qostestnic debugfs state at %s", qtnstate.DebugfsRoot)
	Need(t, TCPath() != "", "iproute2 tc")
}

// NeedNetdevsim needs root, the netdevsim module and iproute2's devlink, and
// makes netdevsim device id with ports ports, removed when the test ends.
func NeedNetdevsim(t testing.TB, id, ports int) *nsim.Dev {
	t.Helper()
	Need(t, os.Geteuid() == 0, "root")
	Need(t, nsim.Available(), "netdevsim module (%s)", nsim.BusDir)
	Need(t, DevlinkPath() != "", "iproute2 devlink")
	d, err := nsim.New(id, ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// DevlinkPath is iproute2's devlink, or "" when it is missing.
func DevlinkPath() string { return sbin("devlink") }

// HostOnly skips, inside the lab VM, a test that reads the source tree: the
// VM has none of it, and the test runs on the host.
func HostOnly(t testing.TB) {
	t.Helper()
	if InLab() {
		t.Skip("host-only: reads the source tree, which the lab VM does not have; runs on the host in make unit")
	}
}

// TCPath is iproute2's tc (busybox's applet shadows it on PATH in the VM).
func TCPath() string { return sbin("tc") }

// sbin finds an iproute2 tool by its full path ("" when missing).
func sbin(name string) string {
	for _, p := range []string{"/usr/sbin/" + name, "/sbin/" + name} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Run runs a command and fails the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TCJSON runs `tc -j args...` and decodes its output (nil when empty).
func TCJSON(t testing.TB, args ...string) []map[string]any {
	t.Helper()
	out := Run(t, TCPath(), append([]string{"-j"}, args...)...)
	if strings.TrimSpace(out) == "" {
		return nil
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("tc -j %v: %v\n%s", args, err, out)
	}
	return v
}
