package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/offload"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	return runCLIContext(context.Background(), args...)
}

func runCLIContext(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(ctx, args, &o, &e)
	return code, o.String(), e.String()
}

// hostOnly skips, inside the kernel lab VM, a test that reads the source
// tree (examples, testdata, deploy files); it runs on the host.
func hostOnly(t *testing.T) {
	t.Helper()
	labtest.HostOnly(t)
}

func TestExitCodes(t *testing.T) {
	hostOnly(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, exitUsage, "", "usage: qosplane"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"validate"}, exitUsage, "", "usage: qosplane validate FILE"},
		{[]string{"validate", "../../examples/host.yaml"}, exitOK, `policy "host" is valid: 5 classes, 8 flows, 1 targets`, ""},
		{[]string{"validate", "../../model/testdata/invalid/fields.yaml"}, exitInvalid, "",
			"../../model/testdata/invalid/fields.yaml:6:11: classes[0].peak: 50Mbit is below rate 100Mbit"},
		{[]string{"validate", "does-not-exist.yaml"}, exitInvalid, "", "no such file"},
		{[]string{"plan", "../../examples/host.yaml", "-o", "yaml"}, exitUsage, "", `-o "yaml"`},
		{[]string{"plan", "../../examples/host.yaml"}, exitInvalid, "", "no capability profile"},
		{[]string{"plan", "../../examples/host.yaml", "--caps", "warp-drive"}, exitInvalid, "", `unknown capability profile "warp-drive"`},
		{[]string{"plan", "--caps", "ice", "../../examples/host.yaml"}, exitOK, "target host-nic (nic, profile ice, capacity 100Gbit)", ""},
		{[]string{"plan", "../../examples/leaf.yaml", "--target", "leaf9"}, exitInvalid, "", `no target "leaf9" in policy "fabric" (targets: leaf1, leaf2)`},
		{[]string{"plan", "../../examples/leaf.yaml", "--target", "leaf2"}, exitOK, "target leaf2 (switch, profile openconfig-switch", ""},
		{[]string{"verify"}, exitUsage, "", "usage: qosplane verify POLICY"},
		{[]string{"verify", "../../examples/lab.yaml", "--duration", "1s"}, exitUsage, "", "--duration 1s: at least 2s"},
		{[]string{"verify", "../../examples/leaf.yaml", "--target", "leaf9"}, exitInvalid, "", `no target "leaf9" in policy "fabric"`},
		{[]string{"verify", "../../examples/lab.yaml", "--expect", "../../e2e/verify/testdata/bad.expect.yaml"}, exitInvalid, "",
			`../../e2e/verify/testdata/bad.expect.yaml:4:35: expect[0]: "p99 delay under 2 ms": unknown clause`},
		{[]string{"version"}, exitOK, "qosplane dev", ""},
		{[]string{"profiles"}, exitOK, "mlx5-switchdev", ""},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("qosplane %s: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout with %q, stderr with %q",
				strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.stdout, tc.stderr)
		}
	}
}

func TestPlanJSONEveryExample(t *testing.T) {
	hostOnly(t)
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("want the examples, found %d", len(files))
	}
	for _, f := range files {
		caps := "mlx5-switchdev"
		if strings.Contains(f, "leaf") {
			caps = "openconfig-switch"
		}
		code, out, errOut := runCLI("plan", f, "--caps", caps, "-o", "json")
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", f, code, errOut)
		}
		var plan offload.Plan
		if err := json.Unmarshal([]byte(out), &plan); err != nil {
			t.Fatalf("%s: plan JSON does not read back: %v", f, err)
		}
		if len(plan.Targets) == 0 || len(plan.Targets[0].Classes) == 0 {
			t.Errorf("%s: empty plan", f)
		}
		// The JSON reads back to the same plan: Diff sees no change.
		code, out2, _ := runCLI("plan", f, "--caps", caps, "-o", "json")
		if code != exitOK || out2 != out {
			t.Errorf("%s: plan output is not deterministic", f)
		}
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	hostOnly(t)
	code, out, errOut := runCLI("plan", "../../examples/host.yaml", "--caps", "ice", "-o", "json")
	if code != exitOK {
		t.Fatal(errOut)
	}
	var a offload.Plan
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(&a, "", "  ")
	if string(b)+"\n" != out {
		t.Error("plan JSON does not survive a round trip unchanged")
	}
	if ops := offload.Diff(a.Targets[0], a.Targets[0]); len(ops) != 0 {
		t.Errorf("Diff of a read-back plan with itself: %d ops", len(ops))
	}
}
