package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of QoSPolicy and QoSNodeState (metav1.Condition.Type).
const (
	// ConditionReady is True when the spec is valid and every matched node
	// and every switch runs the observed generation.
	ConditionReady = "Ready"
	// ConditionProgressing is True while nodes or switches are moving to
	// the observed generation.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the spec is invalid (the last valid
	// generation keeps running), or some node or switch runs it degraded
	// (software, pacer or unsupported placements) or fails.
	ConditionDegraded = "Degraded"
)

// Condition reasons (metav1.Condition.Reason).
const (
	// ReasonInvalidSpec: the model refused the spec; see validationErrors.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonApplied: every target runs the observed generation.
	ReasonApplied = "Applied"
	// ReasonApplying: some target does not run it yet.
	ReasonApplying = "Applying"
	// ReasonApplyFailed: some target failed to apply it.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonPartialOffload: some class or rule runs in software, in the
	// pacer, or is unsupported.
	ReasonPartialOffload = "PartialOffload"
)

// QoSPolicyStatus is written by the qosplane controller.
type QoSPolicyStatus struct {
	// ObservedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// ClassCount and FlowCount count the classes and flows of the last spec
	// the model accepted.
	// +optional
	ClassCount int32 `json:"classCount,omitempty"`
	// +optional
	FlowCount int32 `json:"flowCount,omitempty"`
	// MatchedNodes is how many nodes the nodeSelector matches.
	// +optional
	MatchedNodes int32 `json:"matchedNodes"`
	// ReadyNodes is how many matched nodes run the observed generation
	// without error.
	// +optional
	ReadyNodes int32 `json:"readyNodes"`
	// DegradedNodes is how many matched nodes run it degraded or failed to
	// apply it.
	// +optional
	DegradedNodes int32 `json:"degradedNodes"`
	// Switches is the result per switch target.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Switches []SwitchStatus `json:"switches,omitempty"`
	// ValidationErrors are the problems the model found in the observed
	// generation, each at its field path (the equivalent of a policy file's
	// line:col). While there are any, the last valid generation keeps
	// running.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=201
	// +optional
	ValidationErrors []ValidationError `json:"validationErrors,omitempty"`
	// Conditions are Ready, Progressing and Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ValidationError is one problem in a QoSPolicy's spec.
type ValidationError struct {
	// Field is the Kubernetes field path, e.g. "spec.classes[1].peak".
	// +kubebuilder:validation:MaxLength=256
	Field string `json:"field"`
	// Message says what is wrong, e.g. "50Mbit is below rate 100Mbit".
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}

// SwitchStatus is the result of one switch target.
type SwitchStatus struct {
	// Name of the switch target.
	Name Name `json:"name"`
	// Address the switch was reached at.
	// +optional
	Address string `json:"address,omitempty"`
	// Applied is true when the switch runs AppliedGeneration's plan.
	Applied      bool `json:"applied"`
	TargetResult `json:",inline"`
}

// TargetResult is what applying a policy to one target gave.
type TargetResult struct {
	// Placement is the least capable placement any of the target's classes
	// or rules got: hardware, then software, pacer, unsupported.
	// +optional
	Placement Placement `json:"placement,omitempty"`
	// Counts counts the target's classes and rules by placement.
	// +optional
	Counts PlacementCounts `json:"counts,omitempty"`
	// Reasons say why classes or rules are not in hardware.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Reasons []string `json:"reasons,omitempty"`
	// AppliedGeneration is the QoSPolicy generation the target runs.
	// +optional
	AppliedGeneration int64 `json:"appliedGeneration,omitempty"`
	// PlanFingerprint is the fingerprint of the plan the target runs.
	// +optional
	PlanFingerprint string `json:"planFingerprint,omitempty"`
	// LastError is the last error applying the policy to the target;
	// empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// LastUpdateTime is when the result last changed.
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
}

// PlacementCounts counts classes and rules by placement.
type PlacementCounts struct {
	// +optional
	Hardware int32 `json:"hardware,omitempty"`
	// +optional
	Software int32 `json:"software,omitempty"`
	// +optional
	Pacer int32 `json:"pacer,omitempty"`
	// +optional
	Unsupported int32 `json:"unsupported,omitempty"`
}
