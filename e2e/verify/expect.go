package verify

import (
	"fmt"
	"slices"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Kind is what an expectation checks.
type Kind int

// Expectation kinds. Rates are lab rates in bit/s (see Setup.Scale).
const (
	// ClassRate: the class's achieved rate (mean of the steady 1 s
	// windows) is Rate within Tol (a fraction); with AtMost, at most
	// Rate (1+Tol).
	ClassRate Kind = iota
	// ClassConforming: the rate of the class's packets marked conforming
	// is Rate within Tol (a borrowing class: the rest leaves marked
	// non-conforming).
	ClassConforming
	// ClassLoss: in the steady windows the class delivers all but Tol (a
	// fraction) of what its flows' policers admit.
	ClassLoss
	// ClassDelay: the 99th percentile of the class's one-way delay is
	// below Delay.
	ClassDelay
	// FlowDSCP / FlowPCP: the flow's packets carry the conforming mark
	// Value, or the class's non-conforming mark when the class borrows.
	FlowDSCP
	FlowPCP
	// FlowPoliced: the flow's achieved rate is at most Rate (1+Tol).
	FlowPoliced
	// KeepsRate: while Overload (a class) is offered the whole port on
	// top, the class keeps its rate: what it achieved without the
	// overload (at most its rate) within Tol.
	KeepsRate
	// FlowExercised: the flow could not be sent through the lab; always
	// "not verified" with Reason.
	FlowExercised
)

// Expectation is one claim about a target's measurements.
type Expectation struct {
	Kind Kind
	// Class or Flow is the subject; Overload names the overloaded class.
	Class, Flow, Overload string
	Rate                  float64 // bit/s
	Tol                   float64 // fraction
	Delay                 time.Duration
	Value                 uint8
	AtMost                bool
	// Source is "plan" for derived expectations, else file:line:col.
	Source string
	// Reason, when set, says why the expectation cannot be verified on
	// the lab (always so for FlowExercised).
	Reason string
}

// Name is how tables and JUnit name the expectation, e.g. "class voice:
// rate 20Mbit ±5%".
func (e *Expectation) Name() string {
	pct := func(f float64) string { return fmt.Sprintf("%g%%", f*100) }
	r := model.Rate(e.Rate).Approx()
	switch e.Kind {
	case ClassRate:
		if e.AtMost {
			return fmt.Sprintf("class %s: rate at most %s +%s", e.Class, r, pct(e.Tol))
		}
		return fmt.Sprintf("class %s: rate %s ±%s", e.Class, r, pct(e.Tol))
	case ClassConforming:
		return fmt.Sprintf("class %s: conforming rate %s ±%s", e.Class, r, pct(e.Tol))
	case ClassLoss:
		return fmt.Sprintf("class %s: loss below %s", e.Class, pct(e.Tol))
	case ClassDelay:
		return fmt.Sprintf("class %s: p99 delay below %v", e.Class, e.Delay)
	case FlowDSCP:
		return fmt.Sprintf("flow %s: dscp %d", e.Flow, e.Value)
	case FlowPCP:
		return fmt.Sprintf("flow %s: pcp %d", e.Flow, e.Value)
	case FlowPoliced:
		return fmt.Sprintf("flow %s: policed to at most %s +%s", e.Flow, r, pct(e.Tol))
	case KeepsRate:
		return fmt.Sprintf("under overload of %s, %s keeps its rate", e.Overload, e.Class)
	case FlowExercised:
		return fmt.Sprintf("flow %s: exercised on the lab", e.Flow)
	}
	return "?"
}

// Tolerances of derived expectations: the lab measures through a software
// pacer on a shared machine.
const (
	DefaultRateTol = 0.05
	// lossTol is the loss a class that should lose nothing may show.
	lossTol = 0.01
)

// Derived returns the expectations the plan implies for tr:
//   - every class with exercised flows: its rate (shape, discard: the class
//     rate; borrow: what was offered, as the excess over the rate and the
//     peak is demoted, not held back; no rate: what was offered); a
//     borrowing rated class also its conforming rate; a class that neither
//     shapes nor discards (or has no rate) loses nothing;
//   - a class with a peak that discards or borrows: the pacer meters the
//     peak with a bucket one MaxSDU deep, so what conforms depends on how
//     closely packets arrive, and on veth they arrive in batches: a
//     discarding class's rate is checked as an upper bound only, and a
//     borrowing class's conforming rate is not verified (with the reason);
//   - every exercised flow: the plan's conforming DSCP and PCP, and its
//     policer's rate;
//   - every flow that cannot be exercised: not verified, with the reason;
//   - strict priority: with the lowest-priority exercised class overloaded,
//     every class of a higher priority keeps its rate (a class with a peak
//     that discards or borrows: its queue loses nothing its meter admitted
//     as conforming, as what the meter admits moves with the arrivals'
//     batching).
func Derived(s *Setup, tr *Traffic) []Expectation {
	var out []Expectation
	for _, c := range tr.Classes {
		if len(c.Flows) == 0 {
			continue
		}
		cp := c.Plan
		e := Expectation{Class: cp.Name, Tol: DefaultRateTol, Source: "plan"}
		want, lossless := ExpectedRate(&c)
		rate := with(e, ClassRate, want)
		rate.AtMost = burstDependent(&cp) && cp.NonConforming == model.Discard
		out = append(out, rate)
		if cp.Rate != 0 && cp.NonConforming == model.Borrow && cp.Mark != cp.MarkNonConforming {
			conf := with(e, ClassConforming, min(RateOf(&cp), want))
			if burstDependent(&cp) {
				conf.Reason = peakReason
			}
			out = append(out, conf)
		}
		if lossless {
			l := e
			l.Kind, l.Tol = ClassLoss, lossTol
			out = append(out, l)
		}
	}
	for _, f := range tr.Flows {
		if f.NotVerified != "" {
			out = append(out, Expectation{Kind: FlowExercised, Flow: f.Flow, Class: f.Class, Reason: f.NotVerified, Source: "plan"})
			continue
		}
		out = append(out,
			Expectation{Kind: FlowDSCP, Flow: f.Flow, Class: f.Class, Value: f.DSCP, Source: "plan"},
			Expectation{Kind: FlowPCP, Flow: f.Flow, Class: f.Class, Value: f.PCP, Source: "plan"})
		if f.Police > 0 {
			out = append(out, Expectation{Kind: FlowPoliced, Flow: f.Flow, Class: f.Class, Rate: f.Police, Tol: DefaultRateTol, Source: "plan"})
		}
	}
	if low := lowestClass(tr); low != "" {
		lp := classPlan(tr, low).Plan.Priority
		for _, c := range tr.Classes {
			if len(c.Flows) > 0 && c.Plan.Priority > lp {
				out = append(out, Expectation{Kind: KeepsRate, Class: c.Plan.Name, Overload: low, Tol: DefaultRateTol, Source: "plan"})
			}
		}
	}
	return out
}

// burstDependent says what class cp's meter admits depends on how
// closely its packets arrive: its peak is metered with a bucket one MaxSDU
// deep, and it discards or borrows what does not conform.
func burstDependent(cp *offload.ClassPlan) bool {
	return cp.Peak != 0 && cp.NonConforming != model.Shape
}

// peakReason is why the conforming share of a class with a peak is not
// judged.
const peakReason = "its peak bucket is one MaxSDU deep: what conforms depends on how batched arrivals are, and on veth they come in batches"

func with(e Expectation, k Kind, rate float64) Expectation {
	e.Kind, e.Rate = k, rate
	return e
}

// RateOf is the rate the pacer meters class cp at in bit/s: its effective
// rate (min-policed overhead included) where it has one.
func RateOf(cp *offload.ClassPlan) float64 {
	if cp.EffectiveRate != 0 {
		return float64(cp.EffectiveRate)
	}
	return float64(cp.Rate)
}

// classPlan returns the traffic of the named class, nil when the target
// has no such class.
func classPlan(tr *Traffic, name string) *ClassTraffic {
	for i := range tr.Classes {
		if tr.Classes[i].Plan.Name == name {
			return &tr.Classes[i]
		}
	}
	return nil
}

// ExpectedRate is what class c should deliver in bit/s, and whether it
// should lose nothing of what its flows' policers admit.
func ExpectedRate(c *ClassTraffic) (want float64, lossless bool) {
	cp := &c.Plan
	rate := RateOf(cp)
	switch {
	case cp.Rate == 0 && cp.Peak == 0:
		return c.Admitted, true
	case cp.NonConforming == model.Borrow:
		// Borrowing holds nothing back: what exceeds the rate or the
		// peak is demoted (marked non-conforming, served at best-effort
		// priority) and sent on idle capacity, which the lab's port has
		// while the class is offered overFactor times its rate.
		return c.Admitted, true
	case cp.Rate == 0:
		return min(c.Admitted, float64(cp.Peak)), c.Admitted <= float64(cp.Peak)
	default:
		return min(rate, c.Admitted), c.Admitted <= rate
	}
}

// lowestClass is the exercised class of the lowest priority (the last of
// them in the plan), or "" when every exercised class has one priority.
func lowestClass(tr *Traffic) string {
	var prios []uint8
	low := ""
	var lp uint8
	for _, c := range tr.Classes {
		if len(c.Flows) == 0 {
			continue
		}
		prios = append(prios, c.Plan.Priority)
		if low == "" || c.Plan.Priority <= lp {
			low, lp = c.Plan.Name, c.Plan.Priority
		}
	}
	slices.Sort(prios)
	if len(slices.Compact(prios)) < 2 {
		return ""
	}
	return low
}
