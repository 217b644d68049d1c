package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
)

// status prints the sockets classified per cgroup flow.
func TestStatusPrintsSocketCounts(t *testing.T) {
	st := &agent.Status{Policy: "p", Targets: []agent.TargetStatus{{
		Name: "nic", Kind: "nic", Sockets: map[string]uint64{"backup": 12, "pods": 3},
	}}}
	var out bytes.Buffer
	writeStatus(&out, st, false)
	for _, want := range []string{"CGROUP FLOW  SOCKETS CLASSIFIED", "backup       12", "pods         3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
