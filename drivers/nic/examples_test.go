package nic

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/dcbnl"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Every rule the compiler makes from the example policies, for every NIC
// profile, translates into flower filters that encode (no kernel needed).
func TestCompiledExamplesEncode(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "..", "..", "examples", "*.yaml"))
	if len(files) == 0 {
		t.Skip("no examples directory here (inside the VM the source tree is absent)")
	}
	n := 0
	for _, f := range files {
		p, err := model.LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Targets {
			tgt := &p.Targets[i]
			if tgt.Kind != model.NIC {
				continue
			}
			for _, prof := range []string{"mlx5-nic", "ice", "mlx5-switchdev", "i40e", "bnxt", "cxgb4"} {
				caps, err := offload.LoadProfile(prof)
				if err != nil {
					t.Fatal(err)
				}
				caps.LinkSpeed = 100_000_000_000
				tg := *tgt
				tg.Representors = []string{"rep0"}
				tp, err := offload.CompileTarget(p, &tg, caps, p.Order())
				if err != nil {
					t.Logf("%s on %s: does not compile: %v", filepath.Base(f), prof, err)
					continue
				}
				for _, r := range tp.Rules {
					if len(r.Actions) == 1 && r.Actions[0].Kind == offload.SteerQueue {
						// ethtool ntuple, not flower (cxgb4, ixgbe).
						if isNtuple(&r) {
							if _, err := ntupleSpec(&r); err != nil {
								t.Errorf("%s on %s: rule %s: %v", filepath.Base(f), prof, r.ID, err)
							}
							n++
						}
						continue
					}
					fs, _, err := ruleFilters(tp.Owner, &r)
					if err != nil {
						t.Errorf("%s on %s: rule %s: %v", filepath.Base(f), prof, r.ID, err)
						continue
					}
					for i := range fs {
						fs[i].Handle = handleMagic | 1
						if _, err := fs[i].EncodeMsg(1); err != nil {
							t.Errorf("%s on %s: rule %s: %v", filepath.Base(f), prof, r.ID, err)
						}
						n++
					}
				}
				if tp.Queues != nil {
					if _, err := mqprioFromLayout(tp.Queues); err != nil {
						t.Errorf("%s on %s: queues: %v", filepath.Base(f), prof, err)
					}
				}
				if tp.DCB != nil {
					if _, err := dcbnl.EncodeSet("x", tp.DCB); err != nil {
						t.Errorf("%s on %s: dcb: %v", filepath.Base(f), prof, err)
					}
				}
				if err := checkOps(offload.Diff(nil, tp)); err != nil {
					t.Errorf("%s on %s: %v", filepath.Base(f), prof, err)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no filters encoded")
	}
}
