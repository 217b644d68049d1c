package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// envFleetAgents sets how many simulated agents TestFleetBench runs; unset,
// it is skipped (it is a benchmark: make bench-fleet, 500).
const envFleetAgents = "QOSPLANE_FLEET_AGENTS"

// envFleetQuiet is how long TestFleetBench watches a steady fleet (a Go
// duration; default 5m).
const envFleetQuiet = "QOSPLANE_FLEET_QUIET"

// TestFleetBench measures, with N simulated agents on one apiserver, the
// time from a QoSPolicy edit to every QoSNodeState reporting the new
// generation (p50/p99/max over nodes and edits; goal p99 <= 5 s), and the
// QoSNodeState writes per agent over a quiet period of 5 minutes (goal 0),
// counted by the apiserver (apiserver_request_total) and by the agents.
func TestFleetBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envFleetAgents))
	if n <= 0 {
		t.Skipf("a benchmark: set %s=500 to run it", envFleetAgents)
	}
	lab, c := fleetLab(t)
	ctx := context.Background()
	var nodes []string
	for i := range n {
		name := fmt.Sprintf("bench-%03d", i)
		createNode(t, c, name, map[string]string{"fleet": "bench"})
		nodes = append(nodes, name)
	}
	t0 := time.Now()
	agents := startSimAgents(t, lab, nodes)
	t.Logf("%d agents listed and started in %v", n, time.Since(t0).Round(time.Millisecond))

	// Every node's reported generation, first seen by a List every 250 ms
	// (the latencies are within that resolution).
	seen := map[string]map[int64]time.Time{} // node -> generation -> first seen
	allAt := func(gen int64) (bool, string) {
		l, err := c.Dynamic.Resource(kube.NodeStateGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		now := time.Now()
		for i := range l.Items {
			ns := new(v1alpha1.QoSNodeState)
			if kube.FromUnstructured(&l.Items[i], ns) != nil {
				continue
			}
			g, _ := appliedGeneration(ns, "bench")
			if seen[ns.Name] == nil {
				seen[ns.Name] = map[int64]time.Time{}
			}
			if _, ok := seen[ns.Name][g]; !ok {
				seen[ns.Name][g] = now
			}
		}
		missing := 0
		for _, node := range nodes {
			if _, ok := seen[node][gen]; !ok {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d nodes have not reported generation %d (%d states)", missing, len(nodes), gen, len(l.Items))
	}

	spec := func(rate int) string {
		return fmt.Sprintf(`  nodeSelector: {matchLabels: {fleet: bench}}
  classes:
    - {name: gold, service: guaranteed, rate: %dMbit}
    - {name: bulk, service: best-effort}
  flows:
    - {name: rtp, class: gold, match: {protocol: udp, dstPort: {port: 5004}}}
  nics:
    - {name: nic0, interface: {name: eth0}}
`, rate)
	}
	u, err := c.Dynamic.Resource(kube.PolicyGVR).Create(ctx, policyObject(t, "bench", spec(100)), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Minute, "every node at the first generation", func() (bool, string) { return allAt(u.GetGeneration()) })

	var lat []time.Duration
	const edits = 5
	for e := range edits {
		cur, err := c.Dynamic.Resource(kube.PolicyGVR).Get(ctx, "bench", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		next := policyObject(t, "bench", spec(200+10*e))
		cur.Object["spec"] = next.Object["spec"]
		at := time.Now()
		up, err := c.Dynamic.Resource(kube.PolicyGVR).Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gen := up.GetGeneration()
		waitFor(t, 5*time.Minute, fmt.Sprintf("every node at generation %d", gen), func() (bool, string) { return allAt(gen) })
		for _, node := range nodes {
			lat = append(lat, seen[node][gen].Sub(at))
		}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Millisecond)
	}
	t.Logf("BENCH fleet agents=%d edits=%d edit->QoSNodeState generation: p50 %v p99 %v max %v (goal p99 <= 5s)",
		n, edits, q(0.50), q(0.99), lat[len(lat)-1].Round(time.Millisecond))
	if q(0.99) > 5*time.Second {
		t.Errorf("p99 %v exceeds the 5 s goal", q(0.99))
	}

	quiet := 5 * time.Minute
	if v := os.Getenv(envFleetQuiet); v != "" {
		if quiet, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s: %v", envFleetQuiet, err)
		}
	}
	writes0, applies0, _ := totalWrites(agents)
	served0, err := lab.WriteRequests(ctx, v1alpha1.GroupVersion.Group, "qosnodestates")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(quiet)
	writes, applies, _ := totalWrites(agents)
	served, err := lab.WriteRequests(ctx, v1alpha1.GroupVersion.Group, "qosnodestates")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BENCH fleet agents=%d steady state over %v: %d QoSNodeState write requests served by the apiserver (%.3f per agent), %d made by the agents, %d NIC applies (goal 0)",
		n, quiet, served-served0, float64(served-served0)/float64(n), writes-writes0, applies-applies0)
	if writes != writes0 || served != served0 || applies != applies0 {
		t.Errorf("steady state wrote: %d requests served, %d made, %d NIC applies", served-served0, writes-writes0, applies-applies0)
	}
}
