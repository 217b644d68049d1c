package labcheck

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
)

const (
	tcBin      = "/usr/sbin/tc"
	ethtoolBin = "/usr/sbin/ethtool"
)

// requireLab skips the test outside the lab VM, and fails it inside the lab
// (QOSPLANE_KERNEL_LAB=1) when the module or iproute2 is missing.
func requireLab(t *testing.T) {
	t.Helper()
	var missing []string
	if !qtnstate.Available() {
		missing = append(missing, "qostestnic debugfs ("+qtnstate.DebugfsRoot+")")
	}
	for _, b := range []string{tcBin, ethtoolBin} {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "kernel lab not present (missing " + strings.Join(missing, ", ") +
		"); run via bash e2e/kernellab/run.sh ./e2e/kernellab/labcheck"
	if os.Getenv("QOSPLANE_KERNEL_LAB") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// run runs a command and returns its combined output and error.
func run(name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// tc runs iproute2's tc and fails the test on error.
func tc(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(tcBin, args...)
	if err != nil {
		t.Fatalf("tc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tcFails runs tc, expects it to fail and returns its output.
func tcFails(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(tcBin, args...)
	if err == nil {
		t.Fatalf("tc %s succeeded, want a refusal\n%s", strings.Join(args, " "), out)
	}
	return out
}

// hwTcOffload turns hw-tc-offload on for dev, off again at cleanup.
func hwTcOffload(t *testing.T, dev string) {
	t.Helper()
	if out, err := run(ethtoolBin, "-K", dev, "hw-tc-offload", "on"); err != nil {
		t.Fatalf("ethtool -K %s hw-tc-offload on: %v\n%s", dev, err, out)
	}
	t.Cleanup(func() { _, _ = run(ethtoolBin, "-K", dev, "hw-tc-offload", "off") })
}

// rootMqprio adds a root mqprio qdisc and deletes it at cleanup.
func rootMqprio(t *testing.T, dev string, args ...string) {
	t.Helper()
	tc(t, append([]string{"qdisc", "add", "dev", dev, "root", "handle", "100:", "mqprio"}, args...)...)
	t.Cleanup(func() { _, _ = run(tcBin, "qdisc", "del", "dev", dev, "root") })
}

// clsact adds a clsact qdisc (removing its filters at cleanup).
func clsact(t *testing.T, dev string) {
	t.Helper()
	tc(t, "qdisc", "add", "dev", dev, "clsact")
	t.Cleanup(func() { _, _ = run(tcBin, "qdisc", "del", "dev", dev, "clsact") })
}

func state(t *testing.T, dev string) *qtnstate.State {
	t.Helper()
	s, err := qtnstate.Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantLastError checks the device's last refusal message.
func wantLastError(t *testing.T, s *qtnstate.State, op, msg string) {
	t.Helper()
	if s.LastError == nil {
		t.Fatalf("%s: no last_error, want %q", s.Ifname, msg)
	}
	if s.LastError.Op != op || s.LastError.Msg != msg {
		t.Fatalf("%s: last_error = %+v, want op %q msg %q", s.Ifname, *s.LastError, op, msg)
	}
}
