package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/offload"
)

// status prints a slow-link pacer's counts, DF frames left whole among them.
func TestStatusPrintsSlowLink(t *testing.T) {
	st := &agent.Status{Policy: "p", Targets: []agent.TargetStatus{{
		Name: "uplink", Kind: "nic",
		SlowLink: &offload.SlowLinkCounters{MSSClamped: 4, Fragmented: 10, Fragments: 30, DFWhole: 7},
	}}}
	var out bytes.Buffer
	writeStatus(&out, st, false)
	want := "slow link: 4 SYNs MSS-clamped, 10 datagrams cut into 30 fragments, 7 DF frames left whole, 0 GSO frames split into 0 segments, 0 dropped (no room to cut)"
	if !strings.Contains(out.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, out.String())
	}
}
