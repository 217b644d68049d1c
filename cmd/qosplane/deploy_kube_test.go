package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// kubeManifest is the part of deploy/kube's documents (the agent's and the
// controller's manifests) the tests read.
type kubeManifest struct {
	Kind     string
	Metadata struct{ Name, Namespace string }
	Rules    []struct {
		APIGroups []string `yaml:"apiGroups"`
		Resources []string
		Verbs     []string
	}
	RoleRef  struct{ Kind, Name string } `yaml:"roleRef"`
	Subjects []struct{ Kind, Name, Namespace string }
	Spec     struct {
		Replicas int
		Template struct {
			Spec struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
				HostNetwork        bool   `yaml:"hostNetwork"`
				SecurityContext    struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []struct {
					Image string
					Args  []string
					Env   []struct {
						Name      string
						ValueFrom struct {
							FieldRef struct {
								FieldPath string `yaml:"fieldPath"`
							} `yaml:"fieldRef"`
						} `yaml:"valueFrom"`
					}
					SecurityContext struct {
						Capabilities struct{ Add []string }
					} `yaml:"securityContext"`
					VolumeMounts []struct {
						Name      string
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				}
				Volumes []struct {
					Name     string
					HostPath struct{ Path string } `yaml:"hostPath"`
				}
			}
		}
	}
}

// readKubeManifests decodes every document of files, each also as YAML
// of its own (raw, for kubectl or the dynamic client).
func readKubeManifests(t *testing.T, files ...string) (docs []kubeManifest, raw [][]byte) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var node yaml.Node
			if err := dec.Decode(&node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var doc kubeManifest
			if err := node.Decode(&doc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			b, err := yaml.Marshal(&node)
			if err != nil {
				t.Fatal(err)
			}
			docs, raw = append(docs, doc), append(raw, b)
		}
	}
	return docs, raw
}

// TestFleetManifests checks the fleet mode's agent manifest: RBAC is
// exactly what the node agent uses (no Secrets, no writes beyond its
// QoSNodeState), bound to the DaemonSet's ServiceAccount, and the
// DaemonSet runs `qosplane agent --kube` on the host network with the
// node name from the downward API. TestFleetSimulated runs its agents as
// that ServiceAccount, so the rules are also proved sufficient.
func TestFleetManifests(t *testing.T) {
	hostOnly(t)
	docs, _ := readKubeManifests(t, "deploy/kube/agent.yaml")
	kinds := map[string]kubeManifest{}
	for _, d := range docs {
		kinds[d.Kind] = d
	}
	role, binding, ds := kinds["ClusterRole"], kinds["ClusterRoleBinding"], kinds["DaemonSet"]
	var rules []string
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					rules = append(rules, fmt.Sprintf("%s/%s:%s", g, res, v))
				}
			}
		}
	}
	slices.Sort(rules)
	want := []string{
		"/nodes:list", "/nodes:watch",
		"qosplane.io/qosnodestates/status:update",
		"qosplane.io/qosnodestates:create", "qosplane.io/qosnodestates:get",
		"qosplane.io/qospolicies:list", "qosplane.io/qospolicies:watch",
	}
	if !slices.Equal(rules, want) {
		t.Errorf("ClusterRole rules\n got %q\nwant %q", rules, want)
	}
	if binding.RoleRef.Name != role.Metadata.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" {
		t.Errorf("ClusterRoleBinding %+v does not bind %s to one ServiceAccount", binding, role.Metadata.Name)
	}
	ps := ds.Spec.Template.Spec
	if sa := binding.Subjects[0]; sa.Name != ps.ServiceAccountName || sa.Namespace != ds.Metadata.Namespace || kinds["ServiceAccount"].Metadata.Name != sa.Name {
		t.Errorf("the DaemonSet runs as %q, the binding names %s/%s", ps.ServiceAccountName, sa.Namespace, sa.Name)
	}
	if !ps.HostNetwork || len(ps.Containers) != 1 {
		t.Fatalf("DaemonSet: hostNetwork %v, %d containers", ps.HostNetwork, len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.Image != "ghcr.io/qosplane/qosplane:dev" {
		t.Errorf("image %s", c.Image)
	}
	caps := slices.Sorted(slices.Values(c.SecurityContext.Capabilities.Add))
	if !slices.Equal(caps, []string{"BPF", "NET_ADMIN", "NET_RAW"}) {
		t.Errorf("capabilities %v, want BPF NET_ADMIN NET_RAW", caps)
	}
	// The cgroup flows' socket hooks attach to the host's cgroups.
	hostPaths := map[string]string{}
	for _, v := range ps.Volumes {
		hostPaths[v.Name] = v.HostPath.Path
	}
	var cgroupMounted bool
	for _, m := range c.VolumeMounts {
		if hostPaths[m.Name] == "/sys/fs/cgroup" && m.MountPath == "/sys/fs/cgroup" && m.ReadOnly {
			cgroupMounted = true
		}
	}
	if !cgroupMounted {
		t.Errorf("the agent does not mount the host's /sys/fs/cgroup read-only: mounts %+v, volumes %+v", c.VolumeMounts, ps.Volumes)
	}
	var nodeFrom string
	for _, e := range c.Env {
		if e.Name == "NODE_NAME" {
			nodeFrom = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if nodeFrom != "spec.nodeName" {
		t.Errorf("NODE_NAME comes from %q, want the downward API's spec.nodeName", nodeFrom)
	}
	if len(c.Args) < 2 || c.Args[0] != "agent" {
		t.Fatalf("args %q", c.Args)
	}
	t.Setenv("NODE_NAME", "node-1")
	f := newAgentFlags("agent")
	pos, err := parseInterspersed(f.fs, c.Args[1:])
	if err != nil || len(pos) != 0 || !f.kube || f.nodeName != "node-1" || f.kubeconfig != "" || f.logFormat != "json" {
		t.Errorf("container args %q do not parse as a --kube agent: %v %q", strings.Join(c.Args, " "), err, pos)
	}
}
