// Package gnmi_test runs qosplane's switch driver (drivers/gnmi) against
// in-process lemming gNMI targets on 127.0.0.1 over TLS. lemming validates
// every SetRequest against the full OpenConfig schema and rolls the whole
// request back on failure; it lacks Capabilities and Get, so the harness
// adds Capabilities and the driver reads with Subscribe ONCE.
package gnmi_test
