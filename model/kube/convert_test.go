package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func i32(v int32) *int32 { return &v }

// base is a valid policy that each case changes in one way.
func base() *v1alpha1.QoSPolicy {
	return &v1alpha1.QoSPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "base"},
		Spec: v1alpha1.QoSPolicySpec{
			Classes: []v1alpha1.Class{
				{Name: "voice", Service: v1alpha1.Guaranteed, Rate: "50Mbit", Peak: "100Mbit"},
				{Name: "bulk", Service: v1alpha1.BestEffort},
			},
			Flows: []v1alpha1.Flow{
				{Name: "sip", Class: "voice", Match: &v1alpha1.Match{
					Protocol: v1alpha1.UDP, Dst: "10.20.0.0/16",
					DstPort: &v1alpha1.PortRange{Port: 5060, EndPort: i32(5061)},
				}},
				{Name: "backup", Class: "bulk", Match: &v1alpha1.Match{Dst: "10.40.0.0/24"}},
			},
			NICs: []v1alpha1.NICTarget{
				{Name: "host-nic", Interface: v1alpha1.InterfaceSelector{Name: "eth0"}, Capacity: "1Gbit"},
			},
			Switches: []v1alpha1.SwitchTarget{
				{Name: "leaf1", Address: "leaf1:9339", Interfaces: []v1alpha1.SwitchInterfaceName{"Ethernet1"}},
			},
		},
	}
}

// fieldErr is one expected error: its exact field path and a part of its
// message.
type fieldErr struct{ path, msg string }

// errorsOf returns the ErrorList of err, failing t if it is another error.
func errorsOf(t *testing.T, err error) model.ErrorList {
	t.Helper()
	if err == nil {
		return nil
	}
	var list model.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want model.ErrorList: %v", err, err)
	}
	return list
}

// checkErrors compares the errors of err with want, in order: exact paths,
// message parts.
func checkErrors(t *testing.T, name string, err error, want []fieldErr) {
	t.Helper()
	list := errorsOf(t, err)
	var got []string
	for _, e := range list {
		got = append(got, e.Path+": "+e.Msg)
		if e.File != "qospolicy/"+name || e.Pos != (model.Pos{}) {
			t.Errorf("error %q: file %q pos %v, want qospolicy/%s and no position", e.Error(), e.File, e.Pos, name)
		}
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(list), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if list[i].Path != w.path || !strings.Contains(list[i].Msg, w.msg) {
			t.Errorf("error %d = %q, want path %q with %q", i, got[i], w.path, w.msg)
		}
	}
}

func TestToPolicyValid(t *testing.T) {
	p, err := ToPolicy(base())
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "base" || len(p.Classes) != 2 || len(p.Flows) != 2 || len(p.Targets) != 2 {
		t.Fatalf("got name %q, %d classes, %d flows, %d targets", p.Name, len(p.Classes), len(p.Flows), len(p.Targets))
	}
	if r := p.Flows[0].Match.DstPort; r.Lo != 5060 || r.Hi != 5061 {
		t.Errorf("dst port %v, want 5060-5061", r)
	}
	nic, sw := p.Targets[0], p.Targets[1]
	if nic.Kind != model.NIC || nic.Interface != "eth0" || nic.Capacity != 1e9 || nic.Fallback.Mode != "attach" {
		t.Errorf("nic target %+v", nic)
	}
	if sw.Kind != model.Switch || sw.Address != "leaf1:9339" || len(sw.Interfaces) != 1 {
		t.Errorf("switch target %+v", sw)
	}
}

// TestToPolicyErrors checks every kind of problem the model finds that can
// reach it from a QoSPolicy, each at its exact Kubernetes field path. Most
// of these the CRD schema cannot see (a class undefined in a flow, equally
// specific overlapping flows, admission control, a rate that is not a whole
// number of bits per second, 0bit where a rate is required); the others
// (marked "schema") the CRD refuses too, and the model must agree.
func TestToPolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p *v1alpha1.QoSPolicy)
		want   []fieldErr
	}{
		{"class undefined in a flow", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[0].Class = "vioce"
		}, []fieldErr{{"spec.flows[0].class", `class "vioce" is not defined (did you mean "voice"?)`}}},
		{"equally specific overlapping flows", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[1].Match = &v1alpha1.Match{Protocol: v1alpha1.UDP, Dst: "10.20.0.0/16", DstPort: &v1alpha1.PortRange{Port: 5061, EndPort: i32(5062)}}
		}, []fieldErr{{"spec.flows[1].match", `flow "backup" can match the same packets as flow "sip" (spec.flows[0]) with equal specificity`}}},
		{"admission control over capacity", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Capacity = "40Mbit"
		}, []fieldErr{{"spec.nics[0].capacity", `admission refused on target "host-nic": reserved classes voice (50Mbit) need 50Mbit, more than the link capacity 40Mbit`}}},
		{"admission control on a switch", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Switches[0].Capacity = "10Mbit"
		}, []fieldErr{{"spec.switches[0].capacity", "admission refused"}}},
		{"peak below rate (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[0].Peak = "20Mbit"
		}, []fieldErr{{"spec.classes[0].peak", "20Mbit is below rate 50Mbit"}}},
		{"guaranteed with a zero rate", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[0].Rate, p.Spec.Classes[0].Peak = "0bit", ""
		}, []fieldErr{{"spec.classes[0].rate", "a guaranteed class needs a rate"}}},
		{"rate not a whole number of bits", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[0].Rate = "0.5bit"
		}, []fieldErr{{"spec.classes[0].rate", "not a whole number of bits per second"}}},
		{"rate too large", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[0].Peak = "99999999999Tbit"
		}, []fieldErr{{"spec.classes[0].peak", "too many bits per second"}}},
		{"size not a whole number of bytes", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[0].Bucket = "1.5B"
		}, []fieldErr{{"spec.classes[0].bucket", "not a whole number of bytes"}}},
		{"bucket below maxSDU (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[0].Bucket, p.Spec.Classes[0].MaxSDU = "1000B", "1500B"
		}, []fieldErr{{"spec.classes[0].bucket", "1000B is smaller than maxSDU 1500B"}}},
		{"minPoliced above maxSDU (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[1].MinPoliced = "2KiB"
		}, []fieldErr{{"spec.classes[1].minPoliced", "2KiB is larger than maxSDU 1518B"}}},
		{"maxSDU out of range (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[1].MaxSDU = "63B"
		}, []fieldErr{{"spec.classes[1].maxSDU", "63B is out of range 64B-65535B"}}},
		{"nonConforming with a zero rate", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[1].Rate, p.Spec.Classes[1].NonConforming = "0bit", v1alpha1.Discard
		}, []fieldErr{{"spec.classes[1].nonConforming", "discard needs a rate"}}},
		{"bucket with a zero rate", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[1].Rate, p.Spec.Classes[1].Bucket = "0bit", "64KiB"
		}, []fieldErr{{"spec.classes[1].bucket", "a bucket needs a rate"}}},
		{"cgroup path out of the cgroup2 mount", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[0].Match = &v1alpha1.Match{Cgroup: "system.slice/../x"}
		}, []fieldErr{{"spec.flows[0].match.cgroup", `has a ".." segment`}}},
		{"cgroup flow on ingress", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[0].Match = &v1alpha1.Match{Cgroup: "system.slice/backup.service"}
			p.Spec.Flows[0].Direction = v1alpha1.Ingress
		}, []fieldErr{{"spec.flows[0].direction", "classifies egress only"}}},
		{"duplicate class (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[1].Name = "voice"
		}, []fieldErr{
			{"spec.classes[1].name", `class "voice" is already defined at spec.classes[0]`},
			{"spec.flows[1].class", `class "bulk" is not defined`},
		}},
		{"no class (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes, p.Spec.Flows = nil, nil
			p.Spec.NICs[0].Capacity = ""
		}, []fieldErr{{"spec.classes", "a policy needs at least one class"}}},
		{"duplicate flow name", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[1].Name = "sip"
		}, []fieldErr{{"spec.flows[1].name", `flow "sip" is already defined at spec.flows[0]`}}},
		{"defaulted flow name taken", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[0].Name = "bulk-1"
			p.Spec.Flows[1].Name = ""
		}, []fieldErr{{"spec.flows[1].name", `flow "bulk-1" is already defined at spec.flows[0]`}}},
		{"prefix with host bits", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[1].Match.Dst = "10.40.0.1/24"
		}, []fieldErr{{"spec.flows[1].match.dst", `"10.40.0.1/24" has host bits set (did you mean 10.40.0.0/24?)`}}},
		{"not an address", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[1].Match.Src = "10.40.0"
		}, []fieldErr{{"spec.flows[1].match.src", `"10.40.0" is not an IP address or prefix`}}},
		{"address families differ", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[1].Match.Src = "2001:db8::/32"
		}, []fieldErr{{"spec.flows[1].match.dst", "are of different address families"}}},
		{"icmp to an IPv6 prefix", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[1].Match = &v1alpha1.Match{Protocol: v1alpha1.ICMP, Dst: "2001:db8::/32"}
		}, []fieldErr{{"spec.flows[1].match.protocol", "icmp does not match the address family"}}},
		{"port without a port protocol (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[1].Match.SrcPort = &v1alpha1.PortRange{Port: 53}
		}, []fieldErr{{"spec.flows[1].match.srcPort", "a port match needs protocol tcp, udp or sctp"}}},
		{"port range reversed (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[0].Match.DstPort = &v1alpha1.PortRange{Port: 5061, EndPort: i32(5060)}
		}, []fieldErr{{"spec.flows[0].match.dstPort", `range "5061-5060" is not ordered`}}},
		{"police with a zero rate", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Flows[0].Police = &v1alpha1.Police{Rate: "0bit", Burst: "32KiB"}
		}, []fieldErr{{"spec.flows[0].police.rate", "is required"}}},
		{"target class undefined", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Classes = []v1alpha1.Name{"voice", "bluk"}
		}, []fieldErr{{"spec.nics[0].classes[1]", `class "bluk" is not defined (did you mean "bulk"?)`}}},
		{"NIC and switch share a name (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Switches[0].Name = "host-nic"
		}, []fieldErr{{"spec.switches[0].name", `target "host-nic" is already defined at spec.nics[0]`}}},
		{"interface name the kernel refuses", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Interface.Name = ".."
		}, []fieldErr{{"spec.nics[0].interface.name", `".." is not an interface name`}}},
		{"bridge peer the kernel refuses", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Fallback = &v1alpha1.Fallback{Mode: v1alpha1.Bridge, Peer: "."}
		}, []fieldErr{{"spec.nics[0].fallback.peer", `"." is not an interface name`}}},
		{"representor the kernel refuses", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Representors = []v1alpha1.InterfaceName{"pf0vf0", "."}
		}, []fieldErr{{"spec.nics[0].representors[1]", "is not an interface name"}}},
		{"bridge without peer (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Fallback = &v1alpha1.Fallback{Mode: v1alpha1.Bridge}
		}, []fieldErr{{"spec.nics[0].fallback.peer", "bridge mode needs a peer interface"}}},
		{"peer in attach mode (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Fallback = &v1alpha1.Fallback{Peer: "eth1"}
		}, []fieldErr{{"spec.nics[0].fallback.peer", "is only used in bridge mode"}}},
		{"block in attach mode (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Fallback = &v1alpha1.Fallback{OnFailure: v1alpha1.Block}
		}, []fieldErr{{"spec.nics[0].fallback.onFailure", "attach mode always fails open"}}},
		{"peer is the interface (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.NICs[0].Fallback = &v1alpha1.Fallback{Mode: v1alpha1.Bridge, Peer: "eth0"}
		}, []fieldErr{{"spec.nics[0].fallback.peer", `must differ from interface "eth0"`}}},
		{"insecure with a CA (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Switches[0].TLS = &v1alpha1.SwitchTLS{Insecure: true, CASecretRef: &v1alpha1.SecretKeyReference{Namespace: "qosplane", Name: "ca"}}
		}, []fieldErr{{"spec.switches[0].tls.insecure", "insecure disables TLS"}}},
		{"password without TLS (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Switches[0].TLS = &v1alpha1.SwitchTLS{Insecure: true}
			p.Spec.Switches[0].Credentials = &v1alpha1.SwitchCredentials{Username: "admin",
				PasswordSecretRef: &v1alpha1.SecretKeyReference{Namespace: "qosplane", Name: "leaf1"}}
		}, []fieldErr{{"spec.switches[0].tls.insecure", "a password is never sent without TLS"}}},
		{"password without a username (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Switches[0].Credentials = &v1alpha1.SwitchCredentials{
				PasswordSecretRef: &v1alpha1.SecretKeyReference{Namespace: "qosplane", Name: "leaf1"}}
		}, []fieldErr{{"spec.switches[0].credentials", "a password needs a username"}}},
		{"switch address without a port (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Switches[0].Address = "leaf1"
		}, []fieldErr{{"spec.switches[0].address", `"leaf1" needs a port`}}},
		{"switch without interfaces (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Switches[0].Interfaces = nil
		}, []fieldErr{{"spec.switches[0].interfaces", "a switch target needs at least one interface"}}},
		{"name too long (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Name = strings.Repeat("a", 64)
		}, []fieldErr{{"metadata.name", "is not a valid name"}}},
		{"no name (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Name = ""
		}, []fieldErr{{"metadata.name", "is required"}}},
		{"name with -- (schema)", func(p *v1alpha1.QoSPolicy) {
			p.Name = "a--b"
		}, []fieldErr{{"metadata.name", `may not contain "--"`}}},
		{"several problems at once", func(p *v1alpha1.QoSPolicy) {
			p.Spec.Classes[0].Peak = "20Mbit"
			p.Spec.Flows[1].Class = "none"
			p.Spec.NICs[0].Capacity = "1Mbit"
		}, []fieldErr{
			{"spec.classes[0].peak", "below rate"},
			{"spec.flows[1].class", "is not defined"},
			{"spec.nics[0].capacity", "admission refused"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qp := base()
			tc.change(qp)
			p, err := ToPolicy(qp)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			checkErrors(t, qp.Name, err, tc.want)
			if got := err.Error(); !strings.HasPrefix(got, "qospolicy/") || !strings.Contains(got, ": "+tc.want[0].path+": ") {
				t.Errorf("error text %q lacks the field path %s", got, tc.want[0].path)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	qp := base()
	qp.Name = "host"
	qp.Spec.Classes[0].Rate, qp.Spec.Classes[0].Peak = "100Mbit", "50Mbit"
	_, err := ToPolicy(qp)
	if want := "qospolicy/host: spec.classes[0].peak: 50Mbit is below rate 100Mbit"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestToNodePolicy(t *testing.T) {
	qp := base()
	qp.Spec.NICs = append(qp.Spec.NICs,
		v1alpha1.NICTarget{Name: "by-driver", Interface: v1alpha1.InterfaceSelector{Driver: "mlx5_core"},
			Fallback: &v1alpha1.Fallback{Mode: v1alpha1.Bridge, Peer: "ens1f1np1"}},
		v1alpha1.NICTarget{Name: "by-route", Interface: v1alpha1.InterfaceSelector{DefaultRoute: true}})

	p, err := ToPolicy(qp)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{p.Targets[0].Interface, p.Targets[1].Interface, p.Targets[2].Interface}; got[0] != "eth0" || got[1] != UnresolvedInterface || got[2] != UnresolvedInterface {
		t.Errorf("cluster view interfaces %q, want eth0 and two %q", got, UnresolvedInterface)
	}

	node := ResolverFunc(func(t *v1alpha1.NICTarget) (string, string, error) {
		switch {
		case t.Interface.Name != "":
			return string(t.Interface.Name), "", nil
		case t.Interface.Driver == "mlx5_core":
			return "ens1f0np0", "0000:3b:00.0", nil
		}
		return "", "", errors.New("no default route")
	})
	_, err = ToNodePolicy(qp, node)
	checkErrors(t, "base", err, []fieldErr{{"spec.nics[2].interface", "does not resolve on this node: no default route"}})

	qp.Spec.NICs = qp.Spec.NICs[:2]
	p, err = ToNodePolicy(qp, node)
	if err != nil {
		t.Fatal(err)
	}
	if nic := p.Targets[1]; nic.Interface != "ens1f0np0" || nic.PCI != "0000:3b:00.0" || nic.Fallback.OnFailure != "bypass" {
		t.Errorf("resolved target %+v", nic)
	}

	// A peer equal to the resolved interface is found only on the node.
	qp.Spec.NICs[1].Fallback.Peer = "ens1f0np0"
	_, err = ToNodePolicy(qp, node)
	checkErrors(t, "base", err, []fieldErr{{"spec.nics[1].fallback.peer", `must differ from interface "ens1f0np0"`}})

	// A PCI address the resolver gets wrong is an error at the selector.
	bad := ResolverFunc(func(*v1alpha1.NICTarget) (string, string, error) { return "eth9", "3b:00.0", nil })
	_, err = ToNodePolicy(qp, bad)
	checkErrors(t, "base", err, []fieldErr{
		{"spec.nics[0].interface", "is not a PCI address"},
		{"spec.nics[1].interface", "is not a PCI address"},
	})

	if _, err := ToNodePolicy(qp, nil); err == nil {
		t.Error("ToNodePolicy without a resolver succeeded")
	}
}

func TestSecretsBecomeFiles(t *testing.T) {
	qp := base()
	qp.Spec.Switches[0].TLS = &v1alpha1.SwitchTLS{
		CASecretRef:         &v1alpha1.SecretKeyReference{Namespace: "qosplane", Name: "fabric-ca"},
		ClientCertSecretRef: &v1alpha1.SecretReference{Namespace: "qosplane", Name: "leaf1-client"},
		ServerName:          "leaf1.example",
	}
	qp.Spec.Switches[0].Credentials = &v1alpha1.SwitchCredentials{Username: "qos",
		PasswordSecretRef: &v1alpha1.SecretKeyReference{Namespace: "qosplane", Name: "leaf1", Key: "pw"}}
	p, err := ToPolicy(qp)
	if err != nil {
		t.Fatal(err)
	}
	sw := p.Targets[1]
	for got, want := range map[string]string{
		sw.TLS.CAFile:                    SecretDir + "/qosplane/fabric-ca/ca.crt",
		sw.TLS.CertFile:                  SecretDir + "/qosplane/leaf1-client/tls.crt",
		sw.TLS.KeyFile:                   SecretDir + "/qosplane/leaf1-client/tls.key",
		sw.TLS.ServerName:                "leaf1.example",
		sw.Credentials.Username:          "qos",
		sw.Credentials.PasswordFile:      SecretDir + "/qosplane/leaf1/pw",
		fmt.Sprint(sw.TLS.Insecure):      "false",
		sw.Credentials.PasswordEnv + "-": "-",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestNilPolicy(t *testing.T) {
	if _, err := ToPolicy(nil); err == nil {
		t.Error("ToPolicy(nil) succeeded")
	}
}

// TestToPolicyCgroup: a cgroup match reaches the model as the file's
// match.cgroup, with the protocol and port that may go with it.
func TestToPolicyCgroup(t *testing.T) {
	qp := base()
	qp.Spec.Flows[1].Match = &v1alpha1.Match{Cgroup: "system.slice/backup.service", Protocol: v1alpha1.TCP,
		DstPort: &v1alpha1.PortRange{Port: 873}}
	p, err := ToPolicy(qp)
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Flows[1].Match; m.Cgroup != "system.slice/backup.service" || m.DstPort.Lo != 873 || m.DstPort.Hi != 873 {
		t.Errorf("match %+v", m)
	}
}
