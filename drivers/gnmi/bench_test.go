package gnmi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// bigPolicy is a policy of 8 classes and n 5-tuple-ish IPv4 flows for one
// switch target.
func bigPolicy(tb testing.TB, n int) (*model.Policy, *model.Target) {
	tb.Helper()
	var b strings.Builder
	b.WriteString("name: big\nclasses:\n")
	for i := range 8 {
		fmt.Fprintf(&b, "  - {name: c%d, service: qualitative, priority: %d, weight: %d}\n", i, i%4, 1+i)
	}
	b.WriteString("flows:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: f%d, class: c%d, match: {protocol: tcp, dst: 10.%d.%d.%d, dst-port: %d}}\n",
			i, i%8, i/65536%256, i/256%256, i%256, 1024+i%60000)
	}
	b.WriteString("targets:\n  - {name: sw, kind: switch, address: 192.0.2.1:9339, interfaces: [Ethernet1, Ethernet2]}\n")
	p, err := model.Parse("big.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return p, &p.Targets[0]
}

// BenchmarkCompile2000Flows: 2,000 flows into one switch tree. The
// sub-benchmarks split the pipeline; "peer-offload-compile" (policy ->
// plan) and "peer-plan-json" (encoding/json of the plan) are measured in
// the same run for comparison.
func BenchmarkCompile2000Flows(b *testing.B) {
	p, st := bigPolicy(b, 2000)
	caps, err := offload.LoadProfile("openconfig-switch")
	if err != nil {
		b.Fatal(err)
	}
	order := p.Order()
	tp, err := offload.CompileTarget(p, st, caps, order)
	if err != nil {
		b.Fatal(err)
	}
	if len(tp.Rules) != 2000 {
		b.Fatalf("%d rules, want 2000", len(tp.Rules))
	}
	b.Run("plan-to-tree", func(b *testing.B) {
		for b.Loop() {
			if _, err := BuildTree(tp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plan-to-json-ietf", func(b *testing.B) {
		var size int
		for b.Loop() {
			out, err := RenderJSONIETF(tp)
			if err != nil {
				b.Fatal(err)
			}
			size = len(out)
		}
		b.ReportMetric(float64(size), "json-bytes")
	})
	b.Run("policy-to-json-ietf", func(b *testing.B) {
		for b.Loop() {
			tp, err := offload.CompileTarget(p, st, caps, order)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := RenderJSONIETF(tp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("peer-offload-compile", func(b *testing.B) {
		for b.Loop() {
			if _, err := offload.CompileTarget(p, st, caps, order); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("peer-plan-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(tp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
