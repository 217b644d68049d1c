package verify

import (
	"fmt"
	"math"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
)

// Status is a verdict's outcome.
type Status string

// Statuses.
const (
	Pass        Status = "pass"
	Fail        Status = "FAIL"
	NotVerified Status = "not verified"
)

// Verdict is an expectation judged against the measurements.
type Verdict struct {
	Expectation
	Status Status
	// Measured says what the lab saw (or why nothing was verified).
	Measured string
}

// Judge judges every expectation of r.
func Judge(r *Result) []Verdict {
	out := make([]Verdict, 0, len(r.Expectations))
	for _, e := range r.Expectations {
		v := Verdict{Expectation: e}
		v.Status, v.Measured = r.judge(&e)
		out = append(out, v)
	}
	return out
}

func verdict(ok bool) Status {
	if ok {
		return Pass
	}
	return Fail
}

// dev formats a measured rate and its deviation from want.
func dev(got, want float64) string {
	d := 0.0
	if want > 0 {
		d = got/want - 1
	}
	return fmt.Sprintf("%s (%+.1f%%)", model.Rate(got).Approx(), 100*d)
}

func (r *Result) judge(e *Expectation) (Status, string) {
	tr, ph := r.Traffic, r.Load
	if e.Reason != "" {
		return NotVerified, e.Reason
	}
	if e.Flow != "" {
		return r.judgeFlow(e)
	}
	c := classPlan(tr, e.Class)
	if c == nil {
		return NotVerified, fmt.Sprintf("class %s is not on target %s", e.Class, r.Setup.Target)
	}
	if len(c.Flows) == 0 {
		return NotVerified, "no flow of the class can be exercised on the lab"
	}
	switch e.Kind {
	case ClassRate:
		got := ph.ClassRate(tr, e.Class)
		if e.AtMost {
			return verdict(got <= e.Rate*(1+e.Tol)), dev(got, e.Rate)
		}
		return verdict(math.Abs(got/e.Rate-1) <= e.Tol), dev(got, e.Rate)
	case ClassConforming:
		got := ph.ClassConformingRate(tr, e.Class)
		return verdict(math.Abs(got/e.Rate-1) <= e.Tol), dev(got, e.Rate)
	case ClassLoss:
		l := max(0, 1-ph.ClassRate(tr, e.Class)/c.Admitted)
		return verdict(l < e.Tol), fmt.Sprintf("steady loss %.2f%% of %s admitted", 100*l, model.Rate(c.Admitted).Approx())
	case ClassDelay:
		t := ph.Totals(tr, e.Class)
		if len(t.Got.Delays) == 0 {
			return Fail, "nothing arrived"
		}
		p99 := t.P99()
		return verdict(p99 < e.Delay), fmt.Sprintf("p99 %v", p99.Round(10*time.Microsecond))
	case KeepsRate:
		op := r.Overloads[e.Overload]
		if op == nil {
			return NotVerified, fmt.Sprintf("class %s has no flow the lab can overload", e.Overload)
		}
		base := ph.ClassRate(tr, e.Class)
		if c.Plan.Rate != 0 {
			base = min(base, RateOf(&c.Plan))
		}
		got := op.ClassRate(tr, e.Class)
		rates := fmt.Sprintf("%s under overload, %s without", model.Rate(got).Approx(), model.Rate(base).Approx())
		if burstDependent(&c.Plan) {
			return keepsAdmitted(op, e, rates)
		}
		return verdict(got >= base*(1-e.Tol)), rates
	}
	return Fail, "unknown expectation"
}

// judgeFlow judges a flow's expectation on the load phase.
func (r *Result) judgeFlow(e *Expectation) (Status, string) {
	tr, ph := r.Traffic, r.Load
	gi, fi := -1, -1
	for g, f := range tr.GenFlow {
		if tr.Flows[f].Flow == e.Flow {
			gi, fi = g, f
		}
	}
	if gi < 0 {
		for _, f := range tr.Flows {
			if f.Flow == e.Flow && f.NotVerified != "" {
				return NotVerified, f.NotVerified
			}
		}
		return NotVerified, fmt.Sprintf("flow %s is not on target %s", e.Flow, r.Setup.Target)
	}
	f := &tr.Flows[fi]
	c := classPlan(tr, f.Class)
	res := ph.flow(gi)
	if res.Packets == 0 {
		return Fail, "nothing arrived"
	}
	switch e.Kind {
	case FlowDSCP, FlowPCP:
		// A borrowing class sends its excess marked non-conforming, and a
		// class or flow with a remark is judged on its conforming packets.
		counts, nc := res.DSCP[:], c.Plan.MarkNonConforming.DSCP
		seen := vethlab.Shares(res.DSCP[:], res.Packets, -1)
		if e.Kind == FlowPCP {
			pcp := res.PCP
			pcp[0] += pcp[8] // an untagged frame has priority 0
			pcp[8] = 0
			counts, nc = pcp[:], c.Plan.MarkNonConforming.PCP
			seen = vethlab.Shares(res.PCP[:], res.Packets, 8)
		}
		ok := counts[e.Value] > 0
		other := res.Packets - counts[e.Value]
		if c.Plan.NonConforming == model.Borrow && nc != e.Value {
			other -= counts[nc]
		}
		return verdict(ok && other == 0), seen
	case FlowPoliced:
		got := ph.FlowRate(gi)
		return verdict(got <= e.Rate*(1+e.Tol)), dev(got, e.Rate)
	}
	return Fail, "not a flow expectation"
}

// keepsAdmitted judges a class whose meter admits by arrival batching (a
// class with a peak that discards or borrows, see Derived): what it
// admits as conforming moves with how batched the generator's frames
// arrive, and they arrive more batched while the overload loads the lab's
// cores, so its rate is not compared across phases. The port keeps such a
// class's rate when its queue loses (at most e.Tol of) nothing its meter
// admitted as conforming: the pacer's queue drops over the overload phase
// (a borrowing class's demoted excess competes at best effort and is not
// counted).
func keepsAdmitted(op *Phase, e *Expectation, rates string) (Status, string) {
	if op.Counters == nil {
		return NotVerified, "the pacer reported no counters"
	}
	cc, ok := op.Counters.Classes[e.Class]
	if !ok {
		return NotVerified, fmt.Sprintf("the pacer reported no counters for class %s", e.Class)
	}
	admitted := cc.ConformingPackets + cc.QueueDrops
	if admitted == 0 {
		return Fail, "its meter admitted nothing under overload"
	}
	lost := float64(cc.QueueDrops) / float64(admitted)
	return verdict(lost <= e.Tol), fmt.Sprintf("%s; its queue lost %d of %d conforming frames (%.2f%%), its peak meter admits by arrival batching",
		rates, cc.QueueDrops, admitted, 100*lost)
}
