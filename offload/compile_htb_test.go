package offload

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
)

const htbPolicy = `
name: t
classes:
  - {name: voice, service: guaranteed, rate: 2Gbit, non-conforming: shape}
  - {name: video, service: controlled-load, rate: 10Gbit, peak: 40Gbit, non-conforming: borrow}
  - {name: bulk, service: best-effort}
flows:
  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 16384-32767}}
  - {name: cam, class: video, direction: both, match: {protocol: udp, dst: 10.9.0.0/16}}
targets:
  - {name: nic, kind: nic, interface: eth0, capacity: 100Gbit}
`

func TestHTBChosenForMinRatesAndBorrowing(t *testing.T) {
	tp := compileWith(t, parse(t, htbPolicy), profile(t, "mlx5-htb")).Targets[0]
	h := tp.HTB
	if h == nil || tp.Queues != nil {
		t.Fatalf("want an HTB tree and no mqprio: htb %+v queues %+v", h, tp.Queues)
	}
	if h.Handle != HTBHandle || h.Rate != 100*gbit || h.Default != "bulk" || h.Where.Placement != Hardware {
		t.Fatalf("htb %+v", h)
	}
	for _, want := range []string{"voice, video have a minimum rate", "video borrows", "mqprio channel mode takes max rates only"} {
		if !strings.Contains(h.Why, want) {
			t.Errorf("why %q lacks %q", h.Why, want)
		}
	}
	// rate (min) and ceil (max) per class: shape -> rate = ceil; borrow
	// -> ceil = peak; no rate -> the granularity and the link.
	for name, want := range map[string][3]model.Rate{
		"voice": {2 * gbit, 2 * gbit, 2},
		"video": {10 * gbit, 40 * gbit, 10},
		"bulk":  {mbit, 100 * gbit, 1},
	} {
		c := h.Class(name)
		if c == nil || c.Rate != want[0] || c.Ceil != want[1] || model.Rate(c.Share) != want[2] || c.Minor < 0x10 {
			t.Errorf("class %s: %+v, want rate %v ceil %v share %d", name, c, want[0], want[1], want[2])
		}
		cp := tp.Classes[classIdx(tp, name)]
		if cp.TC != -1 || cp.SkbPriority != h.ClassID(c.Minor) {
			t.Errorf("class %s: tc %d skb priority %#x, want -1 and %#x", name, cp.TC, cp.SkbPriority, h.ClassID(c.Minor))
		}
	}
	// Egress rules pick the leaf by skbedit priority = classid; received
	// traffic has no TC to go to.
	r := ruleByID(t, tp, "rtp/egress/eth0")
	if i := findAction(r.Actions, SetPriority); i < 0 || r.Actions[i].Priority != h.ClassID(h.Class("voice").Minor) {
		t.Errorf("rtp actions %+v", r.Actions)
	}
	if in := ruleByID(t, tp, "cam/ingress/eth0"); in.Where.Placement != Unsupported || !strings.Contains(in.Where.Reason, "needs mqprio's TCs") {
		t.Errorf("ingress rule: %+v", in.Where)
	}
	for _, n := range []string{"takes no prio", "class bulk has no rate", "held as 1% of the link's 100Gbit"} {
		if !hasNote(tp, n) {
			t.Errorf("no note %q in %q", n, tp.Notes)
		}
	}
	var buf bytes.Buffer
	if err := (&Plan{Policy: "t", Targets: []*TargetPlan{tp}}).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"queues: root htb 5152: offload, hardware, default class bulk; top class 5152:1 rate = ceil 100Gbit",
		"why htb: classes voice, video have a minimum rate",
		"rate 10Gbit ceil 40Gbit",
		"priority 5152:",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("plan text lacks %q:\n%s", want, buf.String())
		}
	}
}

func findAction(as []Action, k ActionKind) int {
	for i, a := range as {
		if a.Kind == k {
			return i
		}
	}
	return -1
}

func TestHTBNotChosen(t *testing.T) {
	for name, c := range map[string]struct{ policy, note string }{
		"no minimum rate": {strings.NewReplacer("{name: voice, service: guaranteed, rate: 2Gbit, non-conforming: shape}", "{name: voice, service: qualitative}",
			"{name: video, service: controlled-load, rate: 10Gbit, peak: 40Gbit, non-conforming: borrow}", "{name: video, service: qualitative}").Replace(htbPolicy),
			"no class has a minimum rate or borrows"},
		"pfc":         {strings.Replace(htbPolicy, "non-conforming: shape}", "non-conforming: shape, pfc: true}", 1), "class voice needs DCB"},
		"no capacity": {strings.Replace(htbPolicy, ", capacity: 100Gbit", "", 1), "needs the link rate"},
		"slow link":   {strings.NewReplacer("capacity: 100Gbit", "capacity: 900kbit", "2Gbit", "100kbit", "10Gbit", "200kbit", "40Gbit", "400kbit").Replace(htbPolicy), "below mlx5-htb's ceil granularity 1Mbit"},
	} {
		tp := compileWith(t, parse(t, c.policy), profile(t, "mlx5-htb")).Targets[0]
		if tp.HTB != nil || tp.Queues == nil || !hasNote(tp, c.note) {
			t.Errorf("%s: htb %+v queues %v notes %q, want mqprio and a note %q", name, tp.HTB, tp.Queues != nil, tp.Notes, c.note)
		}
	}
	// A profile without HTB never gets one, and says nothing of it.
	tp := compileWith(t, parse(t, htbPolicy), profile(t, "mlx5-nic")).Targets[0]
	if tp.HTB != nil || tp.Queues == nil || hasNote(tp, "HTB") {
		t.Errorf("mlx5-nic: htb %+v notes %q", tp.HTB, tp.Notes)
	}
}

// A class keeps its minor (and its rules their skb priority) when another
// class is added.
func TestHTBMinorsStable(t *testing.T) {
	a := compileWith(t, parse(t, htbPolicy), profile(t, "mlx5-htb")).Targets[0].HTB
	more := strings.Replace(htbPolicy, "  - {name: bulk, service: best-effort}\n",
		"  - {name: bulk, service: best-effort}\n  - {name: backup, service: qualitative, rate: 1Gbit, non-conforming: borrow}\n", 1)
	b := compileWith(t, parse(t, more), profile(t, "mlx5-htb")).Targets[0].HTB
	if len(b.Classes) != 4 {
		t.Fatalf("%d classes", len(b.Classes))
	}
	seen := map[uint16]bool{}
	for _, c := range b.Classes {
		if seen[c.Minor] || c.Minor < 0x10 || c.Minor > 0xfff0 {
			t.Errorf("minor %#x of %s repeated or out of range", c.Minor, c.Class)
		}
		seen[c.Minor] = true
		if old := a.Class(c.Class); old != nil && old.Minor != c.Minor {
			t.Errorf("class %s moved from %#x to %#x", c.Class, old.Minor, c.Minor)
		}
	}
}

// Diff orders the root swap: mqprio goes before an HTB tree comes, and an
// HTB tree goes before an mqprio comes (mlx5 takes one or the other).
func TestDiffSwapsMqprioAndHTB(t *testing.T) {
	mq := compileWith(t, parse(t, htbPolicy), profile(t, "mlx5-nic")).Targets[0]
	htb := compileWith(t, parse(t, htbPolicy), profile(t, "mlx5-htb")).Targets[0]
	order := func(ops []Op) string {
		var s []string
		for _, o := range ops {
			if o.Object == ObjQueues || o.Object == ObjHTB {
				s = append(s, string(o.Kind)+" "+string(o.Object))
			}
		}
		return strings.Join(s, ", ")
	}
	if got := order(Diff(mq, htb)); got != "delete queues, add htb" {
		t.Errorf("mqprio -> htb: %s", got)
	}
	if got := order(Diff(htb, mq)); got != "delete htb, add queues" {
		t.Errorf("htb -> mqprio: %s", got)
	}
	if ops := Diff(htb, htb); len(ops) != 0 {
		t.Errorf("equal plans: %d ops", len(ops))
	}
	changed := compileWith(t, parse(t, strings.Replace(htbPolicy, "peak: 40Gbit", "peak: 50Gbit", 1)), profile(t, "mlx5-htb")).Targets[0]
	if got := order(Diff(htb, changed)); got != "change htb" {
		t.Errorf("peak change: %s", got)
	}
}

const (
	mbit model.Rate = 1_000_000
	gbit model.Rate = 1_000_000_000
)
