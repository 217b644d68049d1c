// Package oc holds ygot-generated Go structs for openconfig-qos (2.2.0),
// openconfig-interfaces and openconfig-if-ethernet from openconfig/public
// v5.9.0, with a fake root (Device), compressed paths, getters, append and
// delete helpers and simple unions. Do not edit oc.go: run generate.sh (or
// go generate) to rebuild it, and generate.sh -check to verify it is
// current.
package oc

//go:generate ./generate.sh
