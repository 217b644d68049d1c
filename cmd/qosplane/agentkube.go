package main

import (
	"context"
	"errors"
	"os"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/cmd/qosplane/internal/kube"
)

// runner is a running agent: the file mode's agent.Agent or the fleet
// mode's kube.NodeAgent.
type runner interface {
	Run(ctx context.Context) error
	Reload()
}

// kubeFlags adds the fleet mode's flags.
func (f *agentFlags) kubeFlags() {
	f.fs.BoolVar(&f.kube, "kube", false, "fleet mode: apply the QoSPolicies selecting this node (no POLICY argument) and write its QoSNodeState")
	f.fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file for --kube (default: the in-cluster service account)")
	f.fs.StringVar(&f.nodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name for --kube (default $NODE_NAME, from the downward API)")
}

// kubeAgent makes the fleet mode's node agent: it reads the QoSPolicies
// and the Node once before returning.
func (f *agentFlags) kubeAgent(ctx context.Context, cfg agent.Config) (runner, error) {
	if f.nodeName == "" {
		return nil, errors.New("--kube needs the node's name: --node-name, or NODE_NAME from the downward API")
	}
	rc, err := kube.RESTConfig(f.kubeconfig, "qosplane-agent/"+f.nodeName)
	if err != nil {
		return nil, err
	}
	clients, err := kube.NewClients(rc)
	if err != nil {
		return nil, err
	}
	n, err := kube.NewNodeAgent(ctx, clients, f.nodeName, nil, cfg)
	if err != nil {
		return nil, err
	}
	return nodeRunner{n}, nil
}

// nodeRunner is a kube.NodeAgent as a runner.
type nodeRunner struct{ *kube.NodeAgent }

func (n nodeRunner) Reload() { n.Agent.Reload() }
