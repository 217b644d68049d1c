package v1alpha1

// NICTarget is a NIC target template: each node the policy selects resolves
// Interface to one of its own network interfaces and compiles the policy
// for it (hardware queues and tc offload, the software pacer as fallback).
//
// +kubebuilder:validation:XValidation:rule=`!has(self.fallback) || !has(self.fallback.peer) || !has(self.interface.name) || self.fallback.peer != self.interface.name`,message="fallback.peer must differ from the interface",fieldPath=".fallback.peer"
type NICTarget struct {
	// Name of the target; NIC and switch target names share one space.
	Name Name `json:"name"`
	// Interface says how each node picks the interface.
	Interface InterfaceSelector `json:"interface"`
	// Representors are the switchdev representor interfaces whose traffic
	// the target also carries.
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	// +optional
	Representors []InterfaceName `json:"representors,omitempty"`
	// Fallback says how the software pacer attaches when the hardware
	// cannot carry the policy; default attach.
	// +optional
	Fallback *Fallback `json:"fallback,omitempty"`
	// Profile names a capability profile; default: the profile the driver
	// probes.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Profile string `json:"profile,omitempty"`
	// Capacity is the link capacity in bits per second for admission
	// control and the pacer's port rate; default: the probed link speed.
	// +optional
	Capacity Rate `json:"capacity,omitempty"`
	// Classes limits the target to these classes; default all.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	Classes []Name `json:"classes,omitempty"`
}

// InterfaceSelector picks a node's interface in exactly one way: by name,
// by name pattern, by kernel driver, by PCI vendor/device id, or as the
// interface of the default route. A selector matching no interface, or
// several, is an error on that node's QoSNodeState.
//
// +kubebuilder:validation:XValidation:rule=`(has(self.name) ? 1 : 0) + (has(self.namePattern) ? 1 : 0) + (has(self.driver) ? 1 : 0) + (has(self.pciID) ? 1 : 0) + (has(self.defaultRoute) && self.defaultRoute ? 1 : 0) == 1`,message="set exactly one of name, namePattern, driver, pciID or defaultRoute: true"
type InterfaceSelector struct {
	// Name is the interface name, e.g. ens1f0np0.
	// +optional
	Name InterfaceName `json:"name,omitempty"`
	// NamePattern is a shell pattern (path.Match syntax) on interface
	// names, e.g. "ens*f0np0".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	NamePattern string `json:"namePattern,omitempty"`
	// Driver is the kernel driver bound to the interface's device, e.g.
	// mlx5_core or ice.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	// +optional
	Driver string `json:"driver,omitempty"`
	// PCIID is the PCI vendor and device id of the interface's device.
	// +optional
	PCIID *PCIID `json:"pciID,omitempty"`
	// DefaultRoute picks the interface of the node's default route (IPv4,
	// else IPv6).
	// +optional
	DefaultRoute bool `json:"defaultRoute,omitempty"`
}

// PCIID is a PCI vendor id and an optional device id, four lowercase hex
// digits each as lspci -n prints them (15b3:101d is a ConnectX-6 Dx).
type PCIID struct {
	// Vendor id, e.g. "15b3".
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{4}$`
	Vendor string `json:"vendor"`
	// Device id, e.g. "101d"; unset matches every device of the vendor.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{4}$`
	// +optional
	Device string `json:"device,omitempty"`
}

// Fallback says how the software pacer attaches to a NIC target.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.mode) || self.mode != 'bridge' || has(self.peer)`,message="bridge mode needs a peer interface",fieldPath=".peer"
// +kubebuilder:validation:XValidation:rule=`(has(self.mode) && self.mode == 'bridge') || !has(self.peer)`,message="peer is only used in bridge mode",fieldPath=".peer"
// +kubebuilder:validation:XValidation:rule=`(has(self.mode) && self.mode == 'bridge') || !has(self.onFailure) || self.onFailure != 'block'`,message="attach mode always fails open: a dead pacer must never cut the host off its network (block is for bridge mode)",fieldPath=".onFailure"
type Fallback struct {
	// Mode is attach (default) or bridge.
	// +optional
	Mode FallbackMode `json:"mode,omitempty"`
	// Peer is the second interface in bridge mode.
	// +optional
	Peer InterfaceName `json:"peer,omitempty"`
	// OnFailure is what a bridge does while its pacer is dead (file:
	// on-failure): bypass (default) or block.
	// +optional
	OnFailure OnFailure `json:"onFailure,omitempty"`
}

// SwitchTarget is a switch configured over gNMI with openconfig-qos.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.tls) || !has(self.tls.insecure) || !self.tls.insecure || !has(self.credentials) || !has(self.credentials.passwordSecretRef)`,message="a password is never sent without TLS",fieldPath=".tls.insecure"
type SwitchTarget struct {
	// Name of the target; NIC and switch target names share one space.
	Name Name `json:"name"`
	// Address is the switch's gNMI endpoint, host:port.
	// +kubebuilder:validation:Pattern=`^\S+:[0-9]{1,5}$`
	// +kubebuilder:validation:MaxLength=261
	Address string `json:"address"`
	// Interfaces are the switch interfaces the policy binds to.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +listType=set
	Interfaces []SwitchInterfaceName `json:"interfaces"`
	// Profile names a capability profile; default: the profile the driver
	// probes.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Profile string `json:"profile,omitempty"`
	// Capacity is the link capacity in bits per second for admission
	// control; default: the probed link speed.
	// +optional
	Capacity Rate `json:"capacity,omitempty"`
	// Classes limits the target to these classes; default all.
	// +kubebuilder:validation:MaxItems=256
	// +listType=set
	// +optional
	Classes []Name `json:"classes,omitempty"`
	// TLS configures the gNMI connection; default: TLS verified against the
	// system roots.
	// +optional
	TLS *SwitchTLS `json:"tls,omitempty"`
	// Credentials are the gNMI user name and password.
	// +optional
	Credentials *SwitchCredentials `json:"credentials,omitempty"`
}

// SwitchInterfaceName is a switch interface name, e.g. Ethernet1/1.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
type SwitchInterfaceName string

// SwitchTLS configures the gNMI connection's TLS. Secrets are referenced,
// never inline.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.insecure) || !self.insecure || (!has(self.caSecretRef) && !has(self.clientCertSecretRef))`,message="insecure disables TLS, so caSecretRef and clientCertSecretRef would be ignored",fieldPath=".insecure"
type SwitchTLS struct {
	// CASecretRef is the CA bundle that verifies the switch (file:
	// ca-file); key default ca.crt.
	// +optional
	CASecretRef *SecretKeyReference `json:"caSecretRef,omitempty"`
	// ClientCertSecretRef is a kubernetes.io/tls Secret whose tls.crt and
	// tls.key authenticate qosplane to the switch (file: cert-file and
	// key-file).
	// +optional
	ClientCertSecretRef *SecretReference `json:"clientCertSecretRef,omitempty"`
	// ServerName overrides the name verified in the switch's certificate.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServerName string `json:"serverName,omitempty"`
	// Insecure allows plaintext gRPC.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
}

// SwitchCredentials are the gNMI user name and the Secret key holding the
// password. The user name is not a secret and is written inline.
type SwitchCredentials struct {
	// Username is the gNMI user name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Username string `json:"username"`
	// PasswordSecretRef is the Secret key holding the password (file:
	// password-file); key default password.
	// +optional
	PasswordSecretRef *SecretKeyReference `json:"passwordSecretRef,omitempty"`
}
