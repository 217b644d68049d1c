package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Phase is one run of the generator against a target's pacer.
type Phase struct {
	// Overload is the class offered the whole port on top of the load;
	// "" for the plain load.
	Overload string
	// Gen is what was offered; Sent and Got are per Gen index.
	Gen      []vethlab.Flow
	Sent     []vethlab.SentStats
	Got      map[uint16]*vethlab.FlowResult
	Duration time.Duration
	// RxDrops are frames the lab's receiver socket dropped (the lab, not
	// the pacer).
	RxDrops uint64
	// Counters are the pacer's over the phase (nil when it reported
	// none).
	Counters *offload.Counters
}

// Result is one verified target.
type Result struct {
	Setup        *Setup
	Traffic      *Traffic
	Expectations []Expectation
	Load         *Phase
	// Overloads are the overload phases by overloaded class.
	Overloads map[string]*Phase
	Verdicts  []Verdict
}

// Options configure Run.
type Options struct {
	// Duration is how long each phase sends (at least 2 s: the first 1 s
	// window is the transient and not judged).
	Duration time.Duration
	// Expect are the expectations file's, if any.
	Expect []FileExpectation
	Log    *slog.Logger
}

// Targets returns the targets to verify: the named one, else every NIC
// target, else (a policy of switches) every target, as the pacer would
// carry its classes.
func Targets(p *model.Policy, name string) ([]*model.Target, error) {
	var all, nics []*model.Target
	for i := range p.Targets {
		t := &p.Targets[i]
		all = append(all, t)
		if t.Kind == model.NIC {
			nics = append(nics, t)
		}
		if t.Name == name {
			return []*model.Target{t}, nil
		}
	}
	if name != "" {
		return nil, fmt.Errorf("no target %q in policy %q", name, p.Name)
	}
	if len(nics) > 0 {
		return nics, nil
	}
	return all, nil
}

// Run verifies each target of p on one veth lab, built here and torn down
// on every path (also when ctx ends, e.g. on SIGINT). It needs root.
func Run(ctx context.Context, p *model.Policy, targets []*model.Target, o Options) ([]*Result, error) {
	if o.Duration < 2*time.Second {
		return nil, errors.New("the duration must be at least 2s")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var results []*Result
	for _, t := range targets {
		s, err := NewSetup(p, t)
		if err != nil {
			return nil, err
		}
		if t.Kind != model.NIC {
			s.Note = fmt.Sprintf("%s target: verified as the software pacer would carry its classes", t.Kind)
		}
		tr, err := Derive(s)
		if err != nil {
			return nil, err
		}
		exps := Bind(s, tr, Derived(s, tr), o.Expect)
		results = append(results, &Result{Setup: s, Traffic: tr, Expectations: exps, Overloads: map[string]*Phase{}})
	}
	if reason := vethlab.CheckRoot(); reason != "" {
		return nil, errors.New(reason)
	}
	lab, err := vethlab.New(ctx, vethlab.Bridge)
	if err != nil {
		return nil, fmt.Errorf("veth lab: %w", err)
	}
	defer func() {
		if err := lab.Close(); err != nil {
			log.Warn("tear the lab down", "err", err)
		}
		log.Info("lab torn down")
	}()
	for _, r := range results {
		if err := r.run(ctx, lab, o.Duration, log); err != nil {
			return nil, fmt.Errorf("target %s: %w", r.Setup.Target, err)
		}
		r.Verdicts = Judge(r)
	}
	return results, nil
}

// run measures the load phase and each overload phase an expectation
// asks for, each on a pacer process of its own with the target's plan, so
// that a phase's pacer counters are the phase's alone.
func (r *Result) run(ctx context.Context, lab *vethlab.Lab, d time.Duration, log *slog.Logger) error {
	var err error
	if r.Load, err = r.phase(ctx, lab, r.Traffic.Gen, d); err != nil {
		return err
	}
	log.Info("load phase measured", "target", r.Setup.Target, "flows", len(r.Traffic.Gen))
	for _, e := range r.Expectations {
		if e.Kind != KeepsRate || r.Overloads[e.Overload] != nil {
			continue
		}
		gen := r.Traffic.overloaded(e.Overload, float64(r.Setup.Plan.Pacer.PortRate))
		if gen == nil {
			continue
		}
		ph, err := r.phase(ctx, lab, gen, d)
		if err != nil {
			return fmt.Errorf("overload of %s: %w", e.Overload, err)
		}
		ph.Overload = e.Overload
		r.Overloads[e.Overload] = ph
		log.Info("overload phase measured", "target", r.Setup.Target, "class", e.Overload)
	}
	return nil
}

// phase measures gen for d through a pacer process started for it and
// keeps the pacer's counters.
func (r *Result) phase(ctx context.Context, lab *vethlab.Lab, gen []vethlab.Flow, d time.Duration) (*Phase, error) {
	pacer, err := lab.StartPacer(ctx, r.Setup.Plan, vethlab.PacerConfig{})
	if err != nil {
		return nil, err
	}
	defer pacer.Stop()
	ph, err := measure(ctx, lab, gen, d)
	if err != nil {
		return nil, err
	}
	rep, err := pacer.Stop()
	if err != nil {
		return nil, err
	}
	ph.Counters = rep.Counters
	return ph, nil
}

// overloadMargin is how far above the port rate an overload phase offers:
// the overloaded class gets what the other classes leave of the port, plus
// this share of the port, on top of its load. (Not more: the frames the
// pacer drops cost the lab's two cores as much as those it forwards.)
const overloadMargin = 0.25

// overloaded returns the generator's flows with class's flows offered
// enough on top to overload the port (port rate in bit/s), in frames of up
// to 1000 bytes; nil when the class has no exercised flow.
func (tr *Traffic) overloaded(class string, port float64) []vethlab.Flow {
	c := classPlan(tr, class)
	if c == nil || len(c.Flows) == 0 {
		return nil
	}
	others := 0.0
	for i := range tr.Classes {
		if o := &tr.Classes[i]; o.Plan.Name != class && len(o.Flows) > 0 {
			want, _ := ExpectedRate(o)
			others += want
		}
	}
	gen := append([]vethlab.Flow(nil), tr.Gen...)
	extra := (max(port-others, 0) + overloadMargin*port) / float64(len(c.Flows))
	for gi, fi := range tr.GenFlow {
		if tr.Flows[fi].Class != class {
			continue
		}
		g := &gen[gi]
		g.Rate += uint64(extra)
		g.Size = max(g.Size, min(1000, max(int(c.Plan.MaxSDU), vethlab.MinFrameOf(*g))))
	}
	return gen
}

// measure sends gen for d with the receiver counting (delays recorded for
// every flow).
func measure(ctx context.Context, lab *vethlab.Lab, gen []vethlab.Flow, d time.Duration) (*Phase, error) {
	rec := make(map[uint16]uint8, len(gen))
	for i := range gen {
		rec[uint16(i)] = vethlab.RecordDelay
	}
	rx, err := lab.StartReceiver(rec)
	if err != nil {
		return nil, err
	}
	rx.Reset(time.Now().UnixNano())
	sent, _, err := lab.Send(ctx, gen, d)
	if err == nil {
		select { // let the shaped queues drain
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	got, _, rerr := rx.Stop()
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	if rerr != nil {
		return nil, fmt.Errorf("receive: %w", rerr)
	}
	return &Phase{Gen: gen, Sent: sent, Got: got, Duration: d, RxDrops: rx.Drops()}, nil
}
