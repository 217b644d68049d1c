// Package kube is what the fleet mode's node agent and controller share to
// talk to the Kubernetes API: the REST configuration, the qosplane.io
// resources, and conversions between their unstructured form (as the
// dynamic client and its informers carry them) and the typed API of
// model/kube/v1alpha1. It holds no state.
package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// The qosplane.io resources.
var (
	PolicyGVR    = v1alpha1.GroupVersion.WithResource("qospolicies")
	NodeStateGVR = v1alpha1.GroupVersion.WithResource("qosnodestates")
)

// RESTConfig loads the client configuration: the kubeconfig file when
// given, else the in-cluster service account. userAgent names the caller
// (e.g. "qosplane-agent/node1") in the apiserver's logs.
func RESTConfig(kubeconfig, userAgent string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}

// Clients are the typed (core objects: Nodes, Secrets, Leases) and dynamic
// (qosplane.io objects) clients of one configuration.
type Clients struct {
	Core    kubernetes.Interface
	Dynamic dynamic.Interface
}

// NewClients makes both clients from cfg.
func NewClients(cfg *rest.Config) (*Clients, error) {
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return &Clients{Core: core, Dynamic: dyn}, nil
}

// FromUnstructured converts an object the dynamic client returned into its
// typed form (out: *v1alpha1.QoSPolicy, *v1alpha1.QoSNodeState).
func FromUnstructured(u *unstructured.Unstructured, out any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
		return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// ToUnstructured converts a typed object for the dynamic client, with its
// apiVersion and kind set.
func ToUnstructured(obj runtime.Object, kind string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind(kind)
	return u, nil
}

// GroupResource names a resource in errors.
func GroupResource(gvr schema.GroupVersionResource) string { return gvr.GroupResource().String() }
