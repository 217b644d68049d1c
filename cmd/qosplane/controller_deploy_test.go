package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// TestControllerManifests checks the controller's RBAC is exactly the
// least privilege it needs (no Secrets cluster-wide, no wildcards) and that
// the Deployment runs 2 non-root replicas whose arguments parse as a
// controller command line with the Pod name as identity.
func TestControllerManifests(t *testing.T) {
	hostOnly(t)
	docs, _ := readKubeManifests(t, "deploy/kube/controller-rbac.yaml", "deploy/kube/controller-deployment.yaml")
	want := map[string][]string{
		"ClusterRole qosplane.io/qospolicies":        {"get", "list", "watch"},
		"ClusterRole qosplane.io/qospolicies/status": {"patch", "update"},
		"ClusterRole qosplane.io/qosnodestates":      {"get", "list", "watch"},
		"ClusterRole /nodes":                         {"list", "watch"},
		"Role coordination.k8s.io/leases":            {"create", "get", "update"},
		"Role /secrets":                              {"get", "list", "watch"},
	}
	got := map[string][]string{}
	kinds := map[string]int{}
	var dep *kubeManifest
	for i, d := range docs {
		kinds[d.Kind]++
		if d.Kind == "Deployment" {
			dep = &docs[i]
		}
		for _, r := range d.Rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					v := slices.Clone(r.Verbs)
					slices.Sort(v)
					got[d.Kind+" "+g+"/"+res] = v
				}
			}
		}
		if (d.Kind == "RoleBinding" || d.Kind == "ClusterRoleBinding") &&
			(len(d.Subjects) != 1 || d.Subjects[0].Name != "qosplane-controller" || d.Subjects[0].Kind != "ServiceAccount") {
			t.Errorf("%s %s binds %+v", d.Kind, d.Metadata.Name, d.Subjects)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rules %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s: verbs %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s documents, want 1", kinds[k], k)
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	ps := dep.Spec.Template.Spec
	if dep.Spec.Replicas < 2 || !ps.SecurityContext.RunAsNonRoot || ps.ServiceAccountName != "qosplane-controller" || len(ps.Containers) != 1 {
		t.Fatalf("deployment: replicas %d, runAsNonRoot %v, serviceAccount %q, %d containers",
			dep.Spec.Replicas, ps.SecurityContext.RunAsNonRoot, ps.ServiceAccountName, len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.Image != "ghcr.io/qosplane/qosplane:dev" {
		t.Errorf("image %q", c.Image)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom.FieldRef.FieldPath
	}
	if env["POD_NAME"] != "metadata.name" || !slices.Contains(c.Args, "--identity=$(POD_NAME)") {
		t.Errorf("identity: env %v, args %v: want POD_NAME from metadata.name as --identity", env, c.Args)
	}
	// The arguments parse: with the variables expanded and an absent
	// kubeconfig, the command fails on the configuration (1), not on usage (2).
	args := make([]string, 0, len(c.Args)+1)
	for _, a := range c.Args {
		a = strings.NewReplacer("$(POD_NAME)", "pod-0", "$(POD_NAMESPACE)", "qosplane").Replace(a)
		args = append(args, a)
	}
	args = append(args, "--kubeconfig=/nonexistent/kubeconfig")
	var out bytes.Buffer
	if code := run(context.Background(), args, &out, &out); code != exitInvalid {
		t.Errorf("%v: exit %d, want %d (arguments parse, configuration missing):\n%s", args, code, exitInvalid, out.String())
	}
}
