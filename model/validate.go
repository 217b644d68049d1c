package model

import (
	"fmt"
	pathpkg "path"
	"regexp"
	"strings"
	"unicode"
)

// namePattern is what names of policies, classes, flows and targets may be:
// they become parts of tc cookies, OpenConfig names and log fields.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

var pciPattern = regexp.MustCompile(`^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)

func checkName(r *reporter, path, name string) {
	switch {
	case name == "":
		r.errorf(path, "is required")
	case !namePattern.MatchString(name):
		r.errorf(path, "%q is not a valid name (letters, digits, '-', '_' and '.', at most 63, starting with a letter or digit)", name)
	}
}

func validate(p *Policy, r *reporter) {
	checkName(r, "name", p.Name)
	// "qosplane-<name>" owns "<owner>--<class>" on switches: a "--" or a
	// trailing "-" would let one policy's prefix match another's names.
	if strings.Contains(p.Name, "--") || strings.HasSuffix(p.Name, "-") {
		r.errorf("name", "%q may not contain \"--\" or end in \"-\" (qosplane joins it to class names with \"--\")", p.Name)
	}
	if len(p.Classes) == 0 {
		r.errorf("classes", "a policy needs at least one class")
	}
	classIdx := make(map[string]int, len(p.Classes))
	for i := range p.Classes {
		validateClass(p, r, i, classIdx)
	}
	flowIdx := make(map[string]int, len(p.Flows))
	for i := range p.Flows {
		validateFlow(p, r, i, classIdx, flowIdx)
	}
	targetIdx := make(map[string]int, len(p.Targets))
	for i := range p.Targets {
		validateTarget(p, r, i, classIdx, targetIdx)
	}
	checkConflicts(p, r)
	for i := range p.Targets {
		t := &p.Targets[i]
		// Admission needs every rate: skip it when a class failed to decode.
		if t.Capacity == 0 || r.failedUnder("classes") || r.failedUnder(fmt.Sprintf("targets[%d]", i)) {
			continue // admission runs at plan time against the probed link speed
		}
		if err := Admit(p, t, t.Capacity); err != nil {
			r.errorf(fmt.Sprintf("targets[%d].capacity", i), "%v", err)
		}
	}
}

func validateClass(p *Policy, r *reporter, i int, seen map[string]int) {
	c := &p.Classes[i]
	path := fmt.Sprintf("classes[%d]", i)
	checkName(r, path+".name", c.Name)
	if j, dup := seen[c.Name]; dup && c.Name != "" {
		r.errorf(path+".name", "class %q is already defined at classes[%d]", c.Name, j)
	} else {
		seen[c.Name] = i
	}
	if c.Service.Reserved() && c.Rate == 0 {
		r.errorf(path+".rate", "a %s class needs a rate", c.Service)
	}
	if c.Peak != 0 && c.Peak < c.Rate {
		r.errorf(path+".peak", "%v is below rate %v", c.Peak, c.Rate)
	}
	if c.Bucket != 0 && c.Bucket < c.MaxSDU {
		r.errorf(path+".bucket", "%v is smaller than max-sdu %v: no packet of that size could ever conform", c.Bucket, c.MaxSDU)
	}
	if c.MinPoliced > c.MaxSDU {
		r.errorf(path+".min-policed", "%v is larger than max-sdu %v", c.MinPoliced, c.MaxSDU)
	}
	if c.Latency != 0 && !c.Service.BoundsDelay() {
		r.errorf(path+".latency", "a %s class asks for no delay bound (latency is for controlled-load, guaranteed and network-control)", c.Service)
	}
	if c.MaxSDU < 64 || c.MaxSDU > 65535 {
		r.errorf(path+".max-sdu", "%v is out of range 64B-65535B", c.MaxSDU)
	}
	if c.Rate == 0 && r.has(path+".non-conforming") {
		r.errorf(path+".non-conforming", "%s needs a rate: without one no traffic is non-conforming", c.NonConforming)
	}
	if c.Rate == 0 && r.has(path+".bucket") {
		r.errorf(path+".bucket", "a bucket needs a rate")
	}
}

func validateFlow(p *Policy, r *reporter, i int, classes, seen map[string]int) {
	f := &p.Flows[i]
	path := fmt.Sprintf("flows[%d]", i)
	if r.has(path + ".name") {
		checkName(r, path+".name", f.Name)
	}
	if j, dup := seen[f.Name]; dup {
		r.errorf(path+".name", "flow %q is already defined at flows[%d]", f.Name, j)
	} else {
		seen[f.Name] = i
	}
	if f.Class == "" {
		r.errorf(path+".class", "is required")
	} else if _, ok := classes[f.Class]; !ok {
		r.errorf(path+".class", "class %q is not defined%s", f.Class, nearest(f.Class, keys(classes)))
	}
	m := &f.Match
	mp := path + ".match"
	if m.Src.IsValid() && m.Dst.IsValid() && m.Src.Addr().Is4() != m.Dst.Addr().Is4() {
		r.errorf(mp+".dst", "%v and src %v are of different address families", m.Dst, m.Src)
	}
	if (m.Protocol == ICMP && (m.Src.Is6() || m.Dst.Is6())) || (m.Protocol == ICMPv6 && (m.Src.Is4() || m.Dst.Is4())) {
		r.errorf(mp+".protocol", "%v does not match the address family of the prefixes", m.Protocol)
	}
	for _, port := range []struct {
		name string
		r    PortRange
	}{{"src-port", m.SrcPort}, {"dst-port", m.DstPort}} {
		if !port.r.IsZero() && !m.Protocol.HasPorts() {
			r.errorf(mp+"."+port.name, "a port match needs protocol tcp, udp or sctp")
		}
	}
	if m.Cgroup != "" {
		validateCgroup(r, path, f)
	}
	if f.Police != nil {
		if f.Police.Rate == 0 {
			r.errorf(path+".police.rate", "is required")
		}
		if f.Police.Burst == 0 {
			r.errorf(path+".police.burst", "is required")
		}
	}
}

// validateCgroup checks a cgroup match: a path under the cgroup2 mount
// that can name a cgroup, with the fields a socket hook can see.
func validateCgroup(r *reporter, path string, f *Flow) {
	m := &f.Match
	mp := path + ".match"
	if why := badCgroup(m.Cgroup); why != "" {
		r.errorf(mp+".cgroup", "%q %s", m.Cgroup, why)
	}
	for _, other := range []struct {
		name string
		set  bool
	}{
		{"src", m.Src.IsValid()}, {"dst", m.Dst.IsValid()}, {"src-port", !m.SrcPort.IsZero()},
		{"vlan", m.VLAN != 0}, {"dscp", m.DSCP != nil}, {"interface", m.Interface != ""},
	} {
		if other.set {
			r.errorf(mp+"."+other.name, "cannot go with a cgroup match, which classifies sockets when they are created or connect (use protocol and dst-port)")
		}
	}
	if f.Direction.HasIngress() {
		r.errorf(path+".direction", "a cgroup match marks the sockets a cgroup's processes create, so it classifies egress only")
	}
	if f.Police != nil {
		r.errorf(path+".police", "a cgroup flow is marked once per socket and never seen per packet: rate-limit it with its class")
	}
}

// badCgroup says why p cannot name cgroups under the cgroup2 mount, or "".
func badCgroup(p string) string {
	rel := strings.TrimPrefix(p, "/")
	switch {
	case strings.TrimSpace(p) != p:
		return "has leading or trailing spaces"
	case rel == "":
		return "is the cgroup root, which would match every process; name a cgroup under it"
	case strings.HasPrefix(rel, "sys/") || strings.HasPrefix(rel, "proc/"):
		return "is a host path; give the path under the cgroup2 mount, as /proc/<pid>/cgroup shows it (e.g. system.slice/backup.service)"
	}
	for i, seg := range strings.Split(rel, "/") {
		switch {
		case seg == "":
			return fmt.Sprintf("has an empty segment (#%d)", i+1)
		case seg == "." || seg == "..":
			return fmt.Sprintf("has a %q segment; cgroup paths are canonical", seg)
		case strings.HasPrefix(seg, "cgroup.") && !isGlob(seg):
			return fmt.Sprintf("has %q, which is a cgroup interface file, not a cgroup", seg)
		}
		if _, err := pathpkg.Match(seg, ""); err != nil {
			return fmt.Sprintf("has a malformed glob %q", seg)
		}
	}
	return ""
}

func validateTarget(p *Policy, r *reporter, i int, classes, seen map[string]int) {
	t := &p.Targets[i]
	path := fmt.Sprintf("targets[%d]", i)
	checkName(r, path+".name", t.Name)
	if j, dup := seen[t.Name]; dup && t.Name != "" {
		r.errorf(path+".name", "target %q is already defined at targets[%d]", t.Name, j)
	} else {
		seen[t.Name] = i
	}
	for j, c := range t.Classes {
		if _, ok := classes[c]; !ok {
			r.errorf(fmt.Sprintf("%s.classes[%d]", path, j), "class %q is not defined%s", c, nearest(c, keys(classes)))
		}
	}
	// Fields that belong to the other kind are refused, not ignored.
	nicOnly := []string{"interface", "pci", "representors", "fallback", "sriov"}
	switchOnly := []string{"address", "interfaces", "tls", "credentials"}
	switch t.Kind {
	case "":
		r.errorf(path+".kind", "is required (nic or switch)")
	case NIC:
		if t.Interface == "" {
			r.errorf(path+".interface", "is required for a nic target")
		} else if why := badIfname(t.Interface); why != "" {
			r.errorf(path+".interface", "%q %s", t.Interface, why)
		}
		if why := badIfname(t.Fallback.Peer); t.Fallback.Peer != "" && why != "" {
			r.errorf(path+".fallback.peer", "%q %s", t.Fallback.Peer, why)
		}
		for j, rep := range t.Representors {
			if why := badIfname(rep); why != "" {
				r.errorf(fmt.Sprintf("%s.representors[%d]", path, j), "%q %s", rep, why)
			}
		}
		if t.PCI != "" && !pciPattern.MatchString(t.PCI) {
			r.errorf(path+".pci", "%q is not a PCI address (e.g. 0000:3b:00.0)", t.PCI)
		}
		switch t.Fallback.Mode {
		case "attach":
			if t.Fallback.Peer != "" {
				r.errorf(path+".fallback.peer", "is only used in bridge mode")
			}
			if t.Fallback.OnFailure == "block" {
				r.errorf(path+".fallback.on-failure", "attach mode always fails open: a dead pacer must never cut the host off its network (block is for bridge mode)")
			}
		case "bridge":
			if t.Fallback.Peer == "" {
				r.errorf(path+".fallback.peer", "bridge mode needs a peer interface")
			} else if t.Fallback.Peer == t.Interface {
				r.errorf(path+".fallback.peer", "must differ from interface %q", t.Interface)
			}
		default:
			r.errorf(path+".fallback.mode", "unknown mode %q (use attach or bridge)", t.Fallback.Mode)
		}
		if t.Fallback.SlowLink > MaxSlowLink {
			r.errorf(path+".fallback.slow-link", "%v is above %v: a full-size frame serialises in microseconds there, and cutting segments would only cost throughput", t.Fallback.SlowLink, MaxSlowLink)
		}
		switch t.Fallback.OnFailure {
		case "", "bypass", "block":
		default:
			r.errorf(path+".fallback.on-failure", "unknown value %q (use bypass or block)", t.Fallback.OnFailure)
		}
		for _, f := range switchOnly {
			if r.has(path + "." + f) {
				r.errorf(path+"."+f, "is a switch field; this target is a nic")
			}
		}
		validateSRIOV(p, r, path, t, classes)
	case Switch:
		if t.Address == "" {
			r.errorf(path+".address", "is required for a switch target (host:port)")
		} else if !strings.Contains(t.Address, ":") {
			r.errorf(path+".address", "%q needs a port (host:port)", t.Address)
		}
		if len(t.Interfaces) == 0 {
			r.errorf(path+".interfaces", "a switch target needs at least one interface to bind")
		}
		for _, f := range nicOnly {
			if r.has(path + "." + f) {
				r.errorf(path+"."+f, "is a nic field; this target is a switch")
			}
		}
		validateCredentials(r, path, t)
	}
}

func validateCredentials(r *reporter, path string, t *Target) {
	c := &t.Credentials
	cp := path + ".credentials"
	if r.has(cp + ".password") {
		r.errorf(cp+".password", "inline secrets are not accepted: use password-env or password-file")
	}
	if c.Username != "" && c.UsernameEnv != "" {
		r.errorf(cp+".username-env", "set username or username-env, not both")
	}
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		r.errorf(cp+".password-file", "set password-env or password-file, not both")
	}
	if (c.PasswordEnv != "" || c.PasswordFile != "") && c.Username == "" && c.UsernameEnv == "" {
		r.errorf(cp, "a password needs a username or username-env")
	}
	tp := path + ".tls"
	if (t.TLS.CertFile == "") != (t.TLS.KeyFile == "") {
		r.errorf(tp, "cert-file and key-file go together")
	}
	if t.TLS.Insecure && (t.TLS.CAFile != "" || t.TLS.CertFile != "") {
		r.errorf(tp+".insecure", "insecure disables TLS, so ca-file and cert-file would be ignored")
	}
	if t.TLS.Insecure && (c.PasswordEnv != "" || c.PasswordFile != "") {
		r.errorf(tp+".insecure", "a password is never sent without TLS")
	}
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// nearest suggests the closest known name.
func nearest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestD || d == bestD && best != "" && k < best {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// ifnameMax is the longest Linux interface name in bytes (IFNAMSIZ - 1).
const ifnameMax = 15

// badIfname says why the kernel cannot have an interface named name
// (net/core/dev.c: dev_valid_name), or "" when it can.
func badIfname(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > ifnameMax:
		return fmt.Sprintf("is %d bytes long; a Linux interface name has at most %d", len(name), ifnameMax)
	case name == "." || name == "..":
		return "is not an interface name"
	}
	for _, c := range name {
		if c == '/' || c == ':' || unicode.IsSpace(c) {
			return fmt.Sprintf("has %q, which a Linux interface name cannot contain", c)
		}
	}
	return ""
}
