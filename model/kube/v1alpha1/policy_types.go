package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// QoSPolicy is qosplane's unified flow model as a cluster-scoped object: the
// classes, flows and marking of a policy file, the nodes it applies to, the
// NIC target templates each of those nodes resolves, and switch targets.
// Its name is the policy's name (at most 63 characters, no "--": it
// prefixes what qosplane installs).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=qosp,categories=qosplane
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Classes",type=integer,JSONPath=`.status.classCount`,description="Classes of the accepted spec"
// +kubebuilder:printcolumn:name="Flows",type=integer,JSONPath=`.status.flowCount`,description="Flows of the accepted spec"
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedNodes`,description="Nodes the nodeSelector matches"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyNodes`,description="Matched nodes running this generation"
// +kubebuilder:printcolumn:name="Degraded",type=integer,JSONPath=`.status.degradedNodes`,description="Matched nodes running it degraded or failing"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule=`self.metadata.name.size() <= 63 && !self.metadata.name.contains('--')`,message="metadata.name: a QoSPolicy name has at most 63 characters and no \"--\" (qosplane joins it to class names with \"--\")"
type QoSPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec QoSPolicySpec `json:"spec"`
	// +optional
	Status QoSPolicyStatus `json:"status,omitempty"`
}

// QoSPolicyList is a list of QoSPolicy.
//
// +kubebuilder:object:root=true
type QoSPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []QoSPolicy `json:"items"`
}

// QoSPolicySpec is a policy file's content (name aside: the object's name)
// plus where it applies. NIC and switch targets are separate lists, where a
// file has one list of targets with a kind; their names share one space.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.nics) || !has(self.switches) || self.nics.all(n, !self.switches.exists(s, s.name == n.name))`,message="a NIC target and a switch target may not share a name",fieldPath=".switches"
type QoSPolicySpec struct {
	// NodeSelector picks the nodes whose agents apply the policy's NIC
	// targets; empty or unset selects every node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	// Marking overrides the default DSCP and 802.1p values per service type
	// for the whole policy (file: marking).
	// +optional
	Marking *Marking `json:"marking,omitempty"`
	// Classes of service, at least one; names are unique.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	Classes []Class `json:"classes"`
	// Flows map packets into classes. The most specific flow matching a
	// packet wins; equally specific flows may not overlap.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4096
	// +optional
	Flows []Flow `json:"flows,omitempty"`
	// NICs are NIC target templates: each node the selector matches
	// resolves them to its own interfaces.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	NICs []NICTarget `json:"nics,omitempty"`
	// Switches are switch targets, configured over gNMI.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Switches []SwitchTarget `json:"switches,omitempty"`
}

// Marking is the policy-wide marking table (file: marking), one Mark per
// service type and one for non-conforming packets of every type. Classes
// may override again.
type Marking struct {
	// +optional
	BestEffort *Mark `json:"bestEffort,omitempty"`
	// +optional
	ControlledLoad *Mark `json:"controlledLoad,omitempty"`
	// +optional
	Guaranteed *Mark `json:"guaranteed,omitempty"`
	// +optional
	NetworkControl *Mark `json:"networkControl,omitempty"`
	// +optional
	Qualitative *Mark `json:"qualitative,omitempty"`
	// NonConforming applies to non-conforming packets of every service type
	// (file: non-conforming).
	// +optional
	NonConforming *Mark `json:"nonConforming,omitempty"`
}

// Class is a class of service: the treatment shared by the flows mapped
// into it. Unset fields take their defaults from the service type, as in
// policy files. Rates are bits per second, sizes bytes (L2 frame, as the
// Linux kernel counts it).
//
// +kubebuilder:validation:XValidation:rule=`!has(self.peak) || !has(self.rate) || !isQuantity(self.peak.replace('bit', "")) || !isQuantity(self.rate.replace('bit', "")) || quantity(self.peak.replace('bit', "")).compareTo(quantity('0')) == 0 || quantity(self.peak.replace('bit', "")).compareTo(quantity(self.rate.replace('bit', ""))) >= 0`,message="peak is below rate: the peak rate must be at least the committed rate",messageExpression=`'peak ' + self.peak + ' is below rate ' + self.rate + ': the peak rate must be at least the committed rate'`,fieldPath=".peak"
// +kubebuilder:validation:XValidation:rule=`!has(self.service) || !(self.service in ['guaranteed', 'controlled-load']) || has(self.rate)`,message="a guaranteed or controlled-load class needs a rate",fieldPath=".rate"
// +kubebuilder:validation:XValidation:rule=`!has(self.bucket) || has(self.rate)`,message="a bucket needs a rate",fieldPath=".bucket"
// +kubebuilder:validation:XValidation:rule=`!has(self.nonConforming) || has(self.rate)`,message="nonConforming needs a rate: without one no traffic is non-conforming",fieldPath=".nonConforming"
// +kubebuilder:validation:XValidation:rule=`!has(self.maxSDU) || !isQuantity(self.maxSDU.replace('B', "")) || quantity(self.maxSDU.replace('B', "")).compareTo(quantity('0')) == 0 || (quantity(self.maxSDU.replace('B', "")).compareTo(quantity('64')) >= 0 && quantity(self.maxSDU.replace('B', "")).compareTo(quantity('65535')) <= 0)`,message="maxSDU is out of range 64B-65535B",fieldPath=".maxSDU"
// +kubebuilder:validation:XValidation:rule=`!has(self.bucket) || !isQuantity(self.bucket.replace('B', "")) || quantity(self.bucket.replace('B', "")).compareTo(quantity('0')) == 0 || (has(self.maxSDU) && (!isQuantity(self.maxSDU.replace('B', "")) || quantity(self.maxSDU.replace('B', "")).compareTo(quantity('0')) == 0)) || quantity(self.bucket.replace('B', "")).compareTo(quantity(has(self.maxSDU) ? self.maxSDU.replace('B', "") : '1518')) >= 0`,message="bucket is smaller than maxSDU (default 1518B): no packet of that size could ever conform",messageExpression=`'bucket ' + self.bucket + ' is smaller than maxSDU ' + (has(self.maxSDU) ? self.maxSDU : '1518B') + ': no packet of that size could ever conform'`,fieldPath=".bucket"
// +kubebuilder:validation:XValidation:rule=`!has(self.minPoliced) || !isQuantity(self.minPoliced.replace('B', "")) || (has(self.maxSDU) && (!isQuantity(self.maxSDU.replace('B', "")) || quantity(self.maxSDU.replace('B', "")).compareTo(quantity('0')) == 0)) || quantity(self.minPoliced.replace('B', "")).compareTo(quantity(has(self.maxSDU) ? self.maxSDU.replace('B', "") : '1518')) <= 0`,message="minPoliced is larger than maxSDU (default 1518B)",messageExpression=`'minPoliced ' + self.minPoliced + ' is larger than maxSDU ' + (has(self.maxSDU) ? self.maxSDU : '1518B')`,fieldPath=".minPoliced"
type Class struct {
	// Name of the class, unique in the policy.
	Name Name `json:"name"`
	// Service is the service type; default best-effort.
	// +optional
	Service ServiceType `json:"service,omitempty"`
	// Priority is the strict priority level, 0-7; higher is served first.
	// Default from the service type (network-control 7, guaranteed 5,
	// controlled-load 4, qualitative 1, best-effort 0).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=7
	// +optional
	Priority *int32 `json:"priority,omitempty"`
	// Weight shares a priority level among its classes (deficit round
	// robin), 1-65535; default 1.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Rate is the committed (token) rate in bits per second; unset means no
	// rate limit. Guaranteed and controlled-load classes need one.
	// +optional
	Rate Rate `json:"rate,omitempty"`
	// Peak is the most rate at which packets leave, at least Rate; unset
	// (or 0bit) means unlimited.
	// +optional
	Peak Rate `json:"peak,omitempty"`
	// Bucket is the token bucket depth in bytes, at least MaxSDU. Default:
	// the larger of two MaxSDU and 10 ms at Rate.
	// +optional
	Bucket Size `json:"bucket,omitempty"`
	// MinPoliced counts smaller packets as this size, at most MaxSDU
	// (file: min-policed); unset means off.
	// +optional
	MinPoliced Size `json:"minPoliced,omitempty"`
	// MaxSDU is the largest packet of the class, 64B-65535B (file:
	// max-sdu); default 1518B.
	// +optional
	MaxSDU Size `json:"maxSDU,omitempty"`
	// NonConforming is what happens to traffic above the rate (file:
	// non-conforming). Default: shape for guaranteed and network-control,
	// borrow otherwise.
	// +optional
	NonConforming NonConformingMode `json:"nonConforming,omitempty"`
	// Mark is written into conforming packets; unset fields come from the
	// policy's marking, then from the service type.
	// +optional
	Mark *Mark `json:"mark,omitempty"`
	// MarkNonConforming is written into non-conforming packets (file:
	// mark-non-conforming); default from marking.nonConforming, then DSCP
	// 0, PCP 0.
	// +optional
	MarkNonConforming *Mark `json:"markNonConforming,omitempty"`
	// RoCE says RDMA over Converged Ethernet traffic belongs to this class:
	// NIC targets set the RDMA device's default ToS to the class's DSCP.
	// +optional
	RoCE bool `json:"roce,omitempty"`
	// PFC asks for priority flow control (lossless) on the class's priority.
	// +optional
	PFC bool `json:"pfc,omitempty"`
}
