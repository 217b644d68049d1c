package verify

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
)

// The HTML report is one self-contained file: inline CSS and SVG, no
// script and no external resource. Per target a verdict table and per
// class a chart (svg.chart, data-class the class's name): the achieved
// rate per 1 s window of every phase against the configured rate, the peak
// and the offered rate, and the marks seen.

// chart geometry in SVG user units.
const (
	chartW, chartH       = 640, 220
	padL, padR, padT, pB = 70, 110, 14, 30
	labelGap             = 12
)

// reportData is the template's input.
type reportData struct {
	Policy    string
	Generated string
	Counts    Counts
	Targets   []reportTarget
}

type reportTarget struct {
	Name, Note, Scale string
	Verdicts          []Verdict
	Charts            []chart
}

// chart is one class's rate plot, laid out in Go.
type chart struct {
	Class, Mode, Marks string
	Achieved           string // polyline points
	Lines              []hline
	Ticks              []tick
	XTicks             []tick
	Phases             []tick // phase separators (X) and labels
	W, H               int
	PlotL, PlotR       int
	PlotT, PlotB       int
}

type hline struct {
	Y, LabelY   float64
	Label, Kind string
}

type tick struct {
	X, Y  float64
	Label string
}

// WriteReport writes the HTML report of results.
func WriteReport(w io.Writer, policy string, results []*Result, now time.Time) error {
	d := reportData{Policy: policy, Generated: now.UTC().Format(time.RFC3339), Counts: Count(results)}
	for _, r := range results {
		t := reportTarget{Name: r.Setup.Target, Note: r.Setup.Note, Verdicts: r.Verdicts}
		if r.Setup.Scale < 1 {
			t.Scale = fmt.Sprintf("rates scaled by %.4g to the lab's %s port", r.Setup.Scale, r.Setup.Plan.Pacer.PortRate.Approx())
		}
		for i := range r.Traffic.Classes {
			t.Charts = append(t.Charts, r.chart(&r.Traffic.Classes[i]))
		}
		d.Targets = append(d.Targets, t)
	}
	return reportTmpl.Execute(w, d)
}

// chart lays out class c's plot: the load phase's windows, then each
// overload phase's.
func (r *Result) chart(c *ClassTraffic) chart {
	cp := &c.Plan
	ch := chart{Class: cp.Name, Mode: string(cp.NonConforming), W: chartW, H: chartH,
		PlotL: padL, PlotR: chartW - padR, PlotT: padT, PlotB: chartH - pB}
	phases := []*Phase{r.Load}
	for _, ph := range r.Overloads {
		phases = append(phases, ph)
	}
	var ws []float64
	for _, ph := range phases {
		if ph == nil {
			continue
		}
		if len(ws) > 0 || ph.Overload != "" {
			ch.Phases = append(ch.Phases, tick{X: float64(len(ws)), Label: "overload of " + ph.Overload})
		}
		if ph.Overload == "" {
			ch.Phases = append(ch.Phases, tick{X: 0, Label: "load"})
		}
		ws = append(ws, ph.ClassWindows(r.Traffic, cp.Name)...)
	}
	offered := 0.0
	if len(c.Flows) > 0 && r.Load != nil {
		offered = r.Load.Totals(r.Traffic, cp.Name).Offered(r.Load.Duration)
	}
	top := max(float64(cp.Rate), float64(cp.Peak), offered)
	for _, v := range ws {
		top = max(top, v)
	}
	top = niceCeil(max(top*1.15, 1e3)) // an idle class: a 1 kbit/s scale, not 1 bit/s
	x := func(k float64) float64 {
		return padL + k*float64(ch.PlotR-padL)/float64(max(len(ws), 1))
	}
	y := func(v float64) float64 { return float64(ch.PlotB) - v/top*float64(ch.PlotB-padT) }
	var pts []string
	for k, v := range ws {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(float64(k)), y(v), x(float64(k+1)), y(v)))
	}
	ch.Achieved = strings.Join(pts, " ")
	if cp.Rate != 0 {
		ch.Lines = append(ch.Lines, hline{Y: y(float64(cp.Rate)), Label: "rate " + cp.Rate.Approx(), Kind: "rate"})
	}
	if cp.Peak != 0 {
		ch.Lines = append(ch.Lines, hline{Y: y(float64(cp.Peak)), Label: "peak " + cp.Peak.Approx(), Kind: "peak"})
	}
	if offered > 0 {
		ch.Lines = append(ch.Lines, hline{Y: y(offered), Label: "offered " + model.Rate(offered).Approx(), Kind: "offered"})
	}
	// Labels of lines closer than a text line apart are moved apart.
	slices.SortFunc(ch.Lines, func(a, b hline) int { return cmp.Compare(a.Y, b.Y) })
	for i := range ch.Lines {
		ch.Lines[i].LabelY = ch.Lines[i].Y
		if i > 0 && ch.Lines[i].LabelY < ch.Lines[i-1].LabelY+labelGap {
			ch.Lines[i].LabelY = ch.Lines[i-1].LabelY + labelGap
		}
	}
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		ch.Ticks = append(ch.Ticks, tick{Y: y(v), Label: model.Rate(v).Approx()})
	}
	for k := 0; k <= len(ws); k++ {
		ch.XTicks = append(ch.XTicks, tick{X: x(float64(k)), Label: fmt.Sprintf("%ds", k)})
	}
	for i := range ch.Phases {
		ch.Phases[i].X = x(ch.Phases[i].X)
	}
	if len(c.Flows) == 0 {
		ch.Marks = "no flow of the class could be exercised on the lab"
	} else if r.Load != nil {
		t := r.Load.Totals(r.Traffic, cp.Name)
		ch.Marks = fmt.Sprintf("DSCP seen: %s; PCP seen: %s (plan: conforming DSCP %d PCP %d, non-conforming DSCP %d PCP %d)",
			vethlab.Shares(t.Got.DSCP[:], t.Got.Packets, -1), vethlab.Shares(t.Got.PCP[:], t.Got.Packets, 8),
			cp.Mark.DSCP, cp.Mark.PCP, cp.MarkNonConforming.DSCP, cp.MarkNonConforming.PCP)
	}
	return ch
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"lower": func(s Status) string { return strings.ReplaceAll(strings.ToLower(string(s)), " ", "-") },
	"add":   func(a float64, b int) float64 { return a + float64(b) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>qosplane verify {{.Policy}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:17px;margin-top:28px}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
tr.fail td{background:#fde2e2}tr.pass td:first-child{color:#17702f}tr.not-verified td{background:#f3f3f3;color:#666}
.summary{font-size:15px}.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #ddd;padding:6px}figcaption{font-size:12px;max-width:640px}
svg text{font-size:11px;fill:#333}.grid{stroke:#eee}.axis{stroke:#999}
.achieved{fill:none;stroke:#1f6fd1;stroke-width:2}.rate{stroke:#d12f1f;stroke-width:1.5;stroke-dasharray:6 4}
.peak{stroke:#e08a00;stroke-dasharray:2 3}.offered{stroke:#777;stroke-dasharray:1 4}.phase{stroke:#555;stroke-dasharray:3 3}
</style></head><body>
<h1>qosplane verify: {{.Policy}}</h1>
<p class="summary" id="summary">{{.Counts.Pass}} pass, {{.Counts.Fail}} fail, {{.Counts.NotVerified}} not verified &middot; generated {{.Generated}}</p>
{{range .Targets}}<section class="target" data-target="{{.Name}}">
<h2>target {{.Name}}</h2>
{{if .Scale}}<p>{{.Scale}}</p>{{end}}{{if .Note}}<p>{{.Note}}</p>{{end}}
<table class="verdicts"><tr><th>verdict</th><th>expectation</th><th>measured</th><th>from</th></tr>
{{range .Verdicts}}<tr class="{{lower .Status}}"><td>{{.Status}}</td><td>{{.Name}}</td><td>{{.Measured}}</td><td>{{.Source}}</td></tr>
{{end}}</table>
<div class="charts">
{{range .Charts}}<figure><h3>class {{.Class}} ({{.Mode}})</h3>
<svg class="chart" data-class="{{.Class}}" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="achieved rate of class {{.Class}} per second">
{{$c := .}}{{range .Ticks}}<line class="grid" x1="{{$c.PlotL}}" x2="{{$c.PlotR}}" y1="{{.Y}}" y2="{{.Y}}"/><text x="{{add 0 $c.PlotL}}" dx="-4" y="{{.Y}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{.X}}" y="{{add 14 $c.PlotB}}" text-anchor="middle">{{.Label}}</text>
{{end}}<line class="axis" x1="{{.PlotL}}" x2="{{.PlotL}}" y1="{{.PlotT}}" y2="{{.PlotB}}"/><line class="axis" x1="{{.PlotL}}" x2="{{.PlotR}}" y1="{{.PlotB}}" y2="{{.PlotB}}"/>
{{range .Phases}}<line class="phase" x1="{{.X}}" x2="{{.X}}" y1="{{$c.PlotT}}" y2="{{$c.PlotB}}"/><text x="{{.X}}" dx="3" y="{{add 10 $c.PlotT}}">{{.Label}}</text>
{{end}}<polyline class="achieved" points="{{.Achieved}}"/>
{{range .Lines}}<line class="{{.Kind}}" x1="{{$c.PlotL}}" x2="{{$c.PlotR}}" y1="{{.Y}}" y2="{{.Y}}"/><text x="{{add 4 $c.PlotR}}" y="{{.LabelY}}" dy="4">{{.Label}}</text>
{{end}}<text x="{{add 4 .PlotR}}" y="{{add 0 .PlotB}}" dy="-4" fill="#1f6fd1">achieved</text>
</svg>
<figcaption class="marks">{{.Marks}}</figcaption></figure>
{{end}}</div></section>
{{end}}</body></html>
`))
