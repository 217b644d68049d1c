package gnmi

import (
	"encoding/json"
	"fmt"

	"github.com/openconfig/ygot/ygot"

	"github.com/qosplane/qosplane/offload"
)

// RenderJSONIETF renders a switch plan as one JSON_IETF (RFC 7951)
// document rooted at "openconfig-qos:qos" holding only what qosplane owns:
// its classifiers, forwarding groups, queues, scheduler policy and the
// bindings of the plan's interfaces. Names are module-qualified where the
// module changes; 64-bit values (cir, pir, weight) are strings. The output
// is deterministic (keys sorted) and indented.
func RenderJSONIETF(tp *offload.TargetPlan) ([]byte, error) {
	t, err := BuildTree(tp)
	if err != nil {
		return nil, err
	}
	return t.JSONIETF()
}

// JSONIETF renders the tree as RenderJSONIETF does.
func (t *Tree) JSONIETF() ([]byte, error) {
	doc, err := ygot.ConstructIETFJSON(t.Root, &ygot.RFC7951JSONConfig{AppendModuleName: true})
	if err != nil {
		return nil, fmt.Errorf("render JSON_IETF: %w", err)
	}
	if _, ok := doc["openconfig-qos:qos"]; !ok {
		doc = map[string]any{"openconfig-qos:qos": map[string]any{}}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render JSON_IETF: %w", err)
	}
	return append(out, '\n'), nil
}
