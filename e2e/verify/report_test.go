package verify

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// junitDoc is the JUnit file read back generically, for the structural
// check: every element and attribute as written.
type junitDoc struct {
	XMLName xml.Name   `xml:"testsuites"`
	Attrs   []xml.Attr `xml:",any,attr"`
	Suites  []struct {
		Attrs []xml.Attr `xml:",any,attr"`
		Cases []struct {
			Attrs   []xml.Attr `xml:",any,attr"`
			Failure []struct {
				Attrs []xml.Attr `xml:",any,attr"`
			} `xml:"failure"`
			Skipped []struct {
				Attrs []xml.Attr `xml:",any,attr"`
			} `xml:"skipped"`
			Other []struct {
				XMLName xml.Name
			} `xml:",any"`
		} `xml:"testcase"`
		Other []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"testsuite"`
}

func attrs(as []xml.Attr) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		m[a.Name.Local] = a.Value
	}
	return m
}

// checkJUnit checks a JUnit file the way a JUnit XML schema does (required
// elements and attributes, their types, at most one failure or skipped per
// test case) and that its counts add up and match rs (one test case per
// expectation); with xmllint installed (Debian libxml2-utils) it also
// validates it against testdata/junit.xsd.
func checkJUnit(t *testing.T, path string, rs []*Result) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	isCount := regexp.MustCompile(`^[0-9]+$`)
	isTime := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	need := func(where string, m map[string]string, names ...string) {
		for _, n := range names {
			v, ok := m[n]
			switch {
			case !ok:
				t.Errorf("%s: %s: attribute %s missing", path, where, n)
			case n == "time" && !isTime.MatchString(v):
				t.Errorf("%s: %s: time %q is not a decimal", path, where, v)
			case (n == "tests" || n == "failures" || n == "errors" || n == "skipped") && !isCount.MatchString(v):
				t.Errorf("%s: %s: %s %q is not a count", path, where, n, v)
			}
		}
	}
	counts := []string{"tests", "failures", "errors", "skipped", "time"}
	root := attrs(doc.Attrs)
	need("testsuites", root, append(counts, "name")...)
	if len(doc.Suites) != len(rs) {
		t.Errorf("%s: %d testsuites, want one per target (%d)", path, len(doc.Suites), len(rs))
	}
	var total, fails, skips int
	for i, s := range doc.Suites {
		sa := attrs(s.Attrs)
		need("testsuite", sa, append(counts, "name", "timestamp")...)
		if _, err := time.Parse("2006-01-02T15:04:05", sa["timestamp"]); err != nil {
			t.Errorf("%s: testsuite timestamp: %v", path, err)
		}
		for _, o := range s.Other {
			if o.XMLName.Local != "testcase" {
				t.Errorf("%s: unexpected element %s in testsuite", path, o.XMLName.Local)
			}
		}
		var f, sk int
		for _, c := range s.Cases {
			ca := attrs(c.Attrs)
			need("testcase", ca, "name", "classname", "time")
			if len(c.Failure)+len(c.Skipped) > 1 {
				t.Errorf("%s: testcase %q has %d failure/skipped elements, at most one", path, ca["name"], len(c.Failure)+len(c.Skipped))
			}
			for _, x := range append(c.Failure, c.Skipped...) {
				if _, ok := attrs(x.Attrs)["message"]; !ok {
					t.Errorf("%s: testcase %q: failure/skipped without message", path, ca["name"])
				}
			}
			for _, o := range c.Other {
				if n := o.XMLName.Local; n != "failure" && n != "skipped" && n != "system-out" {
					t.Errorf("%s: unexpected element %s in testcase", path, n)
				}
			}
			f += len(c.Failure)
			sk += len(c.Skipped)
		}
		if strconv.Itoa(len(s.Cases)) != sa["tests"] || strconv.Itoa(f) != sa["failures"] || strconv.Itoa(sk) != sa["skipped"] {
			t.Errorf("%s: testsuite %s says tests=%s failures=%s skipped=%s, holds %d, %d, %d", path, sa["name"], sa["tests"], sa["failures"], sa["skipped"], len(s.Cases), f, sk)
		}
		if i < len(rs) && len(s.Cases) != len(rs[i].Verdicts) {
			t.Errorf("%s: testsuite %s: %d test cases, want one per expectation (%d)", path, sa["name"], len(s.Cases), len(rs[i].Verdicts))
		}
		total, fails, skips = total+len(s.Cases), fails+f, skips+sk
	}
	if strconv.Itoa(total) != root["tests"] || strconv.Itoa(fails) != root["failures"] || strconv.Itoa(skips) != root["skipped"] {
		t.Errorf("%s: testsuites says tests=%s failures=%s skipped=%s, holds %d, %d, %d", path, root["tests"], root["failures"], root["skipped"], total, fails, skips)
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Logf("xmllint not installed (Debian libxml2-utils; make deps installs it): validated by the Go check only")
		return
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/junit.xsd", path).CombinedOutput(); err != nil {
		t.Errorf("xmllint: %v\n%s", err, out)
	}
}

// chromium runs headless Chromium on an HTML file: its DOM after load, and
// the console messages it logged (lines of its stderr with "CONSOLE").
func chromium(t *testing.T, page string, extra ...string) (dom string, console []string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("headless Chromium is needed to check the report: install Debian's chromium (make deps does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	return stdout.String(), console
}

// checkReport opens an HTML report in headless Chromium: no console
// messages, one chart per class (svg.chart with a data-class), no external
// resource; it keeps a screenshot next to the report.
func checkReport(t *testing.T, path string, classes int) {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<link", " src=", "url(", "@import"} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("%s: %q: the report must be self-contained", path, bad)
		}
	}
	if n := bytes.Count(raw, []byte("http")) - bytes.Count(raw, []byte(`xmlns="http://www.w3.org/2000/svg"`)); n != 0 {
		t.Errorf("%s: %d references to http(s) resources", path, n)
	}
	dom, console := chromium(t, abs, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("%s: console messages:\n%s", path, strings.Join(console, "\n"))
	}
	charts := regexp.MustCompile(`<svg class="chart" data-class="([^"]+)"`).FindAllStringSubmatch(dom, -1)
	if len(charts) != classes {
		t.Errorf("%s: the rendered DOM has %d charts, want one per class (%d)", path, len(charts), classes)
	}
	if n := strings.Count(dom, `<polyline class="achieved"`); n != classes {
		t.Errorf("%s: %d achieved-rate lines, want %d", path, n, classes)
	}
	if !strings.Contains(dom, `id="summary"`) {
		t.Errorf("%s: no summary in the rendered DOM", path)
	}
	shot := strings.TrimSuffix(abs, ".html") + ".png"
	_, console = chromium(t, abs, "--screenshot="+shot, "--window-size=1400,2400", "--hide-scrollbars")
	if len(console) > 0 {
		t.Errorf("%s: console messages:\n%s", path, strings.Join(console, "\n"))
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s: %v", shot, err)
	} else {
		t.Logf("screenshot of the report (CI artefact): %s", shot)
	}
}

// TestChromiumConsole checks that chromium reports what a broken page logs,
// so that checkReport's "no console messages" means something.
func TestChromiumConsole(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("needs headless Chromium (Debian chromium; make deps installs it)")
	}
	page := filepath.Join(t.TempDir(), "broken.html")
	if err := os.WriteFile(page, []byte(`<!DOCTYPE html><p id="x">x</p><script>throw new Error("broken-page")</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console := chromium(t, page, "--dump-dom")
	if !strings.Contains(dom, `id="x"`) {
		t.Errorf("DOM not dumped: %s", dom)
	}
	if len(console) != 1 || !strings.Contains(console[0], "broken-page") {
		t.Errorf("console messages %q, want the uncaught error", console)
	}
}
