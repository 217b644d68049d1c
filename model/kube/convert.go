package kube

import (
	"errors"
	"fmt"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// UnresolvedInterface is the interface ToPolicy gives a NIC target whose
// template does not pick its interface by name: only a node can resolve
// it. It is a valid Linux interface name for the model's checks and names
// no interface a node has.
const UnresolvedInterface = "<unresolved>"

// Resolver resolves NIC target templates on one node.
type Resolver interface {
	// ResolveNIC returns the name of the node's interface that t picks
	// and its device's PCI address ("" when it has none or it is not
	// known). It fails when t picks no interface or more than one.
	ResolveNIC(t *v1alpha1.NICTarget) (ifname, pci string, err error)
}

// ResolverFunc is a function that is a Resolver.
type ResolverFunc func(t *v1alpha1.NICTarget) (ifname, pci string, err error)

// ResolveNIC calls f.
func (f ResolverFunc) ResolveNIC(t *v1alpha1.NICTarget) (string, string, error) { return f(t) }

// ToPolicy converts qp's spec into the model, applies the model's defaults
// and runs the model's validation, as for a policy file. The policy's name
// is qp's name. A NIC target template that picks its interface by name
// gets that interface, any other UnresolvedInterface (see ToNodePolicy).
//
// The error is a model.ErrorList naming every problem, each with File
// "qospolicy/<name>", a zero Pos and a Kubernetes field path, e.g.
// "spec.classes[1].peak: 50Mbit is below rate 100Mbit".
func ToPolicy(qp *v1alpha1.QoSPolicy) (*model.Policy, error) {
	return convert(qp, nil)
}

// ToNodePolicy is ToPolicy for one node: r resolves every NIC target
// template to the node's interface. A template r cannot resolve is an
// error at spec.nics[i].interface.
func ToNodePolicy(qp *v1alpha1.QoSPolicy, r Resolver) (*model.Policy, error) {
	if r == nil {
		return nil, errors.New("kube: ToNodePolicy needs a Resolver")
	}
	return convert(qp, r)
}

// converter carries one conversion's resolver and the errors found before
// the model runs (templates that do not resolve).
type converter struct {
	file     string
	resolver Resolver
	errs     model.ErrorList
}

func convert(qp *v1alpha1.QoSPolicy, r Resolver) (*model.Policy, error) {
	if qp == nil {
		return nil, errors.New("kube: nil QoSPolicy")
	}
	c := &converter{file: "qospolicy/" + qp.Name, resolver: r}
	d, root := newDocument()
	root.strAt("name", "metadata.name", qp.Name)
	d.paths["name"] = "metadata.name" // also when the name is missing
	spec := &qp.Spec
	if spec.Marking != nil {
		marking(root.obj("marking", "marking"), spec.Marking)
	}
	classes(root.seq("classes", "classes"), spec.Classes)
	if len(spec.Flows) > 0 {
		flows(root.seq("flows", "flows"), spec.Flows)
	}
	if len(spec.NICs)+len(spec.Switches) > 0 {
		// A file has one list of targets, NICs first here; their paths
		// lead back to spec.nics[i] and spec.switches[i].
		targets := root.seq("targets", "targets")
		for i := range spec.NICs {
			c.nic(targets.item(fmt.Sprintf("spec.nics[%d]", i)), &spec.NICs[i])
		}
		for i := range spec.Switches {
			switchTarget(targets.item(fmt.Sprintf("spec.switches[%d]", i)), &spec.Switches[i])
		}
	}
	data, err := d.bytes()
	if err != nil {
		return nil, fmt.Errorf("kube: %s: %w", c.file, err)
	}
	p, err := model.Parse(c.file, data)
	var errs model.ErrorList
	if err != nil {
		var list model.ErrorList
		if !errors.As(err, &list) {
			return nil, fmt.Errorf("kube: %s: %w", c.file, err)
		}
		// In the document's order, which is the spec's: name, marking,
		// classes, flows, NICs, switches.
		for _, e := range list {
			errs = append(errs, &model.Error{File: c.file, Path: d.fieldPath(e.Path), Msg: d.message(e.Msg)})
		}
	}
	// Templates that did not resolve come last, after the model's
	// errors, which end with the targets'.
	errs = append(errs, c.errs...)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func marking(o *object, m *v1alpha1.Marking) {
	mark(o, "best-effort", "bestEffort", m.BestEffort)
	mark(o, "controlled-load", "controlledLoad", m.ControlledLoad)
	mark(o, "guaranteed", "guaranteed", m.Guaranteed)
	mark(o, "network-control", "networkControl", m.NetworkControl)
	mark(o, "qualitative", "qualitative", m.Qualitative)
	mark(o, "non-conforming", "nonConforming", m.NonConforming)
}

func mark(o *object, key, name string, m *v1alpha1.Mark) {
	if m == nil {
		return
	}
	mo := o.obj(key, name)
	mo.num("dscp", "dscp", m.DSCP)
	mo.num("pcp", "pcp", m.PCP)
}

func classes(l *list, cs []v1alpha1.Class) {
	for i := range cs {
		c := &cs[i]
		o := l.item(l.index(i))
		o.str("name", "name", string(c.Name))
		o.str("service", "service", string(c.Service))
		o.num("priority", "priority", c.Priority)
		o.num("weight", "weight", c.Weight)
		o.str("rate", "rate", string(c.Rate))
		o.str("peak", "peak", string(c.Peak))
		o.str("bucket", "bucket", string(c.Bucket))
		o.str("min-policed", "minPoliced", string(c.MinPoliced))
		o.str("max-sdu", "maxSDU", string(c.MaxSDU))
		o.str("non-conforming", "nonConforming", string(c.NonConforming))
		mark(o, "mark", "mark", c.Mark)
		mark(o, "mark-non-conforming", "markNonConforming", c.MarkNonConforming)
		o.flag("roce", "roce", c.RoCE)
		o.flag("pfc", "pfc", c.PFC)
	}
}

func flows(l *list, fs []v1alpha1.Flow) {
	for i := range fs {
		f := &fs[i]
		o := l.item(l.index(i))
		o.str("name", "name", string(f.Name))
		o.str("class", "class", string(f.Class))
		o.str("direction", "direction", string(f.Direction))
		if m := f.Match; m != nil {
			mo := o.obj("match", "match")
			mo.str("src", "src", string(m.Src))
			mo.str("dst", "dst", string(m.Dst))
			mo.str("protocol", "protocol", string(m.Protocol))
			mo.str("src-port", "srcPort", portRange(m.SrcPort))
			mo.str("dst-port", "dstPort", portRange(m.DstPort))
			if m.VLAN != 0 {
				mo.num("vlan", "vlan", &m.VLAN)
			}
			mo.num("dscp", "dscp", m.DSCP)
			mo.str("interface", "interface", string(m.Interface))
			mo.str("cgroup", "cgroup", m.Cgroup)
		}
		if p := f.Police; p != nil {
			po := o.obj("police", "police")
			po.str("rate", "rate", string(p.Rate))
			po.str("burst", "burst", string(p.Burst))
		}
		mark(o, "remark", "remark", f.Remark)
	}
}

// portRange writes r as a file does: "443" or "1000-2000".
func portRange(r *v1alpha1.PortRange) string {
	switch {
	case r == nil:
		return ""
	case r.EndPort == nil:
		return fmt.Sprint(r.Port)
	}
	return fmt.Sprintf("%d-%d", r.Port, *r.EndPort)
}

// nic writes a NIC target template as the file's target of kind nic.
func (c *converter) nic(o *object, t *v1alpha1.NICTarget) {
	o.str("name", "name", string(t.Name))
	o.strAt("kind", o.field, string(model.NIC))
	ifname, field, pci := c.resolve(o.field, t)
	o.strAt("interface", field, ifname)
	o.strAt("pci", join(o.field, "interface"), pci)
	strs(o, "representors", "representors", t.Representors)
	if fb := t.Fallback; fb != nil {
		fo := o.obj("fallback", "fallback")
		fo.str("mode", "mode", string(fb.Mode))
		fo.str("peer", "peer", string(fb.Peer))
		fo.str("on-failure", "onFailure", string(fb.OnFailure))
	}
	o.str("profile", "profile", t.Profile)
	o.str("capacity", "capacity", string(t.Capacity))
	strs(o, "classes", "classes", t.Classes)
}

// resolve picks the interface of template t (at field path at): with no
// resolver, its name or UnresolvedInterface. It returns the field path the
// model's interface field stands for.
func (c *converter) resolve(at string, t *v1alpha1.NICTarget) (ifname, field, pci string) {
	field = join(at, "interface")
	byName := t.Interface.Name != ""
	if byName {
		field = join(field, "name")
	}
	if c.resolver == nil {
		if byName {
			return string(t.Interface.Name), field, ""
		}
		return UnresolvedInterface, field, ""
	}
	ifname, pci, err := c.resolver.ResolveNIC(t)
	if err != nil {
		c.errs = append(c.errs, &model.Error{File: c.file, Path: join(at, "interface"), Msg: fmt.Sprintf("does not resolve on this node: %v", err)})
		return UnresolvedInterface, field, ""
	}
	return ifname, field, pci
}

// switchTarget writes a switch target as the file's target of kind switch;
// Secret references become the files under SecretDir.
func switchTarget(o *object, t *v1alpha1.SwitchTarget) {
	o.str("name", "name", string(t.Name))
	o.strAt("kind", o.field, string(model.Switch))
	o.str("address", "address", t.Address)
	strs(o, "interfaces", "interfaces", t.Interfaces)
	o.str("profile", "profile", t.Profile)
	o.str("capacity", "capacity", string(t.Capacity))
	strs(o, "classes", "classes", t.Classes)
	if tls := t.TLS; tls != nil {
		to := o.obj("tls", "tls")
		if ref := tls.CASecretRef; ref != nil {
			to.str("ca-file", "caSecretRef", secretRefPath(ref, DefaultCAKey))
		}
		if ref := tls.ClientCertSecretRef; ref != nil {
			to.str("cert-file", "clientCertSecretRef", SecretKeyPath(ref.Namespace, ref.Name, TLSCertKey))
			to.str("key-file", "clientCertSecretRef", SecretKeyPath(ref.Namespace, ref.Name, TLSKeyKey))
		}
		to.str("server-name", "serverName", tls.ServerName)
		to.flag("insecure", "insecure", tls.Insecure)
	}
	if cr := t.Credentials; cr != nil {
		co := o.obj("credentials", "credentials")
		co.str("username", "username", cr.Username)
		if ref := cr.PasswordSecretRef; ref != nil {
			co.str("password-file", "passwordSecretRef", secretRefPath(ref, DefaultPasswordKey))
		}
	}
}
