package kube

import (
	"context"
	"fmt"
	"time"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	mkube "github.com/qosplane/qosplane/model/kube"
)

// NodeAgent is the fleet mode's node agent: the agent fed by a NodeSource,
// its status published by a NodeStateWriter.
type NodeAgent struct {
	Agent  *agent.Agent
	Source *NodeSource
	Writer *NodeStateWriter
}

// NewNodeAgent lists the QoSPolicies and the Node (waiting until both are
// read once, or ctx ends) and makes the agent of node with cfg (its Source
// and OnChange are set here; any OnChange already set is called too). r
// resolves NIC templates; nil is the real node's sysfs and routes. Run it
// with Run.
func NewNodeAgent(ctx context.Context, c *Clients, node string, r mkube.Resolver, cfg agent.Config) (*NodeAgent, error) {
	if node == "" {
		return nil, fmt.Errorf("node agent: no node name (--node-name, or NODE_NAME from the downward API)")
	}
	if r == nil {
		r = &NodeResolver{}
	}
	// The source tells the agent of every change: no need to poll it.
	cfg.WatchInterval = time.Hour
	src := NewNodeSource(c, node, r, cfg.Log)
	if err := src.Start(ctx); err != nil {
		return nil, err
	}
	w := &NodeStateWriter{Clients: c, Node: node, Source: src, Log: cfg.Log}
	w.Init()
	prev := cfg.OnChange
	cfg.Source = src
	cfg.OnChange = func() {
		w.Notify()
		if prev != nil {
			prev()
		}
	}
	src.OnResults(w.Notify)
	a, err := agent.New(cfg)
	if err != nil {
		return nil, err
	}
	w.Status = a.Status
	return &NodeAgent{Agent: a, Source: src, Writer: w}, nil
}

// Run runs the writer and the agent until ctx ends; it returns the agent's
// error.
func (n *NodeAgent) Run(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Writer.Run(wctx)
	}()
	err := n.Agent.Run(ctx)
	cancel()
	<-done
	return err
}
