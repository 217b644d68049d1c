package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/cmd/qosplane/internal/kube"
	"github.com/qosplane/qosplane/e2e/kube/kubelab"
	mkube "github.com/qosplane/qosplane/model/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

var (
	crdGVR  = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	nodeGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

// fleetLab starts a real etcd and kube-apiserver with qosplane's CRDs
// installed, or skips (fails when QOSPLANE_KUBE_REQUIRED=1) without the
// binaries.
func fleetLab(t *testing.T) (*kubelab.Lab, *kube.Clients) {
	t.Helper()
	lab := kubelab.ForTest(t, kubelab.Options{})
	c := fleetClients(t, lab.Kubeconfig(), "fleet-test")
	files, _ := filepath.Glob("deploy/crds/*.yaml")
	if len(files) == 0 {
		t.Fatal("no CRDs in deploy/crds")
	}
	ctx := context.Background()
	for _, f := range files {
		u := readManifest(t, f)
		if _, err := c.Dynamic.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD %s: %v", f, err)
		}
	}
	// The agent's RBAC, from its manifest.
	_, raw := readKubeManifests(t, "deploy/kube/agent.yaml")
	for _, doc := range raw {
		u := yamlObject(t, doc)
		var r schema.GroupVersionResource
		switch u.GetKind() {
		case "ClusterRole":
			r = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
		case "ClusterRoleBinding":
			r = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
		default:
			continue
		}
		if _, err := c.Dynamic.Resource(r).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", u.GetKind(), err)
		}
	}
	waitFor(t, 60*time.Second, "CRDs established", func() (bool, string) {
		for _, r := range []schema.GroupVersionResource{kube.PolicyGVR, kube.NodeStateGVR} {
			if _, err := c.Dynamic.Resource(r).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
				return false, err.Error()
			}
		}
		return true, ""
	})
	return lab, c
}

// agentUser is the node agent's ServiceAccount as the apiserver names it:
// the subject deploy/kube/agent.yaml binds its ClusterRole to.
const agentUser = "system:serviceaccount:qosplane:qosplane-agent"

// agentKubeconfig is a kubeconfig of agentUser, which has the manifest's
// RBAC and nothing more.
func agentKubeconfig(t *testing.T, lab *kubelab.Lab) string {
	t.Helper()
	path, err := lab.UserKubeconfig(agentUser, "system:serviceaccounts", "system:serviceaccounts:qosplane")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func fleetClients(t *testing.T, kubeconfig, agentName string) *kube.Clients {
	t.Helper()
	rc, err := kube.RESTConfig(kubeconfig, agentName)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 50, 100
	c, err := kube.NewClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readManifest reads one YAML object as unstructured (through JSON, so
// numbers are what the dynamic client expects).
func readManifest(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return yamlObject(t, data)
}

func yamlObject(t *testing.T, data []byte) *unstructured.Unstructured {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

// waitFor polls cond until it holds or timeout, failing with cond's last
// explanation.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		var ok bool
		if ok, last = cond(); ok {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not after %v: %s", what, timeout, last)
	return 0
}

// createNode creates a Node object (no kubelet runs: the test plays it).
func createNode(t *testing.T, c *kube.Clients, name string, labels map[string]string) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Node"}}
	u.SetName(name)
	u.SetLabels(labels)
	if _, err := c.Dynamic.Resource(nodeGVR).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
}

// policyObject is a QoSPolicy from its spec in YAML.
func policyObject(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	u := yamlObject(t, []byte("apiVersion: qosplane.io/v1alpha1\nkind: QoSPolicy\nmetadata: {name: "+name+"}\nspec:\n"+spec))
	return u
}

// nodeState reads a node's QoSNodeState (nil when it does not exist).
func nodeState(c *kube.Clients, node string) (*v1alpha1.QoSNodeState, error) {
	u, err := c.Dynamic.Resource(kube.NodeStateGVR).Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	ns := new(v1alpha1.QoSNodeState)
	return ns, kube.FromUnstructured(u, ns)
}

// appliedGeneration is the generation of policy the state says runs, 0
// when the state does not list it.
func appliedGeneration(ns *v1alpha1.QoSNodeState, policy string) (gen, observed int64) {
	for _, p := range ns.Status.Policies {
		if p.Name == policy {
			return p.Generation, p.ObservedGeneration
		}
	}
	return 0, 0
}

// simAgent is one simulated node: the real node agent code with fleetNIC
// drivers, in this process.
type simAgent struct {
	node string
	nics *fleetFactory
	na   *kube.NodeAgent
	done chan error
}

// startSimAgents starts one agent per node, each with its own clients.
func startSimAgents(t *testing.T, lab *kubelab.Lab, nodes []string) []*simAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	kubeconfig := agentKubeconfig(t, lab)
	agents := make([]*simAgent, len(nodes))
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for i, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &simAgent{node: node, nics: newFleetFactory(), done: make(chan error, 1)}
			resolve := mkube.ResolverFunc(func(nt *v1alpha1.NICTarget) (string, string, error) {
				if nt.Interface.Name != "" {
					return string(nt.Interface.Name), "", nil
				}
				return "eth0", "0000:3b:00.0", nil
			})
			na, err := kube.NewNodeAgent(ctx, fleetClients(t, kubeconfig, "qosplane-agent/"+node), node, resolve,
				agent.Config{Factory: s.nics, Interval: time.Hour, CountersInterval: time.Hour})
			if err != nil {
				errs <- fmt.Errorf("%s: %w", node, err)
				return
			}
			s.na = na
			go func() { s.done <- na.Run(ctx) }()
			agents[i] = s
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for _, a := range agents {
			if a != nil {
				<-a.done
			}
		}
	})
	return agents
}

// running fails t for every agent whose Run returned.
func running(t *testing.T, agents []*simAgent) {
	t.Helper()
	for _, a := range agents {
		select {
		case err := <-a.done:
			t.Errorf("agent %s stopped: %v", a.node, err)
			a.done <- err
		default:
		}
	}
}

func totalWrites(agents []*simAgent) (writes int64, applies, removes int) {
	for _, a := range agents {
		writes += a.na.Writer.Writes()
		ap, rm := a.nics.totals()
		applies += ap
		removes += rm
	}
	return
}

const tierPolicy = `  nodeSelector: {matchLabels: {tier: a}}
  classes:
    - {name: gold, service: guaranteed, rate: 100Mbit}
    - {name: bulk, service: best-effort}
  flows:
    - {name: rtp, class: gold, match: {protocol: udp, dstPort: {port: 5004}}}
  nics:
    - {name: nic0, interface: {name: eth0}}
`

// TestFleetSimulated runs 50 node agents (the real agent and node source
// code, fake NIC drivers) against a real apiserver, as the agent's
// ServiceAccount with the manifest's RBAC: a policy with a
// nodeSelector reaches exactly the matching nodes, a relabelled node drops
// it, a refused edit keeps every node's plan, a quiet fleet writes nothing,
// and an apiserver restart changes nothing and is followed by a resync.
func TestFleetSimulated(t *testing.T) {
	const n = 50
	lab, c := fleetLab(t)
	ctx := context.Background()
	var nodes, tierA []string
	for i := range n {
		name := fmt.Sprintf("node-%02d", i)
		tier := "b"
		if i%2 == 0 {
			tier = "a"
			tierA = append(tierA, name)
		}
		createNode(t, c, name, map[string]string{"tier": tier, "kubernetes.io/hostname": name})
		nodes = append(nodes, name)
	}
	t0 := time.Now()
	agents := startSimAgents(t, lab, nodes)
	byNode := map[string]*simAgent{}
	for _, a := range agents {
		byNode[a.node] = a
	}
	t.Logf("%d agents listed and started in %v", n, time.Since(t0).Round(time.Millisecond))

	// (a) A policy with a nodeSelector reaches exactly the tier=a nodes.
	created, err := c.Dynamic.Resource(kube.PolicyGVR).Create(ctx, policyObject(t, "tier-a", tierPolicy), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gen1 := created.GetGeneration()
	took := waitFor(t, 60*time.Second, "tier=a nodes report the policy", func() (bool, string) {
		for _, node := range nodes {
			ns, err := nodeState(c, node)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", node, err)
			}
			g, _ := appliedGeneration(ns, "tier-a")
			want := int64(0)
			if slices.Contains(tierA, node) {
				want = gen1
				if len(ns.Status.Targets) != 1 || ns.Status.Targets[0].Policy != "tier-a" || ns.Status.Targets[0].AppliedGeneration != gen1 {
					return false, fmt.Sprintf("%s: targets %+v", node, ns.Status.Targets)
				}
			}
			if g != want {
				return false, fmt.Sprintf("%s: generation %d, want %d", node, g, want)
			}
		}
		return true, ""
	})
	t.Logf("(a) policy on exactly %d of %d nodes' QoSNodeStates after %v", len(tierA), n, took.Round(time.Millisecond))
	for _, node := range nodes {
		ns, err := nodeState(c, node)
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.Dynamic.Resource(nodeGVR).Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if refs := ns.OwnerReferences; len(refs) != 1 || refs[0].Kind != "Node" || refs[0].Name != node || refs[0].UID != u.GetUID() || ns.Spec.NodeName != node {
			t.Errorf("%s: QoSNodeState owners %+v, spec %+v", node, refs, ns.Spec)
		}
	}
	for _, a := range agents {
		applies, _ := a.nics.totals()
		if slices.Contains(tierA, a.node) != (applies > 0) {
			t.Errorf("%s: %d applies to its NIC", a.node, applies)
		}
	}

	// Relabel one tier=a node: the policy leaves it and its NIC is cleared.
	moved := tierA[0]
	patch := []byte(`{"metadata":{"labels":{"tier":"b"}}}`)
	if _, err := c.Dynamic.Resource(nodeGVR).Patch(ctx, moved, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, 30*time.Second, moved+" drops the policy", func() (bool, string) {
		ns, err := nodeState(c, moved)
		if err != nil {
			return false, err.Error()
		}
		_, removes := byNode[moved].nics.totals()
		_, _, onNIC := byNode[moved].nics.nic("nic0").counts()
		if len(ns.Status.Policies) != 0 || len(ns.Status.Targets) != 0 || removes == 0 || onNIC {
			return false, fmt.Sprintf("policies %v targets %d removes %d", ns.Status.Policies, len(ns.Status.Targets), removes)
		}
		return true, ""
	})
	t.Logf("(a) relabelled %s: state dropped the policy and its NIC was cleared after %v", moved, took.Round(time.Millisecond))
	tierA = tierA[1:]

	// (b) An edit the model refuses (a flow naming an undefined class,
	// which the CRD schema cannot see): errors with field paths on the
	// states, nodes keep their plan.
	_, applies0, removes0 := totalWrites(agents)
	cur, err := c.Dynamic.Resource(kube.PolicyGVR).Get(ctx, "tier-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := cur.Object["spec"].(map[string]any)
	spec["flows"] = append(spec["flows"].([]any), map[string]any{"name": "lost", "class": "platinum",
		"match": map[string]any{"protocol": "tcp", "dstPort": map[string]any{"port": int64(443)}}})
	updated, err := c.Dynamic.Resource(kube.PolicyGVR).Update(ctx, cur, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gen2 := updated.GetGeneration()
	took = waitFor(t, 60*time.Second, "the refusal on every tier=a state", func() (bool, string) {
		for _, node := range tierA {
			ns, err := nodeState(c, node)
			if err != nil {
				return false, err.Error()
			}
			g, obs := appliedGeneration(ns, "tier-a")
			if g != gen1 || obs != gen2 || !strings.Contains(ns.Status.LastError, "spec.flows[1].class") {
				return false, fmt.Sprintf("%s: generation %d observed %d lastError %q", node, g, obs, ns.Status.LastError)
			}
		}
		return true, ""
	})
	ns, _ := nodeState(c, tierA[0])
	t.Logf("(b) refused generation %d on %d states after %v: %s", gen2, len(tierA), took.Round(time.Millisecond), ns.Status.LastError)
	if cond := findCondition(ns.Status.Conditions, v1alpha1.ConditionDegraded); cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != v1alpha1.ReasonInvalidSpec {
		t.Errorf("%s: Degraded condition %+v", tierA[0], cond)
	}
	time.Sleep(time.Second)
	if _, applies, removes := totalWrites(agents); applies != applies0 || removes != removes0 {
		t.Errorf("(b) the refused edit touched NICs: applies %d -> %d, removes %d -> %d", applies0, applies, removes0, removes)
	}

	// (c) Steady state: nothing changes, nothing is written.
	writes0, applies0, _ := totalWrites(agents)
	served0, err := lab.WriteRequests(ctx, v1alpha1.GroupVersion.Group, "qosnodestates")
	if err != nil {
		t.Fatal(err)
	}
	const quiet = 20 * time.Second
	time.Sleep(quiet)
	writes, applies, _ := totalWrites(agents)
	served, err := lab.WriteRequests(ctx, v1alpha1.GroupVersion.Group, "qosnodestates")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("(c) steady state over %v: %d QoSNodeState write requests served by the apiserver, %d made by %d agents (%.2f per agent), %d NIC applies",
		quiet, served-served0, writes-writes0, n, float64(writes-writes0)/n, applies-applies0)
	if writes != writes0 || served != served0 || applies != applies0 {
		t.Errorf("(c) steady state wrote: %d requests served, %d made, %d NIC applies", served-served0, writes-writes0, applies-applies0)
	}
	if served0 < int64(len(tierA)) {
		t.Errorf("(c) the apiserver counted %d QoSNodeState writes so far, fewer than the %d states written: the count is wrong", served0, len(tierA))
	}

	// (d) Apiserver restart: agents keep running, no NIC write, no state
	// write; then an edit proves they resynced.
	writes0, applies0, removes0 = totalWrites(agents)
	t1 := time.Now()
	if err := lab.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("(d) apiserver restarted in %v", time.Since(t1).Round(time.Millisecond))
	time.Sleep(10 * time.Second) // watches resume
	running(t, agents)
	writes, applies, removes := totalWrites(agents)
	t.Logf("(d) after the restart: %d state writes, %d NIC applies, %d removes", writes-writes0, applies-applies0, removes-removes0)
	if writes != writes0 || applies != applies0 || removes != removes0 {
		t.Errorf("(d) the restart alone caused %d state writes, %d applies, %d removes", writes-writes0, applies-applies0, removes-removes0)
	}
	fixed, err := c.Dynamic.Resource(kube.PolicyGVR).Get(ctx, "tier-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec = fixed.Object["spec"].(map[string]any)
	fl := spec["flows"].([]any)
	fl[1].(map[string]any)["class"] = "bulk"
	fixed, err = c.Dynamic.Resource(kube.PolicyGVR).Update(ctx, fixed, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gen3 := fixed.GetGeneration()
	took = waitFor(t, 60*time.Second, "the fixed generation on every tier=a state", func() (bool, string) {
		for _, node := range tierA {
			ns, err := nodeState(c, node)
			if err != nil {
				return false, err.Error()
			}
			if g, _ := appliedGeneration(ns, "tier-a"); g != gen3 || ns.Status.LastError != "" {
				return false, fmt.Sprintf("%s: generation %d lastError %q", node, g, ns.Status.LastError)
			}
		}
		return true, ""
	})
	t.Logf("(d) after the restart, generation %d reached all %d tier=a states in %v", gen3, len(tierA), took.Round(time.Millisecond))
	running(t, agents)
}

func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}
