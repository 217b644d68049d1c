package verify

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
)

// labDuration is each phase's length in the lab tests: the first 1 s window
// is not judged, two are.
const labDuration = 3 * time.Second

// needLab skips a test that needs the veth lab where it cannot run.
func needLab(t *testing.T) {
	t.Helper()
	if reason := vethlab.CheckRoot(); reason != "" {
		t.Skipf("needs root: %s", reason)
	}
}

// repoRoot is the module's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// artefacts is where the lab tests keep the JUnit file, the HTML report and
// its screenshot for CI (bin/verify in the repository).
func artefacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "bin", "verify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// verifyFile runs verify on a policy file (every default target) with an
// optional expectations file and logs the table.
func verifyFile(t *testing.T, policy, expect string) []*Result {
	t.Helper()
	p, err := model.LoadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := Targets(p, "")
	if err != nil {
		t.Fatal(err)
	}
	var exps []FileExpectation
	if expect != "" {
		if exps, err = LoadExpectations(expect, p); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rs, err := Run(context.Background(), p, targets, Options{Duration: labDuration, Expect: exps, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, policy, rs); err != nil {
		t.Fatal(err)
	}
	t.Logf("qosplane verify %s:\n%s", policy, b.String())
	return rs
}

// failing returns the names of the failed expectations.
func failing(rs []*Result) []string {
	var out []string
	for _, r := range rs {
		for _, v := range r.Verdicts {
			if v.Status == Fail {
				out = append(out, v.Name())
			}
		}
	}
	return out
}

// TestExamples verifies every policy in examples/ (green), keeps the JUnit
// file and HTML report of each in bin/verify, checks the JUnit file
// against the schema and opens the report in headless Chromium: no console
// errors, one chart per class; the screenshot stays in bin/verify.
func TestExamples(t *testing.T) {
	needLab(t)
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples (%v)", err)
	}
	out := artefacts(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			rs := retryGreen(t, f)
			now := time.Now()
			var jb bytes.Buffer
			if err := WriteJUnit(&jb, JUnit(f, rs, now)); err != nil {
				t.Fatal(err)
			}
			junitPath := filepath.Join(out, name+".junit.xml")
			if err := os.WriteFile(junitPath, jb.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			checkJUnit(t, junitPath, rs)
			var hb bytes.Buffer
			if err := WriteReport(&hb, f, rs, now); err != nil {
				t.Fatal(err)
			}
			reportPath := filepath.Join(out, name+".html")
			if err := os.WriteFile(reportPath, hb.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			classes := 0
			for _, r := range rs {
				classes += len(r.Traffic.Classes)
			}
			checkReport(t, reportPath, classes)
		})
	}
}

// retryGreen verifies a policy and expects no failed expectation; a run
// with failures is repeated twice (a loaded machine can starve the pacer
// for a window), every attempt logged.
func retryGreen(t *testing.T, policy string) []*Result {
	t.Helper()
	var bad []string
	for attempt := 1; attempt <= 3; attempt++ {
		rs := verifyFile(t, policy, "")
		if bad = failing(rs); len(bad) == 0 {
			return rs
		}
		t.Logf("attempt %d: failed: %s", attempt, strings.Join(bad, "; "))
	}
	t.Fatalf("%s does not verify green: %s", policy, strings.Join(bad, "; "))
	return nil
}

// TestBrokenVariants verifies held-back variants of examples/lab.yaml that
// must go red on the right expectation: one the pacer cannot reach (voice
// at 40 Mbit/s where it is shaped to 20), and a remark (voice-udp to DSCP
// 34) that contradicts an expectation (voice-udp carries 46).
func TestBrokenVariants(t *testing.T) {
	needLab(t)
	lab := filepath.Join(repoRoot(t), "examples", "lab.yaml")
	for _, c := range []struct {
		name, policy, expect string
		fail                 []string
	}{
		{"impossible rate", lab, "testdata/impossible.expect.yaml", []string{"class voice: rate 40Mbit ±2%"}},
		{"contradicting remark", "testdata/remark.yaml", "testdata/remark.expect.yaml", []string{"flow voice-udp: dscp 46"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Retried like retryGreen: a loaded machine can fail a timing
			// expectation besides the broken one.
			var got []string
			for attempt := 1; attempt <= 3; attempt++ {
				got = failing(verifyFile(t, c.policy, c.expect))
				if strings.Join(got, "\n") == strings.Join(c.fail, "\n") {
					return
				}
				t.Logf("attempt %d: failed: %s", attempt, strings.Join(got, "; "))
			}
			t.Errorf("failed expectations:\n  %s\nwant exactly:\n  %s", strings.Join(got, "\n  "), strings.Join(c.fail, "\n  "))
		})
	}
}

// TestLargePolicy verifies a policy of 10 classes and 200 flows: green, and
// in under a minute.
func TestLargePolicy(t *testing.T) {
	needLab(t)
	path := filepath.Join(artefacts(t), "large.yaml")
	if err := os.WriteFile(path, []byte(largePolicy(10, 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rs := verifyFile(t, path, "")
	el := time.Since(start)
	t.Logf("RESULT verify classes=10 flows=200 elapsed=%v", el.Round(100*time.Millisecond))
	if el > time.Minute {
		t.Errorf("took %v, want under a minute", el)
	}
	if n := len(rs[0].Traffic.Gen); n != 200 {
		t.Errorf("%d flows exercised, want 200", n)
	}
	if bad := failing(rs); len(bad) > 0 {
		t.Errorf("failed: %s", strings.Join(bad, "; "))
	}
}

// TestInterrupt sends SIGINT to qosplane verify while it measures: it exits
// 1, says it was interrupted, and leaves no namespace and no pacer process
// behind.
func TestInterrupt(t *testing.T) {
	needLab(t)
	bin := filepath.Join(t.TempDir(), "qosplane")
	build := exec.Command("go", "build", "-o", bin, "./cmd/qosplane")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	prefix := fmt.Sprintf("qpvi%d", os.Getpid()%100000)
	cmd := exec.Command(bin, "verify", filepath.Join(repoRoot(t), "examples", "lab.yaml"), "--duration", "10s")
	cmd.Env = append(os.Environ(), "QOSPLANE_LAB_PREFIX="+prefix)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the lab is up and the pacer runs.
	deadline := time.Now().Add(20 * time.Second)
	for len(labNamespaces(t, prefix)) < 3 || len(pacers(t, cmd.Process.Pid)) == 0 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the lab did not come up\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pids := pacers(t, cmd.Process.Pid)
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	t.Logf("exit %d (%v), stderr:\n%s", code, err, stderr.String())
	if code != 1 || !strings.Contains(stderr.String(), "interrupted; the lab is torn down") {
		t.Errorf("exit %d, want 1 with the interruption said", code)
	}
	if ns := labNamespaces(t, prefix); len(ns) != 0 {
		t.Errorf("namespaces left behind: %v", ns)
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("pacer process %d left behind", pid)
		}
	}
}

// labNamespaces lists the network namespaces whose names start with prefix.
func labNamespaces(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			ns = append(ns, f[0])
		}
	}
	return ns
}

// pacers lists the processes whose parent is pid (the lab's pacers).
func pacers(t *testing.T, pid int) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		var self, ppid int
		var state string
		if _, err := fmt.Sscan(s[:strings.IndexByte(s, ' ')], &self); err != nil || i < 0 {
			continue
		}
		if _, err := fmt.Sscan(s[i+1:], &state, &ppid); err == nil && ppid == pid {
			out = append(out, self)
		}
	}
	return out
}
