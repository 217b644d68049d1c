package fallback

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func TestNewErrors(t *testing.T) {
	good := classPlan("a", 0, 8_000_000, model.Shape)
	huge := classPlan("big", 0, 8_000_000, model.Shape)
	huge.Bucket = 1 << 40
	fast := classPlan("fast", 0, 20_000_000_000_000, model.Shape)
	cases := []struct {
		name string
		tp   *offload.TargetPlan
		want string
	}{
		{"nil plan", nil, "nil plan"},
		{"no classes", plan(0, nil), "no classes"},
		{"duplicate class", plan(0, []offload.ClassPlan{good, good}), `class "a" appears twice`},
		{"rule to unknown class", plan(0, []offload.ClassPlan{good}, pacerRule("r", "zz", 1, model.Match{})), `rule "r": unknown class "zz"`},
		{"bucket too deep", plan(0, []offload.ClassPlan{huge}), `class "big": rate: bucket`},
		{"rate too high", plan(0, []offload.ClassPlan{fast}), `class "fast": rate: rate`},
		{"policer without rate", plan(0, []offload.ClassPlan{good}, pacerRule("r", "a", 1, model.Match{}, offload.Action{Kind: offload.Police})), `rule "r": police: rate 0`},
	}
	for _, c := range cases {
		_, err := New(c.tp, Config{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestUnknownInterface: a rule naming an interface that does not resolve
// never matches; the others still do.
func TestUnknownInterface(t *testing.T) {
	classes := []offload.ClassPlan{classPlan("be", 0, 0, model.Shape), classPlan("x", 3, 0, model.Shape)}
	p, err := New(plan(0, classes, pacerRule("gone", "x", 1, model.Match{Interface: "nope0"}), pacerRule("udp", "x", 2, model.Match{Protocol: model.UDP})),
		Config{IfIndex: func(string) (int, error) { return 0, errors.New("no such interface") },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	var pr parsed
	parse(buf[:frameSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: protoTCP, vlan: -1, size: 100}.build(buf)], &pr)
	for _, ifx := range []int{0, -1, 1} {
		if ri := p.classify(&pr, ifx); ri != -1 {
			t.Fatalf("ifindex %d matched rule %s", ifx, p.rules[ri].id)
		}
	}
	parse(buf[:udp4(1, 2, 100).build(buf)], &pr)
	if ri := p.classify(&pr, 0); ri < 0 || p.rules[ri].id != "udp" {
		t.Fatalf("udp rule did not match: %d", ri)
	}
}
