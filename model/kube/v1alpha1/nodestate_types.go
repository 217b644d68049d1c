package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// QoSNodeState is what one node's agent applied: per target the placement,
// the policy generations, the plan fingerprint and the last error. There is
// one per node, named after the Node and owned by it (an ownerReference, so
// that deleting the Node deletes it); only that node's agent writes it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=qosns,categories=qosplane
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.status.summary.targets`,description="Targets the agent applies"
// +kubebuilder:printcolumn:name="Placement",type=string,JSONPath=`.status.summary.placement`,description="Classes and rules by placement"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule=`self.spec.nodeName == self.metadata.name`,message="spec.nodeName must equal metadata.name: a QoSNodeState is named after its Node"
type QoSNodeState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec QoSNodeStateSpec `json:"spec"`
	// +optional
	Status QoSNodeStateStatus `json:"status,omitempty"`
}

// QoSNodeStateList is a list of QoSNodeState.
//
// +kubebuilder:object:root=true
type QoSNodeStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []QoSNodeState `json:"items"`
}

// QoSNodeStateSpec names the node.
type QoSNodeStateSpec struct {
	// NodeName is the Node's name, equal to metadata.name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`
}

// QoSNodeStateStatus is written by the node's agent.
type QoSNodeStateStatus struct {
	// Policies are the QoSPolicies that select the node and the generation
	// of each the agent applied.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Policies []AppliedPolicy `json:"policies,omitempty"`
	// Targets are the node's resolved targets, one per policy and target.
	// +listType=map
	// +listMapKey=policy
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1024
	// +optional
	Targets []TargetState `json:"targets,omitempty"`
	// PlanFingerprint is the fingerprint of the node's whole plan.
	// +optional
	PlanFingerprint string `json:"planFingerprint,omitempty"`
	// LastError is the node's last error that belongs to no one target
	// (e.g. a policy that does not resolve); empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// LastErrorTime is when LastError was set.
	// +optional
	LastErrorTime *metav1.Time `json:"lastErrorTime,omitempty"`
	// Summary counts the targets and their classes and rules by placement.
	// +optional
	Summary NodeSummary `json:"summary,omitempty"`
	// Conditions are Ready, Progressing and Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AppliedPolicy is one policy the node applies.
type AppliedPolicy struct {
	// Name of the QoSPolicy.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Generation is the policy's metadata.generation the node runs; 0 when
	// none runs yet.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// ObservedGeneration is the latest generation the agent has seen (it
	// differs from Generation while applying, or when that generation failed).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// TargetState is one resolved target of one policy on the node.
type TargetState struct {
	// Policy is the QoSPolicy's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Policy string `json:"policy"`
	// Name is the target's name in the policy.
	Name Name `json:"name"`
	// Kind is nic or switch.
	Kind TargetKind `json:"kind"`
	// Interface is the interface the template resolved to (nic targets).
	// +optional
	Interface InterfaceName `json:"interface,omitempty"`
	// PCI is the PCI address of the interface's device, e.g. 0000:3b:00.0.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	PCI          string `json:"pci,omitempty"`
	TargetResult `json:",inline"`
}

// NodeSummary sums a node's targets.
type NodeSummary struct {
	// Targets is how many targets the node applies.
	// +optional
	Targets int32 `json:"targets"`
	// Counts counts classes and rules of every target by placement.
	// +optional
	Counts PlacementCounts `json:"counts,omitempty"`
	// Placement summarizes Counts for `kubectl get`, e.g.
	// "hardware 14, software 2, pacer 0, unsupported 1".
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Placement string `json:"placement,omitempty"`
}
