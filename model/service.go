package model

import (
	"fmt"
	"strings"
)

// ServiceType is a class's GQoS service type. It decides the defaults for
// marking, priority and non-conforming treatment.
type ServiceType string

// Service types, as in GQoS (RFC 2211 controlled load, RFC 2212 guaranteed).
const (
	BestEffort     ServiceType = "best-effort"
	ControlledLoad ServiceType = "controlled-load"
	Guaranteed     ServiceType = "guaranteed"
	NetworkControl ServiceType = "network-control"
	Qualitative    ServiceType = "qualitative"
)

// ServiceDefaults is what a service type implies when a class says nothing.
type ServiceDefaults struct {
	DSCP, PCP     uint8 // marking of conforming packets
	Priority      uint8 // strict priority level, higher first
	NonConforming Mode
}

// serviceDefaults follows qos-semantics.md (the Windows Pacer's tables).
var serviceDefaults = map[ServiceType]ServiceDefaults{
	BestEffort:     {DSCP: 0, PCP: 0, Priority: 0, NonConforming: Borrow},
	ControlledLoad: {DSCP: 24, PCP: 4, Priority: 4, NonConforming: Borrow},
	Guaranteed:     {DSCP: 40, PCP: 5, Priority: 5, NonConforming: Shape},
	NetworkControl: {DSCP: 48, PCP: 7, Priority: 7, NonConforming: Shape},
	Qualitative:    {DSCP: 0, PCP: 0, Priority: 1, NonConforming: Borrow},
}

// NonConformingDefault is the marking of non-conforming packets of every
// service type unless overridden: DSCP 0, PCP 0.
var NonConformingDefault = ServiceDefaults{}

// Defaults returns the defaults of s.
func (s ServiceType) Defaults() ServiceDefaults { return serviceDefaults[s] }

// Reserved reports whether the service type reserves its rate, so that
// admission control counts it against the link.
func (s ServiceType) Reserved() bool { return s == Guaranteed || s == ControlledLoad }

// BoundsDelay reports whether the service type asks the network for low
// delay: controlled-load (like an unloaded network, RFC 2211), guaranteed
// (bounded latency, RFC 2212) and network-control. Best-effort and
// qualitative traffic asks for no delay bound.
func (s ServiceType) BoundsDelay() bool {
	return s == ControlledLoad || s == Guaranteed || s == NetworkControl
}

// UnmarshalText accepts the service type names.
func (s *ServiceType) UnmarshalText(b []byte) error {
	v := ServiceType(strings.ToLower(string(b)))
	if _, ok := serviceDefaults[v]; !ok {
		return fmt.Errorf("unknown service type %q (use best-effort, controlled-load, guaranteed, network-control or qualitative)", b)
	}
	*s = v
	return nil
}

// Mode is the treatment of non-conforming traffic.
type Mode string

// Non-conforming modes.
const (
	// Shape delays packets until they conform.
	Shape Mode = "shape"
	// Borrow sends them on idle capacity, marked non-conforming and served
	// after conforming traffic.
	Borrow Mode = "borrow"
	// Discard drops them.
	Discard Mode = "discard"
)

// UnmarshalText accepts shape, borrow and discard.
func (m *Mode) UnmarshalText(b []byte) error {
	switch v := Mode(strings.ToLower(string(b))); v {
	case Shape, Borrow, Discard:
		*m = v
		return nil
	}
	return fmt.Errorf("unknown mode %q (use shape, borrow or discard)", b)
}

// Direction is where a flow is classified on a NIC.
type Direction string

// Directions.
const (
	// Egress classifies transmitted packets into their class's queue.
	Egress Direction = "egress"
	// Ingress steers received packets into the class's queue group.
	Ingress Direction = "ingress"
	// Both does both.
	Both Direction = "both"
)

// UnmarshalText accepts egress, ingress and both.
func (d *Direction) UnmarshalText(b []byte) error {
	switch v := Direction(strings.ToLower(string(b))); v {
	case Egress, Ingress, Both:
		*d = v
		return nil
	}
	return fmt.Errorf("unknown direction %q (use egress, ingress or both)", b)
}

// HasEgress reports whether d classifies transmitted packets.
func (d Direction) HasEgress() bool { return d == Egress || d == Both }

// HasIngress reports whether d steers received packets.
func (d Direction) HasIngress() bool { return d == Ingress || d == Both }

// TargetKind is the kind of device a target is.
type TargetKind string

// Target kinds.
const (
	// NIC is a Linux network interface: hardware queues and tc offload, with
	// the software pacer as fallback.
	NIC TargetKind = "nic"
	// Switch is a switch managed over gNMI with openconfig-qos.
	Switch TargetKind = "switch"
)

// UnmarshalText accepts nic and switch.
func (k *TargetKind) UnmarshalText(b []byte) error {
	switch v := TargetKind(strings.ToLower(string(b))); v {
	case NIC, Switch:
		*k = v
		return nil
	}
	return fmt.Errorf("unknown target kind %q (use nic or switch)", b)
}
