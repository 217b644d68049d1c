package verify

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
)

// Counts tallies verdicts.
type Counts struct{ Pass, Fail, NotVerified int }

// Count tallies the verdicts of results.
func Count(results []*Result) Counts {
	var c Counts
	for _, r := range results {
		for _, v := range r.Verdicts {
			switch v.Status {
			case Pass:
				c.Pass++
			case Fail:
				c.Fail++
			default:
				c.NotVerified++
			}
		}
	}
	return c
}

// WriteTable prints, per target, what each class was offered and achieved
// and the marks seen (like make demo's table), then every verdict.
func WriteTable(w io.Writer, policyFile string, results []*Result) error {
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := r.writeTable(w, policyFile); err != nil {
			return err
		}
	}
	c := Count(results)
	_, err := fmt.Fprintf(w, "\n%d expectations: %d pass, %d fail, %d not verified\n", c.Pass+c.Fail+c.NotVerified, c.Pass, c.Fail, c.NotVerified)
	return err
}

func (r *Result) writeTable(w io.Writer, policyFile string) error {
	s, tr, ph := r.Setup, r.Traffic, r.Load
	fmt.Fprintf(w, "target %s of %s: %d classes, %d flows (%d exercised), %v per phase\n",
		s.Target, policyFile, len(tr.Classes), len(tr.Flows), len(tr.Gen), ph.Duration)
	if s.Scale < 1 {
		fmt.Fprintf(w, "rates scaled by %.4g to the lab's %s port (configured rates in brackets)\n", s.Scale, s.Plan.Pacer.PortRate.Approx())
	}
	if s.Note != "" {
		fmt.Fprintln(w, s.Note)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tMODE\tPRIO\tRATE\tPEAK\tOFFERED\tACHIEVED\tLOSS\tDELAY P99\tDSCP SEEN\tPCP SEEN")
	for _, c := range tr.Classes {
		cp := c.Plan
		if len(c.Flows) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t-\t-\t-\t-\t-\t(no flow exercised)\n", cp.Name, cp.NonConforming, cp.Priority,
				r.rate(cp.Rate), r.rate(cp.Peak))
			continue
		}
		t := ph.Totals(tr, cp.Name)
		delay := "-"
		if boundsDelay(&c) {
			delay = t.P99().Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.1f%%\t%s\t%s\t%s\n", cp.Name, cp.NonConforming, cp.Priority,
			r.rate(cp.Rate), r.rate(cp.Peak), model.Rate(t.Offered(ph.Duration)).Approx(),
			model.Rate(ph.ClassRate(tr, cp.Name)).Approx(), 100*t.Loss(), delay,
			vethlab.Shares(t.Got.DSCP[:], t.Got.Packets, -1), vethlab.Shares(t.Got.PCP[:], t.Got.Packets, 8))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ph := range r.Overloads {
		fmt.Fprintf(w, "overload phase: class %s offered %s (what the others leave of the port and %.0f%% of it on top)\n",
			ph.Overload, model.Rate(ph.Totals(tr, ph.Overload).Offered(ph.Duration)).Approx(), 100*overloadMargin)
	}
	if ph.RxDrops > 0 {
		fmt.Fprintf(w, "the lab's receiver dropped %d frames (the lab fell behind, not the pacer)\n", ph.RxDrops)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tEXPECTATION\tMEASURED\tFROM")
	for _, v := range r.Verdicts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Status, v.Name(), v.Measured, v.Source)
	}
	return tw.Flush()
}

// rate prints a lab rate, with the configured one in brackets when scaled.
func (r *Result) rate(x model.Rate) string {
	if x == 0 {
		return "-"
	}
	if r.Setup.Scale < 1 {
		return fmt.Sprintf("%s [%s]", x.Approx(), model.Rate(float64(x)/r.Setup.Scale).Approx())
	}
	return x.String()
}
