// Package v1alpha1 is the qosplane.io/v1alpha1 Kubernetes API: the
// cluster-scoped QoSPolicy, which carries qosplane's unified flow model
// (classes of service, flows, marking) plus where it applies (a node
// selector, NIC target templates each node resolves, switch targets), and
// QoSNodeState, one per node, written only by that node's agent.
//
// Field names mirror the policy files' (package model): a file's
// kebab-case field becomes the Kubernetes camelCase json name
// (non-conforming -> nonConforming, dst-port -> dstPort, max-sdu ->
// maxSDU, mark-non-conforming -> markNonConforming). Enumerated values
// (service types, modes, protocols) are written as in files.
//
// Units: rates are bits per second and sizes bytes, as in files, but the
// CRD accepts only their canonical spellings (see Rate and Size) so that
// CEL rules can compare them with the Kubernetes quantity library.
//
// The CRD schema (cmd/qosplane/deploy/crds/, generated from these types by
// model/kube/codegen/generate.sh) refuses what a schema can: types, enums,
// ranges, patterns and cheap cross-field CEL rules (peak >= rate, a bridge
// needs a peer, ...). Everything else the model validates (a flow naming an
// undefined class, equally specific overlapping flows, admission control)
// is found by model/kube.ToPolicy and reported on the object's status with
// the field path.
//
// +kubebuilder:object:generate=true
// +groupName=qosplane.io
package v1alpha1
