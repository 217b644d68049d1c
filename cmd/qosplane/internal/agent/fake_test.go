package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/qosplane/qosplane/offload"
)

// fakeDevice is a device's state, shared by every driver opened on it so
// that a restarted agent finds what the previous one left.
type fakeDevice struct {
	mu       sync.Mutex
	profile  string
	plan     *offload.TargetPlan
	applies  int // Apply calls that wrote
	attempts int // Apply calls
	removes  int
	closes   int
	failWith error         // Apply fails with it
	hang     bool          // Apply blocks until its context ends
	bytes    uint64        // per-class byte counter, grows on each read
	opened   int           // drivers opened
	applied  chan struct{} // signalled after each Apply
}

func newFakeDevice(profile string) *fakeDevice {
	return &fakeDevice{profile: profile, applied: make(chan struct{}, 100)}
}

func (d *fakeDevice) snapshot() *offload.TargetPlan {
	d.mu.Lock()
	defer d.mu.Unlock()
	return clonePlan(d.plan)
}

func clonePlan(tp *offload.TargetPlan) *offload.TargetPlan {
	if tp == nil {
		return nil
	}
	b, err := json.Marshal(tp)
	if err != nil {
		panic(err)
	}
	out := new(offload.TargetPlan)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

type fakeDriver struct{ d *fakeDevice }

func (f *fakeDriver) Probe(context.Context) (*offload.Capabilities, error) {
	c, err := offload.LoadProfile(f.d.profile)
	if err != nil {
		return nil, err
	}
	c.LinkSpeed = 100e9
	return c, nil
}

func (f *fakeDriver) Current(context.Context) (*offload.TargetPlan, error) {
	if tp := f.d.snapshot(); tp != nil {
		return tp, nil
	}
	return &offload.TargetPlan{}, nil
}

func (f *fakeDriver) Apply(ctx context.Context, want *offload.TargetPlan, ops []offload.Op) error {
	f.d.mu.Lock()
	fail, hang := f.d.failWith, f.d.hang
	f.d.attempts++
	f.d.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail != nil {
		return fmt.Errorf("apply %s: %w", ops[0].ID, fail)
	}
	f.d.mu.Lock()
	f.d.plan = clonePlan(want)
	f.d.applies++
	f.d.mu.Unlock()
	f.d.applied <- struct{}{}
	return nil
}

func (f *fakeDriver) Remove(context.Context) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	f.d.plan = nil
	f.d.removes++
	return nil
}

func (f *fakeDriver) Counters(context.Context) (*offload.Counters, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	c := &offload.Counters{Time: time.Now(), Classes: map[string]offload.ClassCounters{}}
	f.d.bytes += 1000
	if f.d.plan != nil {
		for _, cl := range f.d.plan.Classes {
			c.Classes[cl.Name] = offload.ClassCounters{Bytes: f.d.bytes, Packets: f.d.bytes / 100, Drops: 3, Where: cl.Where.Placement}
		}
	}
	return c, nil
}

func (f *fakeDriver) Close() error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	f.d.closes++
	return nil
}

// fakeFactory opens fake drivers on named devices.
type fakeFactory struct {
	mu      sync.Mutex
	devices map[string]*fakeDevice // by target name
	pacers  map[string]*fakeDevice
}

func newFakeFactory() *fakeFactory {
	return &fakeFactory{devices: map[string]*fakeDevice{}, pacers: map[string]*fakeDevice{}}
}

func (f *fakeFactory) device(name, profile string) *fakeDevice {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[name]
	if !ok {
		d = newFakeDevice(profile)
		f.devices[name] = d
	}
	return d
}

func (f *fakeFactory) pacer(name string) *fakeDevice {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.pacers[name]
	if !ok {
		d = newFakeDevice("none")
		f.pacers[name] = d
	}
	return d
}

func (f *fakeFactory) Open(_ context.Context, t Target) (offload.Driver, error) {
	profile := "ice"
	if t.Kind == "switch" {
		profile = "openconfig-switch"
	}
	d := f.device(t.Name, profile)
	d.mu.Lock()
	d.opened++
	d.mu.Unlock()
	return &fakeDriver{d: d}, nil
}

func (f *fakeFactory) OpenPacer(_ context.Context, tp *offload.TargetPlan) (offload.Driver, error) {
	return &fakeDriver{d: f.pacer(tp.Target)}, nil
}
