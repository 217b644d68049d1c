package v1alpha1

// Flow is a filterspec: which packets belong to a class, with optional
// per-flow policing and remarking.
type Flow struct {
	// Name of the flow, unique in the policy; default "<class>-<index>".
	// +optional
	Name Name `json:"name,omitempty"`
	// Class is the name of the class the flow's packets go to; it must be
	// one of spec.classes (checked by the model, reported on the status).
	Class Name `json:"class"`
	// Direction is where the flow is classified; default egress.
	// +optional
	Direction Direction `json:"direction,omitempty"`
	// Match selects the packets; unset matches every packet.
	// +optional
	Match *Match `json:"match,omitempty"`
	// Police drops the flow's traffic above its own rate and burst.
	// +optional
	Police *Police `json:"police,omitempty"`
	// Remark overrides the class's conforming marking for this flow.
	// +optional
	Remark *Mark `json:"remark,omitempty"`
}

// Match is a filterspec's header match. An unset field matches anything.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.srcPort) || (has(self.protocol) && self.protocol in ['tcp', 'udp', 'sctp'])`,message="a port match needs protocol tcp, udp or sctp",fieldPath=".srcPort"
// +kubebuilder:validation:XValidation:rule=`!has(self.dstPort) || (has(self.protocol) && self.protocol in ['tcp', 'udp', 'sctp'])`,message="a port match needs protocol tcp, udp or sctp",fieldPath=".dstPort"
// +kubebuilder:validation:XValidation:rule=`!has(self.cgroup) || !(has(self.src) || has(self.dst) || has(self.srcPort) || has(self.vlan) || has(self.dscp) || has(self.interface))`,message="a cgroup match classifies sockets when they are created or connect: only protocol and dstPort may go with it",fieldPath=".cgroup"
type Match struct {
	// Src is the source IPv4 or IPv6 prefix ("10.0.0.0/8", "2001:db8::/32")
	// or address (a full-length prefix). Host bits set beyond the prefix
	// length are refused.
	// +optional
	Src Prefix `json:"src,omitempty"`
	// Dst is the destination prefix or address, as Src.
	// +optional
	Dst Prefix `json:"dst,omitempty"`
	// Protocol is the IP protocol.
	// +optional
	Protocol Protocol `json:"protocol,omitempty"`
	// SrcPort is the TCP, UDP or SCTP source port or port range (file:
	// src-port, written "443" or "1000-2000" there).
	// +optional
	SrcPort *PortRange `json:"srcPort,omitempty"`
	// DstPort is the destination port or port range (file: dst-port).
	// +optional
	DstPort *PortRange `json:"dstPort,omitempty"`
	// VLAN is the 802.1Q VLAN id, 1-4094.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	// +optional
	VLAN int32 `json:"vlan,omitempty"`
	// DSCP matches the incoming DSCP, 0-63.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=63
	// +optional
	DSCP *int32 `json:"dscp,omitempty"`
	// Interface matches the interface the packet leaves (or, for ingress
	// flows, arrives) on.
	// +optional
	Interface InterfaceName `json:"interface,omitempty"`
	// Cgroup matches the sockets created by the processes of a cgroup v2
	// and its subtree, on each node: a path relative to the cgroup2
	// mount as /proc/<pid>/cgroup shows it (system.slice/backup.service),
	// whose segments may be globs (kubepods.slice/kubepods-burstable.slice/*).
	// A socket is classified once, when it is created or connects, so
	// only protocol and dstPort may go with it, and only on egress flows
	// (the model checks the path and the direction and reports them on the
	// status).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Cgroup string `json:"cgroup,omitempty"`
}

// Prefix is an IPv4 or IPv6 address or prefix, e.g. "10.0.0.0/8",
// "2001:db8::/32", "192.0.2.1". The schema checks its characters and
// length; the model checks the rest (host bits, address family).
// +kubebuilder:validation:Pattern=`^[0-9a-fA-F:.]+(/[0-9]{1,3})?$`
// +kubebuilder:validation:MaxLength=49
type Prefix string

// PortRange is an inclusive range of ports, 1-65535: Port alone is one
// port, Port and EndPort the range Port-EndPort (as a NetworkPolicy port).
//
// +kubebuilder:validation:XValidation:rule=`!has(self.endPort) || self.endPort >= self.port`,message="endPort must be at least port",fieldPath=".endPort"
type PortRange struct {
	// Port is the port, or the first port of the range.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// EndPort is the last port of the range, inclusive; unset for one port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	EndPort *int32 `json:"endPort,omitempty"`
}

// Police is a single-rate policer for one flow: Rate in bits per second,
// Burst in bytes.
type Police struct {
	Rate  Rate `json:"rate"`
	Burst Size `json:"burst"`
}
