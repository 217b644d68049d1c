package gnmi

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// switchProfiles are the built-in switch profiles the goldens cover.
var switchProfiles = []string{"openconfig-switch", "arista", "srlinux", "juniper"}

// examplePlans compiles every example policy (examples/*.yaml) for one
// switch target per switch profile: the policy's first switch target, or,
// for a policy without one, a synthetic switch target "golden" with two
// interfaces. Keys are "<example>.<profile>".
func examplePlans(t testing.TB) map[string]*offload.TargetPlan {
	t.Helper()
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no example policies under examples/")
	}
	out := make(map[string]*offload.TargetPlan)
	for _, f := range files {
		p, err := model.LoadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var st *model.Target
		for i := range p.Targets {
			if p.Targets[i].Kind == model.Switch {
				st = &p.Targets[i]
				break
			}
		}
		if st == nil {
			st = &model.Target{Name: "golden", Kind: model.Switch, Address: "192.0.2.1:9339", Interfaces: []string{"Ethernet1", "Ethernet2"}}
		}
		for _, prof := range switchProfiles {
			caps, err := offload.LoadProfile(prof)
			if err != nil {
				t.Fatal(err)
			}
			tp, err := offload.CompileTarget(p, st, caps, p.Order())
			if err != nil {
				t.Fatalf("%s on %s: %v", f, prof, err)
			}
			out[strings.TrimSuffix(filepath.Base(f), ".yaml")+"."+prof] = tp
		}
	}
	return out
}

// TestGoldenJSONIETF renders every example x switch profile and compares
// with testdata/<example>.<profile>.json (go test -run Golden -update
// rewrites them).
func TestGoldenJSONIETF(t *testing.T) {
	for name, tp := range examplePlans(t) {
		t.Run(name, func(t *testing.T) {
			got, err := RenderJSONIETF(tp)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			file := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./drivers/gnmi -run Golden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (run with -update after checking):\n%s", file, firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  golden: %s\n  render: %s", i+1, x, y)
		}
	}
	return "(equal lines, different bytes)"
}
