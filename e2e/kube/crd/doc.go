// Package crd holds the end-to-end tests of qosplane's CustomResourceDefinitions
// (cmd/qosplane/deploy/crds, generated from model/kube/v1alpha1) against a
// real kube-apiserver (e2e/kube/kubelab) with the machine's kubectl: the
// CRDs install, good objects apply, bad ones are refused with the field
// path, printer columns print and status subresources update.
package crd
