package verify

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
)

func loadExample(t *testing.T, name string) *model.Policy {
	t.Helper()
	p, err := model.LoadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParseExpectations reads every clause form, as a YAML mapping item and
// as a quoted sentence, with its place in the file.
func TestParseExpectations(t *testing.T) {
	p := loadExample(t, "host.yaml")
	src := `expect:
  - class voice: rate within 2 %, p99 delay below 2 ms
  - "class storage: rate 20Gbit within 3%, conforming rate 20Gbit, loss below 1 %"
  - flow rtp: dscp 46, pcp 5
  - flow rtp-trunk: policed to 20Mbit
  - under overload of bulk, voice keeps its rate
`
	got, err := ParseExpectations("e.yaml", []byte(src), p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name()+" @"+e.Source)
	}
	want := []string{
		"class voice: rate 0bit ±2% @e.yaml:2:18",
		"class voice: p99 delay below 2ms @e.yaml:2:35",
		"class storage: rate 20Gbit ±3% @e.yaml:3:21",
		"class storage: conforming rate 20Gbit ±5% @e.yaml:3:44",
		"class storage: loss below 1% @e.yaml:3:68",
		"flow rtp: dscp 46 @e.yaml:4:15",
		"flow rtp: pcp 5 @e.yaml:4:24",
		"flow rtp-trunk: policed to at most 20Mbit +5% @e.yaml:5:21",
		"under overload of bulk, voice keeps its rate @e.yaml:6:5",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if !got[0].FromPlan || got[2].FromPlan {
		t.Errorf("FromPlan: %v %v, want true false", got[0].FromPlan, got[2].FromPlan)
	}
}

// TestExpectationErrors reports every problem with file, line and column.
func TestExpectationErrors(t *testing.T) {
	p := loadExample(t, "lab.yaml")
	for _, c := range []struct{ src, want string }{
		{"expect:\n  - class nosuch: rate within 2 %\n", "e.yaml:2:5: expect[0]: no class \"nosuch\" in policy \"lab\""},
		{"expect:\n  - class voice: rate within 2 %, jitter below 1 ms\n", "e.yaml:2:35: expect[0]: \"jitter below 1 ms\": unknown clause"},
		{"expect:\n  - flow voice-udp: dscp 99\n", "e.yaml:2:21: expect[0]: \"dscp 99\": want a dscp value 0-63"},
		{"expect:\n  - under overload of bulk voice keeps its rate\n", "e.yaml:2:5: expect[0]: want \"under overload of CLASS, CLASS keeps its rate\""},
		{"expects:\n  - flow voice-udp: dscp 46\n", "e.yaml:1:1: expects: unknown field (want expect)"},
		{"expect: [\n", "e.yaml: "},
	} {
		_, err := ParseExpectations("e.yaml", []byte(c.src), p)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q...", c.src, err, c.want)
		}
	}
}
