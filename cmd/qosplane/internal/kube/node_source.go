package kube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/qosplane/qosplane/model"
	mkube "github.com/qosplane/qosplane/model/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	"github.com/qosplane/qosplane/offload"
)

// NodeSource is the node agent's agent.Source in the fleet mode: the
// QoSPolicies whose spec.nodeSelector matches its Node's labels, each
// converted with model/kube for this node (NIC templates resolved by
// Resolver) and merged into one policy (see mergePolicies).
//
// It watches only (watchStore: list then watch, no polling, no periodic
// resync): qospolicies and its own Node (a field selector on
// metadata.name). Every event recomputes the selection and signals
// Changed when the merged policy's fingerprint moved; a watch that
// loses the apiserver keeps its cache, so the running policy stays until
// the watch resumes and relists, which changes nothing when nothing
// changed.
type NodeSource struct {
	clients  *Clients
	node     string
	resolver mkube.Resolver
	log      *slog.Logger

	changed chan struct{}

	policies, nodes *watchStore

	mu      sync.Mutex
	fp      string                 // fingerprint of the merged policy Poll last returned
	polled  bool                   // Poll returned a policy
	prev    map[string]nodeApplied // versions the node runs, by policy
	results []PolicyResult         // of the last Poll, by name
	targets map[string]string      // target name -> policy of the last Poll
	ifaces  map[string][2]string   // target name -> interface, PCI
	nodeUID types.UID
	nodeErr string
	// listeners are told after every Poll that moved the results.
	listeners []func()
}

// agentNodeGVR is the core Nodes resource.
var agentNodeGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// NewNodeSource returns the source of node; Start runs its informers.
func NewNodeSource(c *Clients, node string, r mkube.Resolver, log *slog.Logger) *NodeSource {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &NodeSource{clients: c, node: node, resolver: r, log: log, changed: make(chan struct{}, 1),
		prev: map[string]nodeApplied{}, targets: map[string]string{}}
}

// String implements agent.Source.
func (s *NodeSource) String() string { return "kubernetes:qospolicies/node=" + s.node }

// Changed implements agent.Source.
func (s *NodeSource) Changed() <-chan struct{} { return s.changed }

// OnResults registers f, called (without locks held) after a Poll whose
// per-policy results differ from the previous ones.
func (s *NodeSource) OnResults(f func()) {
	s.mu.Lock()
	s.listeners = append(s.listeners, f)
	s.mu.Unlock()
}

func (s *NodeSource) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Start starts the watches and waits until both have listed once. They
// run until ctx ends.
func (s *NodeSource) Start(ctx context.Context) error {
	s.policies = newWatchStore("qospolicies", s.clients.Dynamic.Resource(PolicyGVR), metav1.ListOptions{}, s.signal, s.log)
	s.nodes = newWatchStore("nodes", s.clients.Dynamic.Resource(agentNodeGVR),
		metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", s.node).String()}, s.signal, s.log)
	go s.policies.run(ctx)
	go s.nodes.run(ctx)
	for _, w := range []*watchStore{s.policies, s.nodes} {
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubernetes: qospolicies and node %s did not list before the agent stopped", s.node)
		case <-w.synced:
		}
	}
	return nil
}

// NodeUID returns the Node's UID, empty until the Node is seen.
func (s *NodeSource) NodeUID() types.UID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodeUID
}

// Results returns the per-policy results of the last Poll, by name, and
// the node's own error ("" when the Node is known).
func (s *NodeSource) Results() ([]PolicyResult, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PolicyResult, len(s.results))
	for i, r := range s.results {
		out[i] = r
		out[i].Errors = slices.Clone(r.Errors)
	}
	return out, s.nodeErr
}

// TargetPolicy returns the QoSPolicy a target of the running policy comes
// from.
func (s *NodeSource) TargetPolicy(target string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.targets[target]
}

// targetInterface returns the interface and PCI address a NIC target of
// the running policy resolved to.
func (s *NodeSource) targetInterface(target string) (v1alpha1.InterfaceName, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.ifaces[target]
	return v1alpha1.InterfaceName(i[0]), i[1]
}

// Poll implements agent.Source: the merged policy when it differs from the
// one last returned. It never returns an error: a policy the model refuses
// keeps the node on its previous generation, with the errors in Results.
func (s *NodeSource) Poll(bool) (*model.Policy, error) {
	labelSet, uid, nodeErr := s.nodeLabels()
	var newest []nodeCandidate
	results := map[string]*PolicyResult{}
	if nodeErr == "" {
		for _, u := range s.policies.list() {
			qp := new(v1alpha1.QoSPolicy)
			if err := FromUnstructured(u, qp); err != nil {
				s.log.Warn("undecodable QoSPolicy ignored", "policy", u.GetName(), "err", err)
				continue
			}
			sel := labels.Everything()
			if qp.Spec.NodeSelector != nil {
				var err error
				if sel, err = metav1.LabelSelectorAsSelector(qp.Spec.NodeSelector); err != nil {
					results[qp.Name] = &PolicyResult{Name: qp.Name, ObservedGeneration: qp.Generation,
						Errors: []v1alpha1.ValidationError{{Field: "spec.nodeSelector", Message: err.Error()}}}
					newest = append(newest, nodeCandidate{name: qp.Name, generation: qp.Generation})
					continue
				}
			}
			if !sel.Matches(labelSet) {
				continue
			}
			p, err := mkube.ToNodePolicy(qp, s.resolver)
			results[qp.Name] = &PolicyResult{Name: qp.Name, ObservedGeneration: qp.Generation, Errors: mkube.StatusErrors(err)}
			c := nodeCandidate{name: qp.Name, generation: qp.Generation, nics: len(qp.Spec.NICs)}
			if err == nil {
				c.policy = p
			}
			newest = append(newest, c)
		}
	}
	slices.SortFunc(newest, func(a, b nodeCandidate) int { return strings.Compare(a.name, b.name) })

	s.mu.Lock()
	merged, run := mergePolicies(newest, s.prev, results)
	s.prev = run
	s.nodeUID, s.nodeErr = uid, nodeErr
	list := make([]PolicyResult, 0, len(results))
	for _, r := range results {
		list = append(list, *r)
	}
	slices.SortFunc(list, func(a, b PolicyResult) int { return strings.Compare(a.Name, b.Name) })
	moved := !resultsEqual(list, s.results)
	s.results = list
	targets, ifaces := map[string]string{}, map[string][2]string{}
	for name, a := range run {
		for _, t := range a.policy.Targets {
			targets[t.Name] = name
			ifaces[t.Name] = [2]string{t.Interface, t.PCI}
		}
	}
	s.targets, s.ifaces = targets, ifaces
	fp := offload.Fingerprint(merged)
	same := s.polled && fp == s.fp
	s.fp, s.polled = fp, true
	listeners := slices.Clone(s.listeners)
	s.mu.Unlock()

	if moved {
		for _, f := range listeners {
			f()
		}
	}
	if same {
		return nil, nil
	}
	s.log.Info("node policy recomputed", "policies", len(run), "selected", len(list), "targets", len(merged.Targets))
	return merged, nil
}

// nodeLabels returns the Node's labels and UID, or why it has none.
func (s *NodeSource) nodeLabels() (labels.Set, types.UID, string) {
	for _, n := range s.nodes.list() {
		if n.GetName() == s.node {
			return labels.Set(n.GetLabels()), n.GetUID(), ""
		}
	}
	return nil, "", fmt.Sprintf("node %s: no Node object: no QoSPolicy applies until it exists", s.node)
}

func resultsEqual(a, b []PolicyResult) bool {
	return slices.EqualFunc(a, b, func(x, y PolicyResult) bool {
		return x.Name == y.Name && x.Generation == y.Generation && x.ObservedGeneration == y.ObservedGeneration &&
			slices.Equal(x.Errors, y.Errors)
	})
}
