package v1alpha1

// Rate is a data rate in bits per second, written in its canonical form: a
// decimal number and one of the units bit, kbit, Mbit, Gbit, Tbit (SI
// prefixes, powers of 1000), e.g. "100Mbit", "2.5Gbit", "64kbit". Policy
// files also accept other spellings ("10Gbps", "100mbit"); the CRD does not,
// so that a CEL rule can read a rate with quantity(rate.replace("bit", "")).
// The value must be a whole number of bits per second ("0.5bit" is refused
// on the status by the model).
// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?[kMGT]?bit$`
// +kubebuilder:validation:MaxLength=32
type Rate string

// Size is an amount of data in bytes, written in its canonical form: a
// decimal number and one of B, KiB, MiB, GiB (powers of 1024) or kB, MB, GB
// (powers of 1000), e.g. "1500B", "64KiB", "1.5MB". A CEL rule reads it with
// quantity(size.replace("B", "")) ("64KiB" -> "64Ki"). The value must be a
// whole number of bytes.
// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(B|KiB|MiB|GiB|kB|MB|GB)$`
// +kubebuilder:validation:MaxLength=32
type Size string

// Name is the name of a class, flow or target, as in policy files: letters,
// digits, '-', '_' and '.', at most 63, starting with a letter or digit
// (names become parts of tc cookies, OpenConfig names and log fields).
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`
// +kubebuilder:validation:MaxLength=63
type Name string

// InterfaceName is a Linux network interface name: 1-15 bytes, no '/',
// ':' or white space.
// +kubebuilder:validation:Pattern=`^[^/:\s]{1,15}$`
// +kubebuilder:validation:MaxLength=15
type InterfaceName string

// Mark is an optional DSCP (0-63) and 802.1p PCP (0-7) to write into
// packets. An unset field leaves that part of the packet as it is (or takes
// the default of the layer below, for a class's marks).
type Mark struct {
	// DSCP is the Differentiated Services code point, 0-63.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=63
	// +optional
	DSCP *int32 `json:"dscp,omitempty"`
	// PCP is the 802.1p priority code point, 0-7.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=7
	// +optional
	PCP *int32 `json:"pcp,omitempty"`
}

// SecretKeyReference names one key of a Secret. QoSPolicy is cluster-scoped,
// so the namespace is always given.
type SecretKeyReference struct {
	// Namespace of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data; each field that takes a reference names its
	// default key.
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// SecretReference names a whole Secret, whose well-known keys are read
// (a kubernetes.io/tls Secret's tls.crt and tls.key).
type SecretReference struct {
	// Namespace of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
