package main

import (
	"context"
	"sync"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/offload"
)

// fleetNIC is a simulated node's NIC: it holds the plan applied to it and
// counts the writes, so a test sees every Apply and Remove an agent makes.
type fleetNIC struct {
	mu      sync.Mutex
	plan    *offload.TargetPlan
	applies int
	removes int
}

func (n *fleetNIC) counts() (applies, removes int, applied bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applies, n.removes, n.plan != nil
}

// fleetDriver drives a fleetNIC as an ice NIC at 25 Gbit/s.
type fleetDriver struct{ n *fleetNIC }

func (d fleetDriver) Probe(context.Context) (*offload.Capabilities, error) {
	c, err := offload.LoadProfile("ice")
	if err != nil {
		return nil, err
	}
	c.LinkSpeed = 25e9
	return c, nil
}

func (d fleetDriver) Current(context.Context) (*offload.TargetPlan, error) {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	if d.n.plan == nil {
		return &offload.TargetPlan{}, nil
	}
	return d.n.plan, nil
}

func (d fleetDriver) Apply(_ context.Context, want *offload.TargetPlan, _ []offload.Op) error {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	d.n.plan = want // the agent never mutates a plan it applied
	d.n.applies++
	return nil
}

func (d fleetDriver) Remove(context.Context) error {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	d.n.plan = nil
	d.n.removes++
	return nil
}

func (d fleetDriver) Counters(context.Context) (*offload.Counters, error) {
	return &offload.Counters{}, nil
}

func (d fleetDriver) Close() error { return nil }

// fleetFactory opens fleetDrivers: one NIC per target name on one node.
type fleetFactory struct {
	mu   sync.Mutex
	nics map[string]*fleetNIC
}

func newFleetFactory() *fleetFactory { return &fleetFactory{nics: map[string]*fleetNIC{}} }

func (f *fleetFactory) nic(target string) *fleetNIC {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nics[target]
	if !ok {
		n = &fleetNIC{}
		f.nics[target] = n
	}
	return n
}

// totals sums the node's NICs' applies and removes.
func (f *fleetFactory) totals() (applies, removes int) {
	f.mu.Lock()
	nics := make([]*fleetNIC, 0, len(f.nics))
	for _, n := range f.nics {
		nics = append(nics, n)
	}
	f.mu.Unlock()
	for _, n := range nics {
		a, r, _ := n.counts()
		applies += a
		removes += r
	}
	return applies, removes
}

func (f *fleetFactory) Open(_ context.Context, t agent.Target) (offload.Driver, error) {
	return fleetDriver{f.nic(t.Name)}, nil
}

func (f *fleetFactory) OpenPacer(_ context.Context, tp *offload.TargetPlan) (offload.Driver, error) {
	return fleetDriver{f.nic(tp.Target + "/pacer")}, nil
}
