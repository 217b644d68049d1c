// Package kube converts qosplane's Kubernetes API (package v1alpha1) into
// the unified flow model (package model) and validates it there, so that a
// QoSPolicy is held to exactly the rules of a policy file.
//
// ToPolicy writes the spec as the policy document it stands for (kebab-case
// field names, "1000-2000" port ranges, one list of targets with a kind) and
// runs model.Parse on it: the model's own decoding, defaults and checks.
// While writing it records, for every field, which field of the object it
// came from, and rewrites each model error's path into a Kubernetes field
// path ("classes[1].peak" -> "spec.classes[1].peak", "targets[2].interface"
// -> "spec.nics[0].interface.name", "name" -> "metadata.name"). Errors are
// a model.ErrorList whose File is "qospolicy/<name>" and whose Pos is zero:
// "qospolicy/host: spec.classes[1].peak: 50Mbit is below rate 100Mbit".
// StatusErrors turns one into the status's validationErrors.
//
// NIC targets of a QoSPolicy are templates that each node resolves to one
// of its interfaces (ToNodePolicy with a Resolver). ToPolicy, which has no
// node, gives a template that picks its interface by name that name and
// any other UnresolvedInterface. Secret references of switch targets become
// the files under SecretDir where the agent materialises them.
package kube
