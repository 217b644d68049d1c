package main

import "github.com/qosplane/qosplane/offload"

// writeJSONIETF prints, per switch target, the JSON_IETF document a gNMI Set
// would carry.
func writeJSONIETF(c *cli, plan *offload.Plan) error {
	c.errorf("json-ietf output needs the gNMI driver")
	return errNotYet
}
