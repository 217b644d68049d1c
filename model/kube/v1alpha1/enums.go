package v1alpha1

// ServiceType is a class's GQoS service type (RFC 2211 controlled load, RFC
// 2212 guaranteed); it decides the defaults for marking, priority and
// non-conforming treatment. Default best-effort.
// +kubebuilder:validation:Enum=best-effort;controlled-load;guaranteed;network-control;qualitative
type ServiceType string

// Service types.
const (
	BestEffort     ServiceType = "best-effort"
	ControlledLoad ServiceType = "controlled-load"
	Guaranteed     ServiceType = "guaranteed"
	NetworkControl ServiceType = "network-control"
	Qualitative    ServiceType = "qualitative"
)

// NonConformingMode is the treatment of traffic above a class's rate: shape
// (delay until it conforms), borrow (send on idle capacity, marked
// non-conforming) or discard.
// +kubebuilder:validation:Enum=shape;borrow;discard
type NonConformingMode string

// Non-conforming modes.
const (
	Shape   NonConformingMode = "shape"
	Borrow  NonConformingMode = "borrow"
	Discard NonConformingMode = "discard"
)

// Direction is where a flow is classified on a NIC; default egress.
// +kubebuilder:validation:Enum=egress;ingress;both
type Direction string

// Directions.
const (
	Egress  Direction = "egress"
	Ingress Direction = "ingress"
	Both    Direction = "both"
)

// Protocol is an IP protocol by name. Policy files also take a protocol
// number (1-255); v1alpha1 takes only these names.
// +kubebuilder:validation:Enum=tcp;udp;icmp;icmpv6;sctp
type Protocol string

// Protocols.
const (
	TCP    Protocol = "tcp"
	UDP    Protocol = "udp"
	ICMP   Protocol = "icmp"
	ICMPv6 Protocol = "icmpv6"
	SCTP   Protocol = "sctp"
)

// FallbackMode says how the software pacer attaches to a NIC: attach (steer
// the interface's egress through the pacer; default) or bridge (bump in the
// wire between the interface and a peer).
// +kubebuilder:validation:Enum=attach;bridge
type FallbackMode string

// Fallback modes.
const (
	Attach FallbackMode = "attach"
	Bridge FallbackMode = "bridge"
)

// OnFailure is what a bridge does while its pacer is dead: bypass (forward
// unshaped in the kernel; default) or block (forward nothing). Attach mode
// always fails open.
// +kubebuilder:validation:Enum=bypass;block
type OnFailure string

// OnFailure values.
const (
	Bypass OnFailure = "bypass"
	Block  OnFailure = "block"
)

// TargetKind is the kind of device a target is.
// +kubebuilder:validation:Enum=nic;switch
type TargetKind string

// Target kinds.
const (
	NIC    TargetKind = "nic"
	Switch TargetKind = "switch"
)

// Placement is where a target's classes and rules run, from most to least
// capable: hardware (NIC or switch offload), software (kernel tc), pacer
// (qosplane's software pacer) or unsupported (not enforced; see reasons).
// +kubebuilder:validation:Enum=hardware;software;pacer;unsupported
type Placement string

// Placements.
const (
	PlacementHardware    Placement = "hardware"
	PlacementSoftware    Placement = "software"
	PlacementPacer       Placement = "pacer"
	PlacementUnsupported Placement = "unsupported"
)
