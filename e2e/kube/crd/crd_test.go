package crd_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/kube/kubelab"
	"github.com/qosplane/qosplane/model/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// repo is the repository root, seen from this package's directory.
const repo = "../../.."

// policy is a QoSPolicy manifest named name with spec (YAML indented by
// two spaces).
func policy(name, spec string) string {
	return fmt.Sprintf("apiVersion: qosplane.io/v1alpha1\nkind: QoSPolicy\nmetadata:\n  name: %s\nspec:\n%s", name, spec)
}

// TestCRDs installs the generated CRDs into a real kube-apiserver and
// checks them with kubectl: good policies apply, bad ones are refused with
// their field path, printer columns print, status subresources update.
func TestCRDs(t *testing.T) {
	kc := kubelab.NewKubectl(t)
	t0 := time.Now()
	lab := kubelab.ForTest(t, kubelab.Options{})
	t.Logf("lab up in %v", time.Since(t0).Round(time.Millisecond))
	k := &kubectl{Kubectl: kc, kubeconfig: lab.Kubeconfig()}

	// The CRDs install and become Established.
	k.must("", "apply", "-f", filepath.Join(repo, "cmd/qosplane/deploy/crds"))
	k.must("", "wait", "--for=condition=Established", "--timeout=60s",
		"crd/qospolicies.qosplane.io", "crd/qosnodestates.qosplane.io")

	// The QoSPolicy form of examples/host.yaml applies (retried while the
	// new resources reach discovery).
	host := filepath.Join(repo, "model/kube/testdata/host.yaml")
	kubelab.Eventually(t, 20*time.Second, "apply the host policy", func() error {
		_, errOut, err := k.run("", "apply", "-f", host)
		if err != nil {
			return fmt.Errorf("%w: %s", err, errOut)
		}
		return nil
	})
	kubelab.Eventually(t, 20*time.Second, "list QoSNodeStates", func() error {
		_, errOut, err := k.run("", "get", "qosnodestates")
		if err != nil {
			return fmt.Errorf("%w: %s", err, errOut)
		}
		return nil
	})

	t.Run("StoredPolicyConverts", func(t *testing.T) { testStoredPolicyConverts(t, k) })
	t.Run("Accepted", func(t *testing.T) { testAccepted(t, k) })
	t.Run("Refused", func(t *testing.T) { testRefused(t, k) })
	t.Run("ModelErrorsOnStatus", func(t *testing.T) { testModelErrorsOnStatus(t, k) })
	t.Run("PolicyPrinterColumns", func(t *testing.T) { testPolicyPrinterColumns(t, k) })
	t.Run("NodeState", func(t *testing.T) { testNodeState(t, k) })
}

// getPolicy reads a QoSPolicy back from the apiserver into the Go type,
// strictly: a field the types lack fails, so types and CRD agree.
func getPolicy(t *testing.T, k *kubectl, name string) *v1alpha1.QoSPolicy {
	t.Helper()
	out := k.must("", "get", "qospolicy", name, "-o", "json")
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var qp v1alpha1.QoSPolicy
	if err := dec.Decode(&qp); err != nil {
		t.Fatalf("decode QoSPolicy %s: %v\n%s", name, err, out)
	}
	return &qp
}

// testStoredPolicyConverts reads the host policy back and converts it into
// the model: what the apiserver stores is what the model accepts.
func testStoredPolicyConverts(t *testing.T, k *kubectl) {
	qp := getPolicy(t, k, "host")
	p, err := kube.ToPolicy(qp)
	if err != nil {
		t.Fatalf("stored host policy does not convert: %v", err)
	}
	if len(p.Classes) != 5 || len(p.Flows) != 8 || len(p.Targets) != 1 || p.Targets[0].Interface != "ens1f0np0" {
		t.Errorf("converted policy: %d classes, %d flows, targets %+v", len(p.Classes), len(p.Flows), p.Targets)
	}
	if qp.Spec.NodeSelector == nil || qp.Spec.NodeSelector.MatchLabels["qosplane.io/profile"] != "storage-host" {
		t.Errorf("nodeSelector %+v", qp.Spec.NodeSelector)
	}
}

// testAccepted applies valid policies that exercise every rule's edges:
// the CEL rules must not refuse what the model accepts.
func testAccepted(t *testing.T, k *kubectl) {
	for _, tc := range []struct{ name, spec string }{
		{"units", `  classes:
  - {name: a, service: guaranteed, rate: 1.5Gbit, peak: 1500Mbit, bucket: 2KiB, maxSDU: 2048B, minPoliced: 64B}
  - {name: b, service: controlled-load, rate: 64kbit, peak: 0bit, bucket: 1.6kB, nonConforming: shape}
  - {name: c, rate: 1Tbit, bucket: 1GiB, maxSDU: 9000B, priority: 0, weight: 65535}
  - {name: d, service: network-control, maxSDU: 64B, minPoliced: 64B, mark: {dscp: 63, pcp: 7}, markNonConforming: {dscp: 0, pcp: 0}}
`},
		{"flows", `  classes:
  - {name: voice}
  flows:
  - {class: voice, direction: both, match: {protocol: sctp, srcPort: {port: 1}, dstPort: {port: 1000, endPort: 1000}}}
  - {class: voice, match: {protocol: tcp, dstPort: {port: 1, endPort: 65535}, vlan: 4094, dscp: 0, interface: eth0}}
  - {name: v6, class: voice, match: {protocol: icmpv6, dst: "2001:db8::/32"}, police: {rate: 1Mbit, burst: 32KiB}, remark: {dscp: 10}}
  - {name: backup, class: voice, match: {cgroup: system.slice/backup.service, protocol: tcp, dstPort: {port: 873}}}
  - {name: pods, class: voice, match: {cgroup: "kubepods.slice/kubepods-burstable.slice/*"}}
`},
		{"targets", `  nodeSelector:
    matchExpressions:
    - {key: kubernetes.io/os, operator: In, values: [linux]}
  marking:
    bestEffort: {dscp: 0}
    guaranteed: {dscp: 46, pcp: 5}
    nonConforming: {dscp: 8}
  classes:
  - {name: voice, service: guaranteed, rate: 10Mbit}
  nics:
  - {name: by-name, interface: {name: ens1f0np0}, fallback: {mode: bridge, peer: ens1f1np1, onFailure: block}, capacity: 25Gbit}
  - {name: by-pattern, interface: {namePattern: "ens*f0np0"}, representors: [pf0vf0, pf0vf1], fallback: {mode: attach, onFailure: bypass}}
  - {name: by-driver, interface: {driver: mlx5_core}, profile: connectx6dx, classes: [voice]}
  - {name: by-pci, interface: {pciID: {vendor: 15b3, device: 101d}}}
  - {name: by-route, interface: {defaultRoute: true}}
  - {name: by-name-too, interface: {name: eth1, defaultRoute: false}}
  switches:
  - name: leaf1
    address: "[2001:db8::1]:9339"
    interfaces: [Ethernet1/1, Ethernet1/2]
    capacity: 100Gbit
    tls:
      caSecretRef: {namespace: qosplane, name: fabric-ca}
      clientCertSecretRef: {namespace: qosplane, name: leaf1-client}
      serverName: leaf1.example
    credentials:
      username: qos
      passwordSecretRef: {namespace: qosplane, name: leaf1, key: password}
  - {name: lab-switch, address: "10.0.0.9:6030", interfaces: [Ethernet1], tls: {insecure: true}, credentials: {username: admin}}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := k.apply(policy("ok-"+tc.name, tc.spec)); err != nil {
				t.Fatalf("valid policy refused: %v", err)
			}
			if _, err := kube.ToPolicy(getPolicy(t, k, "ok-"+tc.name)); err != nil {
				t.Errorf("the model refuses it: %v", err)
			}
		})
	}
}

// testRefused applies bad policies: kubectl apply must fail with the
// field path and the rule's message.
func testRefused(t *testing.T, k *kubectl) {
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"peak-below-rate", `  classes:
  - {name: voice, service: guaranteed, rate: 100Mbit, peak: 50Mbit}
`, []string{"spec.classes[0].peak", "peak 50Mbit is below rate 100Mbit"}},
		{"peak-below-rate-units", `  classes:
  - {name: voice, rate: 1.5Gbit, peak: 1499Mbit}
`, []string{"spec.classes[0].peak", "peak 1499Mbit is below rate 1.5Gbit"}},
		{"dscp-64", `  classes:
  - {name: voice, mark: {dscp: 64}}
`, []string{"spec.classes[0].mark.dscp", "should be less than or equal to 63"}},
		{"pcp-8", `  classes:
  - {name: voice, markNonConforming: {pcp: 8}}
`, []string{"spec.classes[0].markNonConforming.pcp", "should be less than or equal to 7"}},
		{"unknown-service", `  classes:
  - {name: voice, service: premium}
`, []string{"spec.classes[0].service", `Unsupported value: "premium"`, `"best-effort"`}},
		{"rate-syntax", `  classes:
  - {name: voice, rate: 100Mbps}
`, []string{"spec.classes[0].rate", "should match", `[kMGT]?bit$`}},
		{"size-syntax", `  classes:
  - {name: voice, rate: 1Mbit, bucket: 64kb}
`, []string{"spec.classes[0].bucket", "should match"}},
		{"bucket-below-maxsdu", `  classes:
  - {name: voice, rate: 1Mbit, bucket: 1KiB}
`, []string{"spec.classes[0].bucket", "bucket 1KiB is smaller than maxSDU 1518B"}},
		{"minpoliced-above-maxsdu", `  classes:
  - {name: voice, minPoliced: 1.5kB, maxSDU: 1400B}
`, []string{"spec.classes[0].minPoliced", "minPoliced 1.5kB is larger than maxSDU 1400B"}},
		{"guaranteed-without-rate", `  classes:
  - {name: voice, service: guaranteed}
`, []string{"spec.classes[0].rate", "needs a rate"}},
		{"duplicate-class", `  classes:
  - {name: voice}
  - {name: voice}
`, []string{"spec.classes[1]", "Duplicate value"}},
		{"bad-name", `  classes:
  - {name: "-voice"}
`, []string{"spec.classes[0].name", "should match"}},
		{"port-range-reversed", `  classes: [{name: voice}]
  flows:
  - {class: voice, match: {protocol: udp, dstPort: {port: 2000, endPort: 1000}}}
`, []string{"spec.flows[0].match.dstPort.endPort", "endPort must be at least port"}},
		{"port-0", `  classes: [{name: voice}]
  flows:
  - {class: voice, match: {protocol: udp, srcPort: {port: 0}}}
`, []string{"spec.flows[0].match.srcPort.port", "should be greater than or equal to 1"}},
		{"port-without-protocol", `  classes: [{name: voice}]
  flows:
  - {class: voice, match: {protocol: icmp, dstPort: {port: 53}}}
`, []string{"spec.flows[0].match.dstPort", "a port match needs protocol tcp, udp or sctp"}},
		{"cgroup-with-address", `  classes: [{name: voice}]
  flows:
  - {class: voice, match: {cgroup: system.slice/backup.service, dst: 10.0.0.0/8}}
`, []string{"spec.flows[0].match.cgroup", "only protocol and dstPort may go with it"}},
		{"cgroup-empty", `  classes: [{name: voice}]
  flows:
  - {class: voice, match: {cgroup: ""}}
`, []string{"spec.flows[0].match.cgroup", "should be at least 1 chars long"}},
		{"unknown-protocol", `  classes: [{name: voice}]
  flows:
  - {class: voice, match: {protocol: gre}}
`, []string{"spec.flows[0].match.protocol", `Unsupported value: "gre"`}},
		{"vlan-4095", `  classes: [{name: voice}]
  flows:
  - {class: voice, match: {vlan: 4095}}
`, []string{"spec.flows[0].match.vlan", "should be less than or equal to 4094"}},
		{"bridge-without-peer", `  classes: [{name: voice}]
  nics:
  - {name: nic, interface: {name: eth0}, fallback: {mode: bridge}}
`, []string{"spec.nics[0].fallback.peer", "bridge mode needs a peer interface"}},
		{"peer-is-interface", `  classes: [{name: voice}]
  nics:
  - {name: nic, interface: {name: eth0}, fallback: {mode: bridge, peer: eth0}}
`, []string{"spec.nics[0].fallback.peer", "must differ from the interface"}},
		{"block-in-attach", `  classes: [{name: voice}]
  nics:
  - {name: nic, interface: {name: eth0}, fallback: {onFailure: block}}
`, []string{"spec.nics[0].fallback.onFailure", "attach mode always fails open"}},
		{"two-selectors", `  classes: [{name: voice}]
  nics:
  - {name: nic, interface: {name: eth0, driver: ice}}
`, []string{"spec.nics[0].interface", "set exactly one of"}},
		{"no-selector", `  classes: [{name: voice}]
  nics:
  - {name: nic, interface: {defaultRoute: false}}
`, []string{"spec.nics[0].interface", "set exactly one of"}},
		{"interface-too-long", `  classes: [{name: voice}]
  nics:
  - {name: nic, interface: {name: enp0s31f6abcdefgh}}
`, []string{"spec.nics[0].interface.name", "Too long"}},
		{"unknown-target-kind-field", `  classes: [{name: voice}]
  nics:
  - {name: nic, interface: {name: eth0}, address: "leaf:9339"}
`, []string{`unknown field "spec.nics[0].address"`}},
		{"switch-address-without-port", `  classes: [{name: voice}]
  switches:
  - {name: leaf, address: leaf1, interfaces: [Ethernet1]}
`, []string{"spec.switches[0].address", "should match"}},
		{"password-without-tls", `  classes: [{name: voice}]
  switches:
  - name: leaf
    address: leaf1:9339
    interfaces: [Ethernet1]
    tls: {insecure: true}
    credentials: {username: qos, passwordSecretRef: {namespace: qosplane, name: leaf}}
`, []string{"spec.switches[0].tls.insecure", "a password is never sent without TLS"}},
		{"nic-and-switch-same-name", `  classes: [{name: voice}]
  nics:
  - {name: edge, interface: {name: eth0}}
  switches:
  - {name: edge, address: leaf1:9339, interfaces: [Ethernet1]}
`, []string{"spec.switches", "a NIC target and a switch target may not share a name"}},
		{"no-classes", `  classes: []
`, []string{"spec.classes", "should have at least 1 items"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// kubectl's default --validate=strict leaves every check to
			// the apiserver (fieldValidation=Strict).
			_, errOut, err := k.run(policy("bad-"+tc.name, tc.spec), "apply", "-f", "-")
			if err == nil {
				k.run("", "delete", "qospolicy", "bad-"+tc.name)
				t.Fatalf("%v\nwant a refusal with %q", errNotRefused, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("kubectl's error lacks %q:\n%s", w, errOut)
				}
			}
			t.Logf("refused: %s", strings.TrimSpace(errOut))
		})
	}

	// The policy name prefixes what qosplane installs: no "--".
	t.Run("name-with-double-dash", func(t *testing.T) {
		_, errOut, err := k.run(policy("a--b", "  classes: [{name: voice}]\n"), "apply", "-f", "-")
		if err == nil {
			t.Fatal(errNotRefused)
		}
		if !strings.Contains(errOut, `a QoSPolicy name has at most 63 characters and no "--"`) {
			t.Errorf("kubectl's error lacks the name rule:\n%s", errOut)
		}
	})
}

// testModelErrorsOnStatus applies a policy the schema cannot fault but the
// model refuses (a flow naming an undefined class, equally specific
// overlapping flows, admission control), converts it as the controller
// will, and writes the errors to the status subresource.
func testModelErrorsOnStatus(t *testing.T, k *kubectl) {
	const name = "model-invalid"
	spec := `  classes:
  - {name: voice, service: guaranteed, rate: 50Mbit}
  flows:
  - {name: a, class: vioce, match: {protocol: udp, dstPort: {port: 5060}}}
  - {name: b, class: voice, match: {protocol: udp, dstPort: {port: 5060}}}
  nics:
  - {name: nic, interface: {name: eth0}, capacity: 10Mbit}
`
	if err := k.apply(policy(name, spec)); err != nil {
		t.Fatalf("the schema refused what only the model can find: %v", err)
	}
	qp := getPolicy(t, k, name)
	_, err := kube.ToPolicy(qp)
	errs := kube.StatusErrors(err)
	want := []string{"spec.flows[0].class", "spec.flows[1].match", "spec.nics[0].capacity"}
	if len(errs) != len(want) {
		t.Fatalf("model errors %+v, want %d at %q", errs, len(want), want)
	}
	for i, w := range want {
		if errs[i].Field != w {
			t.Errorf("error %d at %s, want %s: %s", i, errs[i].Field, w, errs[i].Message)
		}
	}

	status := v1alpha1.QoSPolicyStatus{
		ObservedGeneration: qp.Generation,
		ValidationErrors:   errs,
	}
	status.Conditions = append(status.Conditions, condition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, errs[0].Field+": "+errs[0].Message))
	patchStatus(t, k, "qospolicy", name, status)

	got := getPolicy(t, k, name).Status
	if len(got.ValidationErrors) != 3 || got.ValidationErrors[0] != errs[0] || got.ObservedGeneration != qp.Generation {
		t.Errorf("status read back: %+v", got)
	}
	if len(got.Conditions) != 1 || got.Conditions[0].Reason != v1alpha1.ReasonInvalidSpec {
		t.Errorf("conditions read back: %+v", got.Conditions)
	}
}

// condition is a condition that changed now.
func condition(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
}

// patchStatus merges status into the object's status subresource.
func patchStatus(t *testing.T, k *kubectl, resource, name string, status any) {
	t.Helper()
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		t.Fatal(err)
	}
	k.must("", "patch", resource, name, "--subresource=status", "--type=merge", "-p", string(patch))
}

// columns splits kubectl get's output into header and rows of fields
// separated by two or more spaces.
func columns(out string) [][]string {
	var rows [][]string
	sep := regexp.MustCompile(`\s{2,}`)
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, sep.Split(strings.TrimSpace(line), -1))
	}
	return rows
}

// row returns the row of get's output whose first column is name.
func row(t *testing.T, out, name string) (header, fields []string) {
	t.Helper()
	rows := columns(out)
	for _, r := range rows[1:] {
		if r[0] == name {
			return rows[0], r
		}
	}
	t.Fatalf("no row %q in\n%s", name, out)
	return nil, nil
}

// testPolicyPrinterColumns checks kubectl get qospolicies' columns, empty
// and then filled from the status.
func testPolicyPrinterColumns(t *testing.T, k *kubectl) {
	header, _ := row(t, k.must("", "get", "qospolicies"), "host")
	if got, want := strings.Join(header, "|"), "NAME|CLASSES|FLOWS|MATCHED|READY|DEGRADED|AGE"; got != want {
		t.Fatalf("header %s, want %s", got, want)
	}
	patchStatus(t, k, "qospolicy", "host", v1alpha1.QoSPolicyStatus{
		ObservedGeneration: 1, ClassCount: 5, FlowCount: 8, MatchedNodes: 3, ReadyNodes: 2, DegradedNodes: 1,
		Switches: []v1alpha1.SwitchStatus{{Name: "leaf1", Address: "leaf1:9339", Applied: true, TargetResult: v1alpha1.TargetResult{
			Placement: v1alpha1.PlacementHardware, Counts: v1alpha1.PlacementCounts{Hardware: 13}, AppliedGeneration: 1, PlanFingerprint: "3f2a9c"}}},
	})
	out := k.must("", "get", "qospolicies")
	_, fields := row(t, out, "host")
	if got, want := strings.Join(fields[:6], "|"), "host|5|8|3|2|1"; got != want {
		t.Errorf("row %s, want %s\n%s", got, want, out)
	}
	t.Logf("kubectl get qospolicies:\n%s", out)
	// The short name and the category work too.
	k.must("", "get", "qosp", "host")
	if out := k.must("", "get", "qosplane"); !strings.Contains(out, "qospolicy.qosplane.io/host") {
		t.Errorf("kubectl get qosplane (the category) lacks host:\n%s", out)
	}
}

// testNodeState creates a Node and its QoSNodeState (owned by the Node),
// updates the state's status subresource as an agent does, and checks the
// printer columns and the name rule.
func testNodeState(t *testing.T, k *kubectl) {
	const node = "node-a"
	k.must("apiVersion: v1\nkind: Node\nmetadata:\n  name: "+node+"\n", "apply", "-f", "-")
	uid := strings.TrimSpace(k.must("", "get", "node", node, "-o", "jsonpath={.metadata.uid}"))

	state := fmt.Sprintf(`apiVersion: qosplane.io/v1alpha1
kind: QoSNodeState
metadata:
  name: %[1]s
  ownerReferences:
  - {apiVersion: v1, kind: Node, name: %[1]s, uid: %[2]s}
spec:
  nodeName: %[1]s
`, node, uid)
	if err := k.apply(state); err != nil {
		t.Fatal(err)
	}

	header, _ := row(t, k.must("", "get", "qosnodestates"), node)
	if got, want := strings.Join(header, "|"), "NAME|TARGETS|PLACEMENT|READY|AGE"; got != want {
		t.Fatalf("header %s, want %s", got, want)
	}

	counts := v1alpha1.PlacementCounts{Hardware: 14, Software: 2, Unsupported: 1}
	status := v1alpha1.QoSNodeStateStatus{
		Policies: []v1alpha1.AppliedPolicy{{Name: "host", Generation: 1, ObservedGeneration: 1}},
		Targets: []v1alpha1.TargetState{{
			Policy: "host", Name: "host-nic", Kind: v1alpha1.NIC, Interface: "ens1f0np0", PCI: "0000:3b:00.0",
			TargetResult: v1alpha1.TargetResult{
				Placement: counts.Least(), Counts: counts, AppliedGeneration: 1, PlanFingerprint: "9d41e07c",
				Reasons: []string{"connectx6dx cannot offload ingress police", "rtp-trunk: receive steering into a TC exists only in hardware"},
			},
		}},
		PlanFingerprint: "9d41e07c",
		Summary:         v1alpha1.NodeSummary{Targets: 1, Counts: counts, Placement: counts.String()},
	}
	status.Conditions = append(status.Conditions, condition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonApplied, "host generation 1 applied"))
	patchStatus(t, k, "qosnodestate", node, status)

	out := k.must("", "get", "qosnodestates")
	_, fields := row(t, out, node)
	if got, want := strings.Join(fields[:4], "|"), node+"|1|hardware 14, software 2, pacer 0, unsupported 1|True"; got != want {
		t.Errorf("row %s, want %s\n%s", got, want, out)
	}
	t.Logf("kubectl get qosnodestates:\n%s", out)

	// The status read back has what the agent wrote, and the main
	// resource cannot write it.
	js := k.must("", "get", "qosnodestate", node, "-o", "json")
	var got v1alpha1.QoSNodeState
	dec := json.NewDecoder(bytes.NewReader([]byte(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode QoSNodeState: %v", err)
	}
	if len(got.Status.Targets) != 1 || got.Status.Targets[0].Placement != v1alpha1.PlacementUnsupported ||
		len(got.OwnerReferences) != 1 || string(got.OwnerReferences[0].UID) != uid {
		t.Errorf("QoSNodeState read back: %+v", got)
	}
	_, errOut, err := k.run("", "patch", "qosnodestate", node, "--type=merge", "-p", `{"status":{"planFingerprint":"changed"}}`)
	if err != nil {
		t.Fatalf("patch without subresource: %v: %s", err, errOut)
	}
	if fp := k.must("", "get", "qosnodestate", node, "-o", "jsonpath={.status.planFingerprint}"); fp != "9d41e07c" {
		t.Errorf("a patch of the main resource changed the status: planFingerprint %q", fp)
	}

	// A status that breaks its schema is refused too.
	_, errOut, err = k.run("", "patch", "qosnodestate", node, "--subresource=status", "--type=merge",
		"-p", `{"status":{"targets":[{"policy":"host","name":"host-nic","kind":"nic","placement":"gpu"}]}}`)
	if err == nil || !strings.Contains(errOut, "status.targets[0].placement") {
		t.Errorf("bad placement: err %v, stderr %s", err, errOut)
	}

	// A QoSNodeState is named after its node.
	bad := strings.Replace(state, "nodeName: "+node, "nodeName: node-b", 1)
	if err := k.apply(bad); err == nil || !strings.Contains(err.Error(), "spec.nodeName must equal metadata.name") {
		t.Errorf("mismatched nodeName: %v", err)
	}
}
