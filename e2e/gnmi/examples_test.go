package gnmi_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// TestExamplesAcceptedByLemming compiles every example policy for every
// switch profile and applies it to one lemming target, which validates it
// against the full OpenConfig schema. Each example has its own owner and
// its own interfaces (an interface has one output scheduler policy and one
// classifier per family: owners sharing an interface would take turns),
// so examples accumulate; switching profile replaces the example's tree.
// A final sync per example sends nothing.
func TestExamplesAcceptedByLemming(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	mustf(t, err, "glob")
	if len(files) == 0 {
		t.Skip("no example policies under examples/")
	}
	tg := startTarget(t, normal)
	ca := testPKI(t).caFile
	ctx := ctxT(t)
	var last []*offload.TargetPlan
	for k, f := range files {
		p, err := model.LoadFile(f)
		mustf(t, err, "%s", f)
		st := &model.Target{Name: "golden", Kind: model.Switch, Interfaces: []string{"Ethernet1", "Ethernet2"}}
		for i := range p.Targets {
			if p.Targets[i].Kind == model.Switch {
				st = &p.Targets[i]
				break
			}
		}
		var tp *offload.TargetPlan
		for _, prof := range []string{"openconfig-switch", "arista", "srlinux", "juniper"} {
			caps, err := offload.LoadProfile(prof)
			mustf(t, err, "profile")
			tp, err = offload.CompileTarget(p, st, caps, p.Order())
			mustf(t, err, "%s on %s", f, prof)
			tp.Device.Address = tg.addr
			tp.Device.Interfaces = []string{fmt.Sprintf("Ethernet%d", 2*k+1), fmt.Sprintf("Ethernet%d", 2*k+2)}
			tp.Device.TLS = model.TLS{CAFile: ca, ServerName: "localhost"}
			tp.Device.Credentials = model.Credentials{}
			d, err := gnmidrv.Open(ctx, tp, testLog(t))
			mustf(t, err, "open")
			res, err := d.Sync(ctx, tp)
			d.Close()
			if err != nil {
				t.Errorf("%s on %s: lemming refused: %v", filepath.Base(f), prof, err)
				continue
			}
			t.Logf("%s on %s: %d units changed, %d items skipped as unsupported", filepath.Base(f), prof, len(res.Paths), len(res.Skipped))
		}
		last = append(last, tp)
	}
	for _, tp := range last {
		d, err := gnmidrv.Open(ctx, tp, testLog(t))
		mustf(t, err, "open")
		res, err := d.Sync(ctx, tp)
		d.Close()
		mustf(t, err, "resync")
		if res.Changed {
			t.Errorf("%s: resync changed %s", tp.Owner, strings.Join(res.Paths, " "))
		}
	}
}
