package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/kube"
	"github.com/qosplane/qosplane/e2e/gnmi/gnmilab"
	"github.com/qosplane/qosplane/e2e/kube/kubelab"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// Controller test timing: short leases so that a takeover takes seconds.
const (
	ctlNS        = "qosplane"
	ctlLease     = 4 * time.Second
	ctlRenew     = 3 * time.Second
	ctlRetry     = 500 * time.Millisecond
	ctlSwitches  = 20
	ctlUser      = "qosadmin"
	ctlPassword1 = "s3cret-first-Pa55"
	ctlPassword2 = "s3cret-second-Pa55"
)

// ctlEnv is the shared fixture: one apiserver, 20 gNMI switches, clients.
type ctlEnv struct {
	t   testing.TB
	lab *kubelab.Lab
	sw  *gnmilab.Lab
	cl  *kube.Clients
	// kubeconfig is what the controller processes use: the admin's, or
	// (asRBAC) the controller ServiceAccount's identity under the RBAC of
	// deploy/kube/controller-rbac.yaml.
	kubeconfig string
	procs      []*ctlProc
}

// ctlProc is one controller process (the real binary).
type ctlProc struct {
	id   string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// TestController runs the fleet controller against a real kube-apiserver
// and 20 lemming gNMI switches: provisioning with credentials from a
// Secret, status aggregation without write churn, leader failover by
// SIGKILL without overlapping switch writes, Secret rotation, and an
// apiserver restart without flapping switch writes.
func TestController(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver, etcd and controller processes")
	}
	e := newCtlEnv(t, ctlSwitches)
	lab := e.lab
	e.asRBAC()
	var err error

	a := e.start("ctl-a")
	e.waitHolder("ctl-a", 30*time.Second)

	// (a) 20 switches from one policy, credentials and CA from a Secret.
	start := time.Now()
	e.applyPolicy("50Mbit")
	st := e.waitStatus("all switches applied at generation 1", 60*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return allApplied(st, 1) && condIs(st, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	t.Logf("RESULT controller_provision_20_switches_seconds=%.3f", time.Since(start).Seconds())
	if n := e.sw.TotalSets(); n != ctlSwitches {
		t.Errorf("sets after provisioning = %d, want %d (one per switch)", n, ctlSwitches)
	}
	for _, s := range st.Switches {
		if s.PlanFingerprint == "" || s.LastError != "" || s.LastUpdateTime == nil {
			t.Errorf("switch %s status %+v: want a fingerprint, no error, an update time", s.Name, s)
		}
	}

	// (d) aggregation: nodes and node states made by hand; an unchanged
	// input makes no status write.
	e.testAggregation()

	// (b) failover: SIGKILL the leader; the standby takes over within the
	// lease duration; its first term re-checks every switch (0 Sets);
	// after an edit it provisions them, and no switch saw both writers in
	// overlapping windows.
	b := e.start("ctl-b")
	e.waitLog(b, "caches synced", 30*time.Second)
	setsBefore := e.sw.TotalSets()
	killed := time.Now()
	must(t, a.cmd.Process.Signal(syscall.SIGKILL))
	<-a.done
	e.waitHolder("ctl-b", 2*ctlLease)
	takeover := time.Since(killed)
	t.Logf("RESULT controller_failover_seconds=%.3f (lease %v, retry %v)", takeover.Seconds(), ctlLease, ctlRetry)
	if takeover > ctlLease+2*ctlRetry {
		t.Errorf("takeover took %v, want within the lease duration %v (+ a retry period)", takeover, ctlLease)
	}
	e.waitLog(b, "switch round", 30*time.Second)
	if n := e.sw.TotalSets() - setsBefore; n != 0 {
		t.Errorf("the new leader's re-check of an up-to-date fleet made %d Sets, want 0", n)
	}
	e.applyPolicy("60Mbit")
	e.waitStatus("all switches applied at generation 2", 60*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return allApplied(st, 2)
	})
	e.checkNoOverlap(killed)

	// (c) rotation: the switches accept only the new password; the
	// Secret's new version makes the controller reconnect with it.
	e.sw.SetPassword(ctlUser, ctlPassword2)
	sec, err := e.cl.Core.CoreV1().Secrets(ctlNS).Get(ctx(t), "switch-auth", metav1.GetOptions{})
	must(t, err)
	sec.Data["password"] = []byte(ctlPassword2)
	_, err = e.cl.Core.CoreV1().Secrets(ctlNS).Update(ctx(t), sec, metav1.UpdateOptions{})
	must(t, err)
	e.applyPolicy("70Mbit")
	setsBefore = e.sw.TotalSets()
	e.waitStatus("all switches applied at generation 3 with the rotated password", 60*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return allApplied(st, 3)
	})
	if n := e.sw.TotalSets() - setsBefore; n != ctlSwitches {
		t.Errorf("sets after rotation and edit = %d, want %d", n, ctlSwitches)
	}

	// apiserver restart: no flapping writes to switches.
	setsBefore = e.sw.TotalSets()
	must(t, lab.RestartAPIServer(ctx(t)))
	time.Sleep(2*ctlLease + 2*time.Second)
	if n := e.sw.TotalSets() - setsBefore; n != 0 {
		t.Errorf("apiserver restart caused %d switch Sets, want 0", n)
	}
	e.waitStatus("still applied after the apiserver restart", 30*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return allApplied(st, 3)
	})

	// A spec only the model refuses: reported with its field path, the
	// running state kept (no Set, switch results as they were); fixing it
	// back to the running plan needs no Set either.
	setsBefore = e.sw.TotalSets()
	e.applyPolicyClass("70Mbit", "vioce")
	st = e.waitStatus("validation errors", 30*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return len(st.ValidationErrors) > 0
	})
	if st.ValidationErrors[0].Field != "spec.flows[0].class" || !condIs(st, v1alpha1.ConditionDegraded, metav1.ConditionTrue) || !allApplied(st, 3) {
		t.Errorf("invalid spec: status %+v", st)
	}
	e.applyPolicyClass("70Mbit", "voice")
	gen := e.policy().Generation
	e.waitStatus("valid again", 30*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return len(st.ValidationErrors) == 0 && allApplied(st, gen)
	})
	if n := e.sw.TotalSets() - setsBefore; n != 0 {
		t.Errorf("an invalid spec and its fix back to the running plan made %d Sets, want 0", n)
	}

	// Nothing secret in logs or status.
	u, err := e.cl.Dynamic.Resource(kube.PolicyGVR).Get(ctx(t), "fleet", metav1.GetOptions{})
	must(t, err)
	raw, _ := json.Marshal(u.Object["status"])
	e.stopAll()
	for _, c := range e.procs {
		data, _ := os.ReadFile(c.log)
		if bytes.Contains(data, []byte("DATA RACE")) || bytes.Contains(data, []byte("panic:")) {
			t.Errorf("%s's log has a data race or a panic:\n%s", c.id, data)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "leading") || strings.Contains(line, "switch round") || strings.Contains(line, "lease") {
				t.Logf("%s: %s", c.id, line)
			}
		}
	}
	for _, p := range []string{ctlPassword1, ctlPassword2} {
		if bytes.Contains(raw, []byte(p)) {
			t.Errorf("a password is on the policy status")
		}
		for _, c := range e.procs {
			if data, _ := os.ReadFile(c.log); bytes.Contains(data, []byte(p)) {
				t.Errorf("a password is in %s's log", c.id)
			}
		}
	}
}

// newCtlEnv starts the apiserver, installs the CRDs, starts n switches
// and creates their Secret (password and CA) in ctlNS.
func newCtlEnv(t testing.TB, n int) *ctlEnv {
	lab := kubelab.ForTest(t, kubelab.Options{})
	e := &ctlEnv{t: t, lab: lab}
	cfg, err := kube.RESTConfig(lab.Kubeconfig(), "controller-test")
	must(t, err)
	e.cl, err = kube.NewClients(cfg)
	must(t, err)
	e.installCRDs()
	_, err = e.cl.Core.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ctlNS}}, metav1.CreateOptions{})
	must(t, err)
	e.sw, err = gnmilab.Start(gnmilab.Options{Targets: n, Username: ctlUser, Password: ctlPassword1})
	must(t, err)
	t.Cleanup(e.sw.Close)
	_, err = e.cl.Core.CoreV1().Secrets(ctlNS).Create(ctx(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "switch-auth"},
		Data:       map[string][]byte{"password": []byte(ctlPassword1), "ca.crt": e.sw.CAPEM},
	}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(e.stopAll)
	return e
}

// asRBAC creates the objects of deploy/kube/controller-rbac.yaml and makes
// the controllers run as its ServiceAccount's user name, so that the test
// fails if that RBAC is not enough.
func (e *ctlEnv) asRBAC() {
	t := e.t
	data, err := os.ReadFile("deploy/kube/controller-rbac.yaml")
	must(t, err)
	rbac := func(r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: r}
	}
	gvrs := map[string]schema.GroupVersionResource{
		"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
		"ClusterRole":    rbac("clusterroles"), "ClusterRoleBinding": rbac("clusterrolebindings"),
		"Role": rbac("roles"), "RoleBinding": rbac("rolebindings"),
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		u := e.decode(doc)
		gvr, ok := gvrs[u.GetKind()]
		if !ok {
			t.Fatalf("unexpected kind %q in controller-rbac.yaml", u.GetKind())
		}
		var ri dynamic.ResourceInterface = e.cl.Dynamic.Resource(gvr)
		if ns := u.GetNamespace(); ns != "" {
			ri = e.cl.Dynamic.Resource(gvr).Namespace(ns)
		}
		_, err := ri.Create(ctx(t), u, metav1.CreateOptions{})
		must(t, err)
	}
	e.kubeconfig, err = e.lab.UserKubeconfig("system:serviceaccount:"+ctlNS+":qosplane-controller",
		"system:serviceaccounts", "system:serviceaccounts:"+ctlNS)
	must(t, err)
}

// testAggregation creates three Nodes (two selected) and their node
// states, checks the counts and conditions, then changes nothing the
// status depends on and checks that no status write follows.
func (e *ctlEnv) testAggregation() {
	t := e.t
	for i, sel := range []bool{true, true, false} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i)}}
		if sel {
			n.Labels = map[string]string{"qosplane.io/role": "edge"}
		}
		_, err := e.cl.Core.CoreV1().Nodes().Create(ctx(t), n, metav1.CreateOptions{})
		must(t, err)
	}
	gen := e.policy().Generation
	e.nodeState("n0", gen, "")
	e.nodeState("n1", gen, "tc: device busy")
	e.nodeState("n2", gen, "")
	st := e.waitStatus("matched 2, ready 1, degraded 1", 30*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return st.MatchedNodes == 2 && st.ReadyNodes == 1 && st.DegradedNodes == 1
	})
	if !condIs(st, v1alpha1.ConditionDegraded, metav1.ConditionTrue) || !condIs(st, v1alpha1.ConditionReady, metav1.ConditionFalse) {
		t.Errorf("conditions %+v: want Degraded True, Ready False", st.Conditions)
	}
	e.nodeState("n1", gen, "")
	st = e.waitStatus("matched 2, ready 2", 30*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
		return st.MatchedNodes == 2 && st.ReadyNodes == 2 && st.DegradedNodes == 0
	})
	if !condIs(st, v1alpha1.ConditionReady, metav1.ConditionTrue) {
		t.Errorf("conditions %+v: want Ready True", st.Conditions)
	}
	// Unchanged input: an annotation on a node state, a label on an
	// unselected node, and a resync period.
	w, err := e.cl.Dynamic.Resource(kube.PolicyGVR).Watch(ctx(t), metav1.ListOptions{
		FieldSelector: "metadata.name=fleet", ResourceVersion: e.policy().ResourceVersion})
	must(t, err)
	defer w.Stop()
	var mu sync.Mutex
	writes := 0
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Modified {
				mu.Lock()
				writes++
				mu.Unlock()
			}
		}
	}()
	_, err = e.cl.Dynamic.Resource(kube.NodeStateGVR).Patch(ctx(t), "n0", "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"touched":"yes"}}}`), metav1.PatchOptions{})
	must(t, err)
	_, err = e.cl.Core.CoreV1().Nodes().Patch(ctx(t), "n2", "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"other":"x"}}}`), metav1.PatchOptions{})
	must(t, err)
	time.Sleep(5 * time.Second) // > 2 resync periods
	mu.Lock()
	defer mu.Unlock()
	t.Logf("RESULT controller_status_writes_on_unchanged_input=%d", writes)
	if writes != 0 {
		t.Errorf("unchanged input made %d status writes, want 0", writes)
	}
}

// checkNoOverlap proves from the switches' Set records that no switch got
// Sets from both controllers in overlapping windows: every Set of ctl-a
// ended before the kill and before ctl-b's first Set on that switch began.
func (e *ctlEnv) checkNoOverlap(killed time.Time) {
	for _, tg := range e.sw.Targets {
		var lastA, firstB time.Time
		for _, s := range tg.Sets() {
			switch s.Identity {
			case "ctl-a":
				if s.End.After(lastA) {
					lastA = s.End
				}
			case "ctl-b":
				if firstB.IsZero() || s.Start.Before(firstB) {
					firstB = s.Start
				}
			default:
				e.t.Errorf("%s: a Set from %q (peer %s), want ctl-a or ctl-b", tg.Name, s.Identity, s.Peer)
			}
		}
		if lastA.IsZero() || firstB.IsZero() {
			e.t.Errorf("%s: Sets from ctl-a until %v, from ctl-b from %v: want both", tg.Name, lastA, firstB)
			continue
		}
		if !lastA.Before(killed) || !lastA.Before(firstB) {
			e.t.Errorf("%s: ctl-a wrote until %v, ctl-b from %v (kill at %v): overlapping", tg.Name, lastA, firstB, killed)
		}
	}
}

func (e *ctlEnv) start(id string) *ctlProc {
	t := e.t
	exe, err := os.Executable()
	must(t, err)
	p := &ctlProc{id: id, log: filepath.Join(t.TempDir(), id+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	must(t, err)
	kc := e.kubeconfig
	if kc == "" {
		kc = e.lab.Kubeconfig()
	}
	p.cmd = exec.Command(exe, "controller", "--kubeconfig", kc, "--namespace", ctlNS,
		"--lease-name", "qosplane-controller", "--identity", id,
		"--lease-duration", ctlLease.String(), "--renew-deadline", ctlRenew.String(), "--retry-period", ctlRetry.String(),
		"--resync", "2s", "--parallelism", "8", "--switch-timeout", "10s", "--log-format", "text")
	p.cmd.Env = append(os.Environ(), envAsMain+"=1")
	p.cmd.Stdout, p.cmd.Stderr = f, f
	must(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	e.procs = append(e.procs, p)
	return p
}

// stopAll ends the controllers still running (SIGTERM, then SIGKILL).
func (e *ctlEnv) stopAll() {
	for _, p := range e.procs {
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

func (e *ctlEnv) waitLog(p *ctlProc, s string, d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(p.log); bytes.Contains(data, []byte(s)) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	data, _ := os.ReadFile(p.log)
	e.t.Fatalf("%s never logged %q:\n%s", p.id, s, data)
}

func (e *ctlEnv) waitHolder(id string, d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	holder := ""
	for time.Now().Before(deadline) {
		l, err := e.cl.Core.CoordinationV1().Leases(ctlNS).Get(ctx(e.t), "qosplane-controller", metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil {
			if holder = *l.Spec.HolderIdentity; holder == id {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("lease holder %q after %v, want %q", holder, d, id)
}

// applyPolicy creates or updates the policy "fleet": two classes, one
// flow, the 20 switches with CA and password from the Secret.
func (e *ctlEnv) applyPolicy(voiceRate string) { e.applyPolicyClass(voiceRate, "voice") }

// applyPolicyClass is applyPolicy with the sip flow in flowClass.
func (e *ctlEnv) applyPolicyClass(voiceRate, flowClass string) {
	e.t.Helper()
	var sw strings.Builder
	for _, tg := range e.sw.Targets {
		fmt.Fprintf(&sw, `
    - name: %s
      address: %q
      interfaces: [Ethernet1, Ethernet2]
      tls:
        serverName: localhost
        caSecretRef: {namespace: %s, name: switch-auth, key: ca.crt}
      credentials:
        username: %s
        passwordSecretRef: {namespace: %s, name: switch-auth}`, tg.Name, tg.Addr, ctlNS, ctlUser, ctlNS)
	}
	doc := fmt.Sprintf(`apiVersion: qosplane.io/v1alpha1
kind: QoSPolicy
metadata:
  name: fleet
spec:
  nodeSelector:
    matchLabels: {qosplane.io/role: edge}
  classes:
    - name: voice
      service: guaranteed
      rate: %s
      mark: {dscp: 46}
    - name: bulk
      service: best-effort
      weight: 1
  flows:
    - name: sip
      class: %s
      match: {protocol: udp, dstPort: {port: 5060}}
  switches:%s
`, voiceRate, flowClass, sw.String())
	u := e.decode(doc)
	ri := e.cl.Dynamic.Resource(kube.PolicyGVR)
	cur, err := ri.Get(ctx(e.t), "fleet", metav1.GetOptions{})
	if err != nil {
		_, err = ri.Create(ctx(e.t), u, metav1.CreateOptions{})
		must(e.t, err)
		return
	}
	cur.Object["spec"] = u.Object["spec"]
	_, err = ri.Update(ctx(e.t), cur, metav1.UpdateOptions{})
	must(e.t, err)
}

func (e *ctlEnv) policy() *v1alpha1.QoSPolicy {
	e.t.Helper()
	u, err := e.cl.Dynamic.Resource(kube.PolicyGVR).Get(ctx(e.t), "fleet", metav1.GetOptions{})
	must(e.t, err)
	var qp v1alpha1.QoSPolicy
	must(e.t, kube.FromUnstructured(u, &qp))
	return &qp
}

func (e *ctlEnv) waitStatus(what string, d time.Duration, ok func(*v1alpha1.QoSPolicyStatus) bool) *v1alpha1.QoSPolicyStatus {
	e.t.Helper()
	deadline := time.Now().Add(d)
	var qp *v1alpha1.QoSPolicy
	for time.Now().Before(deadline) {
		if qp = e.policy(); qp.Status.ObservedGeneration == qp.Generation && ok(&qp.Status) {
			return &qp.Status
		}
		time.Sleep(100 * time.Millisecond)
	}
	js, _ := json.MarshalIndent(qp.Status, "", "  ")
	e.t.Fatalf("status never showed %s within %v:\n%s", what, d, js)
	return nil
}

// nodeState creates or updates node's QoSNodeState: it runs policy
// "fleet" at gen, with a target error when lastErr is set.
func (e *ctlEnv) nodeState(node string, gen int64, lastErr string) {
	e.t.Helper()
	ri := e.cl.Dynamic.Resource(kube.NodeStateGVR)
	u, err := ri.Get(ctx(e.t), node, metav1.GetOptions{})
	if err != nil {
		u, err = ri.Create(ctx(e.t), e.decode(fmt.Sprintf("apiVersion: qosplane.io/v1alpha1\nkind: QoSNodeState\nmetadata: {name: %s}\nspec: {nodeName: %s}\n", node, node)), metav1.CreateOptions{})
		must(e.t, err)
	}
	st := v1alpha1.QoSNodeStateStatus{
		Policies: []v1alpha1.AppliedPolicy{{Name: "fleet", Generation: gen, ObservedGeneration: gen}},
		Targets: []v1alpha1.TargetState{{Policy: "fleet", Name: "eth", Kind: "nic", Interface: "eth0",
			TargetResult: v1alpha1.TargetResult{LastError: lastErr}}},
	}
	js, err := json.Marshal(st)
	must(e.t, err)
	var m map[string]any
	must(e.t, json.Unmarshal(js, &m))
	u.Object["status"] = m
	_, err = ri.UpdateStatus(ctx(e.t), u, metav1.UpdateOptions{})
	must(e.t, err)
}

func (e *ctlEnv) decode(doc string) *unstructured.Unstructured {
	e.t.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	must(e.t, err)
	u := &unstructured.Unstructured{}
	must(e.t, u.UnmarshalJSON(js))
	return u
}

// installCRDs creates the CRDs of deploy/crds and waits until both
// resources are served.
func (e *ctlEnv) installCRDs() {
	t := e.t
	crd := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, f := range []string{"deploy/crds/qosplane.io_qospolicies.yaml", "deploy/crds/qosplane.io_qosnodestates.yaml"} {
		data, err := os.ReadFile(f)
		must(t, err)
		_, err = e.cl.Dynamic.Resource(crd).Create(ctx(t), e.decode(string(data)), metav1.CreateOptions{})
		must(t, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, gvr := range []schema.GroupVersionResource{kube.PolicyGVR, kube.NodeStateGVR} {
		for {
			_, err := e.cl.Dynamic.Resource(gvr).List(ctx(t), metav1.ListOptions{})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not served: %v", gvr.Resource, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func allApplied(st *v1alpha1.QoSPolicyStatus, gen int64) bool {
	return allAppliedN(st, gen, ctlSwitches)
}

// allAppliedN: n switches on the status, all applied at gen.
func allAppliedN(st *v1alpha1.QoSPolicyStatus, gen int64, n int) bool {
	if len(st.Switches) != n {
		return false
	}
	for _, s := range st.Switches {
		if !s.Applied || s.AppliedGeneration != gen {
			return false
		}
	}
	return true
}

func condIs(st *v1alpha1.QoSPolicyStatus, typ string, want metav1.ConditionStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status == want
		}
	}
	return false
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
