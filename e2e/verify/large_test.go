package verify

import (
	"fmt"
	"strings"
)

// largePolicy writes a policy of n classes (services, modes and rates
// cycling through a table of ten) and m flows spread over them (UDP and TCP
// ports, some with a destination prefix or a DSCP to match) on a 1 Gbit/s
// bridge target.
func largePolicy(n, m int) string {
	kinds := []string{
		"service: network-control\n    rate: 10Mbit",
		"service: guaranteed\n    rate: 50Mbit\n    mark: {dscp: 46, pcp: 5}",
		"service: guaranteed\n    rate: 50Mbit\n    non-conforming: discard\n    mark: {dscp: 40, pcp: 5}",
		"service: controlled-load\n    rate: 100Mbit\n    non-conforming: borrow",
		"service: controlled-load\n    rate: 100Mbit\n    non-conforming: shape\n    mark: {dscp: 26, pcp: 3}",
		"service: qualitative\n    priority: 2\n    weight: 3\n    rate: 50Mbit\n    mark: {dscp: 18, pcp: 2}",
		"service: qualitative\n    priority: 2\n    weight: 1\n    rate: 50Mbit\n    non-conforming: discard\n    mark: {dscp: 10, pcp: 1}",
		"service: best-effort\n    rate: 30Mbit\n    non-conforming: discard",
		"service: best-effort\n    rate: 20Mbit\n    non-conforming: shape",
		"service: best-effort",
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: large\nclasses:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: c%d\n    %s\n", i, kinds[i%len(kinds)])
	}
	fmt.Fprintf(&b, "flows:\n")
	for j := range m {
		c := j % n
		match := fmt.Sprintf("protocol: udp, dst-port: %d", 10000+j)
		switch j % 5 {
		case 1:
			match = fmt.Sprintf("protocol: tcp, dst-port: %d", 10000+j)
		case 2:
			match = fmt.Sprintf("protocol: udp, dst: 10.%d.0.0/16, dst-port: %d-%d", c, 20000+10*j, 20000+10*j+9)
		}
		fmt.Fprintf(&b, "  - name: f%d\n    class: c%d\n    match: {%s}\n", j, c, match)
	}
	fmt.Fprintf(&b, "targets:\n  - name: lab\n    kind: nic\n    interface: pa\n    profile: none\n    capacity: 1Gbit\n    fallback: {mode: bridge, peer: pb}\n")
	return b.String()
}
