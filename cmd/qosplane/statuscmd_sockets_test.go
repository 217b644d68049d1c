package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/offload"
)

// checkStatusText prints a status with one target ts and checks that the
// text holds every string of want.
func checkStatusText(t *testing.T, ts agent.TargetStatus, want ...string) {
	t.Helper()
	var out bytes.Buffer
	writeStatus(&out, &agent.Status{Policy: "p", Targets: []agent.TargetStatus{ts}}, false)
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("status lacks %q:\n%s", w, out.String())
		}
	}
}

// status prints the sockets classified per cgroup flow.
func TestStatusPrintsSocketCounts(t *testing.T) {
	checkStatusText(t, agent.TargetStatus{Name: "nic", Kind: "nic", Sockets: map[string]uint64{"backup": 12, "pods": 3}},
		"CGROUP FLOW  SOCKETS CLASSIFIED", "backup       12", "pods         3")
}

// status prints a slow-link pacer's counts, DF frames left whole among them.
func TestStatusPrintsSlowLink(t *testing.T) {
	checkStatusText(t, agent.TargetStatus{Name: "uplink", Kind: "nic",
		SlowLink: &offload.SlowLinkCounters{MSSClamped: 4, Fragmented: 10, Fragments: 30, DFWhole: 7}},
		"slow link: 4 SYNs MSS-clamped, 10 datagrams cut into 30 fragments, 7 DF frames left whole, 0 GSO frames split into 0 segments, 0 dropped (no room to cut)")
}
