package main

import (
	"fmt"

	"github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// writeJSONIETF prints, for each switch target, the JSON_IETF document a gNMI
// Set would carry, rooted at openconfig-qos:qos.
func writeJSONIETF(c *cli, plan *offload.Plan) error {
	n := 0
	for _, tp := range plan.Targets {
		if tp.Kind != model.Switch {
			continue
		}
		doc, err := gnmi.RenderJSONIETF(tp)
		if err != nil {
			return fmt.Errorf("target %q: %w", tp.Target, err)
		}
		if n > 0 {
			fmt.Fprintln(c.stdout)
		}
		fmt.Fprintf(c.stdout, "%s\n", doc)
		n++
	}
	if n == 0 {
		return fmt.Errorf("-o json-ietf: the plan has no switch target")
	}
	return nil
}
