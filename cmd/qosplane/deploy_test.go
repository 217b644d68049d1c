package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/qosplane/qosplane/model"
)

// TestDaemonSet checks the Kubernetes manifest: its ConfigMap policy is
// valid, mounted where the agent reads it, and the container's arguments
// parse as an agent command line.
func TestDaemonSet(t *testing.T) {
	hostOnly(t)
	data, err := os.ReadFile("deploy/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var policy, mount string
	var args []string
	for {
		var doc struct {
			Kind string
			Data map[string]string
			Spec struct {
				Template struct {
					Spec struct {
						HostNetwork bool `yaml:"hostNetwork"`
						Containers  []struct {
							Args         []string
							VolumeMounts []struct {
								Name      string
								MountPath string `yaml:"mountPath"`
							} `yaml:"volumeMounts"`
							SecurityContext struct {
								Capabilities struct{ Add []string }
							} `yaml:"securityContext"`
						}
					}
				}
			}
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch doc.Kind {
		case "ConfigMap":
			policy = doc.Data["policy.yaml"]
		case "DaemonSet":
			ps := doc.Spec.Template.Spec
			if !ps.HostNetwork {
				t.Error("the DaemonSet must use the host network")
			}
			c := ps.Containers[0]
			args = c.Args
			for _, m := range c.VolumeMounts {
				if m.Name == "policy" {
					mount = m.MountPath
				}
			}
			if caps := strings.Join(c.SecurityContext.Capabilities.Add, ","); !strings.Contains(caps, "NET_ADMIN") {
				t.Errorf("capabilities %s lack NET_ADMIN", caps)
			}
		}
	}
	if _, err := model.Parse("configmap/policy.yaml", []byte(policy)); err != nil {
		t.Errorf("ConfigMap policy: %v", err)
	}
	if len(args) < 2 || args[0] != "agent" || args[1] != mount {
		t.Fatalf("args %q do not run the agent on the mounted policy %s", args, mount)
	}
	f := newAgentFlags("agent")
	pos, err := parseInterspersed(f.fs, args[1:])
	if err != nil || len(pos) != 1 || f.metrics == "" || f.logFormat != "json" {
		t.Errorf("container args do not parse: %v %q", err, pos)
	}
}

// TestSystemdUnit checks the unit's ExecStart parses as an agent command.
func TestSystemdUnit(t *testing.T) {
	hostOnly(t)
	data, err := os.ReadFile("deploy/qosplane.service")
	if err != nil {
		t.Fatal(err)
	}
	var exec []string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec = strings.Fields(v)
		}
	}
	if len(exec) < 3 || exec[1] != "agent" {
		t.Fatalf("ExecStart %q", exec)
	}
	f := newAgentFlags("agent")
	pos, err := parseInterspersed(f.fs, exec[2:])
	if err != nil || len(pos) != 1 || f.socket != "/run/qosplane/qosplane.sock" {
		t.Errorf("ExecStart does not parse: %v %q", err, pos)
	}
	if !strings.Contains(string(data), "ExecReload=/bin/kill -HUP $MAINPID") {
		t.Error("reload does not send SIGHUP")
	}
}
