package verify

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/qosplane/qosplane/model"
)

// An expectations file adds expectations to the derived ones, or tightens
// them (an expectation of the same kind and subject replaces the derived
// one). It is YAML: a list under "expect" whose items read as sentences:
//
//	expect:
//	  - class voice: rate within 2 %, p99 delay below 2 ms
//	  - class video: rate 70Mbit within 3 %, loss below 1 %
//	  - flow voice-udp: dscp 46, pcp 5
//	  - flow rtp-trunk: policed to 20Mbit
//	  - under overload of bulk, voice keeps its rate
//
// Class clauses: "rate within N %" (the derived rate, this tolerance),
// "rate RATE [within N %]", "conforming rate RATE [within N %]", "loss
// below N %", "p99 delay below DURATION". Flow clauses: "dscp N", "pcp N",
// "policed to RATE". Rates are the policy's (the lab scales them like the
// policy). Problems are reported with file, line and column, like a
// policy's.

// FileExpectation is one clause of an expectations file, not yet bound to
// a target.
type FileExpectation struct {
	Expectation
	// FromPlan says the rate is the derived one (only the tolerance was
	// given).
	FromPlan bool
}

// LoadExpectations reads an expectations file and checks its class and
// flow names against p.
func LoadExpectations(path string, p *model.Policy) ([]FileExpectation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	return ParseExpectations(path, data, p)
}

// ParseExpectations is LoadExpectations on data; file names it in
// messages. The error is a model.ErrorList.
func ParseExpectations(file string, data []byte, p *model.Policy) ([]FileExpectation, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, model.ErrorList{{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	ep := &expParser{file: file, p: p}
	if len(doc.Content) == 0 {
		ep.errorf(model.Pos{}, "", "empty document")
		return nil, ep.errs
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		ep.errorf(pos(root), "", "want a mapping with the list expect")
		return nil, ep.errs
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "expect" {
			ep.errorf(pos(k), k.Value, "unknown field (want expect)")
			continue
		}
		if v.Kind != yaml.SequenceNode {
			ep.errorf(pos(v), "expect", "want a list of expectations")
			continue
		}
		for j, item := range v.Content {
			ep.item(fmt.Sprintf("expect[%d]", j), item)
		}
	}
	if len(ep.errs) > 0 {
		return nil, ep.errs
	}
	return ep.out, nil
}

type expParser struct {
	file string
	p    *model.Policy
	out  []FileExpectation
	errs model.ErrorList
}

func pos(n *yaml.Node) model.Pos { return model.Pos{Line: n.Line, Col: n.Column} }

func (ep *expParser) errorf(at model.Pos, path, format string, args ...any) {
	ep.errs = append(ep.errs, &model.Error{File: ep.file, Pos: at, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// item reads one list item: a sentence, or a one-key mapping (YAML reads
// "class voice: rate ..." as one).
func (ep *expParser) item(path string, n *yaml.Node) {
	switch {
	case n.Kind == yaml.ScalarNode:
		ep.sentence(path, pos(n), n.Value, valueCol(n))
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Kind == yaml.ScalarNode && n.Content[1].Kind == yaml.ScalarNode:
		k, v := n.Content[0], n.Content[1]
		ep.subject(path, pos(k), k.Value, pos(v), v.Value, valueCol(v))
	default:
		ep.errorf(pos(n), path, `want a sentence, e.g. "class voice: rate within 2 %%"`)
	}
}

// valueCol is the column of a scalar's first character of text.
func valueCol(n *yaml.Node) int {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return n.Column + 1
	}
	return n.Column
}

// sentence reads an item given as one string.
func (ep *expParser) sentence(path string, at model.Pos, s string, col int) {
	if rest, ok := strings.CutPrefix(s, "under overload of "); ok {
		over, tail, ok := strings.Cut(rest, ",")
		cls, ok2 := strings.CutSuffix(strings.TrimSpace(tail), " keeps its rate")
		if !ok || !ok2 {
			ep.errorf(at, path, `want "under overload of CLASS, CLASS keeps its rate"`)
			return
		}
		over, cls = strings.TrimSpace(over), strings.TrimSpace(cls)
		if ep.class(at, path, over) && ep.class(at, path, cls) {
			ep.add(at, Expectation{Kind: KeepsRate, Class: cls, Overload: over, Tol: DefaultRateTol}, false)
		}
		return
	}
	subj, clauses, ok := strings.Cut(s, ":")
	if !ok {
		ep.errorf(at, path, `want "class NAME: ...", "flow NAME: ..." or "under overload of CLASS, CLASS keeps its rate"`)
		return
	}
	lead := len(clauses) - len(strings.TrimLeft(clauses, " "))
	ep.subject(path, at, subj, model.Pos{Line: at.Line, Col: col + len(subj) + 1 + lead}, strings.TrimSpace(clauses), col+len(subj)+1+lead)
}

// subject reads "class NAME" or "flow NAME" and its clauses.
func (ep *expParser) subject(path string, at model.Pos, subj string, vat model.Pos, clauses string, col int) {
	kind, name, _ := strings.Cut(strings.TrimSpace(subj), " ")
	name = strings.TrimSpace(name)
	switch kind {
	case "class":
		if !ep.class(at, path, name) {
			return
		}
	case "flow":
		if !ep.flow(at, path, name) {
			return
		}
	default:
		ep.errorf(at, path, "%q: the subject is class NAME or flow NAME", subj)
		return
	}
	off := 0
	for _, cl := range strings.Split(clauses, ",") {
		lead := len(cl) - len(strings.TrimLeft(cl, " "))
		cat := model.Pos{Line: vat.Line, Col: col + off + lead}
		if vat.Line != at.Line && off == 0 {
			cat = vat
		}
		off += len(cl) + 1
		cl = strings.TrimSpace(cl)
		var err error
		if kind == "class" {
			err = ep.classClause(cat, name, cl)
		} else {
			err = ep.flowClause(cat, name, cl)
		}
		if err != nil {
			ep.errorf(cat, path, "%q: %v", cl, err)
		}
	}
}

func (ep *expParser) class(at model.Pos, path, name string) bool {
	if _, ok := ep.p.ClassByName(name); !ok {
		ep.errorf(at, path, "no class %q in policy %q", name, ep.p.Name)
		return false
	}
	return true
}

func (ep *expParser) flow(at model.Pos, path, name string) bool {
	for _, f := range ep.p.Flows {
		if f.Name == name {
			return true
		}
	}
	ep.errorf(at, path, "no flow %q in policy %q", name, ep.p.Name)
	return false
}

func (ep *expParser) add(at model.Pos, e Expectation, fromPlan bool) {
	e.Source = fmt.Sprintf("%s:%d:%d", ep.file, at.Line, at.Col)
	ep.out = append(ep.out, FileExpectation{Expectation: e, FromPlan: fromPlan})
}

func (ep *expParser) classClause(at model.Pos, class, cl string) error {
	e := Expectation{Class: class, Tol: DefaultRateTol}
	// "rate within N %" keeps the derived rate, "loss below N %" is a
	// tolerance alone.
	for _, pc := range []struct {
		prefix   string
		kind     Kind
		fromPlan bool
	}{{"rate within ", ClassRate, true}, {"loss below ", ClassLoss, false}} {
		if arg, ok := strings.CutPrefix(cl, pc.prefix); ok {
			tol, err := percent(arg)
			if err != nil {
				return err
			}
			e.Kind, e.Tol = pc.kind, tol
			ep.add(at, e, pc.fromPlan)
			return nil
		}
	}
	switch {
	case strings.HasPrefix(cl, "rate "), strings.HasPrefix(cl, "conforming rate "):
		e.Kind = ClassRate
		rest := strings.TrimPrefix(cl, "rate ")
		if r, ok := strings.CutPrefix(cl, "conforming rate "); ok {
			e.Kind, rest = ClassConforming, r
		}
		rs, tols, hasTol := strings.Cut(rest, " within ")
		r, err := model.ParseRate(strings.ReplaceAll(rs, " ", ""))
		if err != nil {
			return err
		}
		e.Rate = float64(r)
		if hasTol {
			if e.Tol, err = percent(tols); err != nil {
				return err
			}
		}
		ep.add(at, e, false)
	case strings.HasPrefix(cl, "p99 delay below "):
		d, err := time.ParseDuration(strings.ReplaceAll(strings.TrimPrefix(cl, "p99 delay below "), " ", ""))
		if err != nil || d <= 0 {
			return fmt.Errorf("want a duration such as 2 ms")
		}
		e.Kind, e.Delay = ClassDelay, d
		ep.add(at, e, false)
	default:
		return fmt.Errorf(`unknown clause (class clauses: "rate within N %%", "rate RATE [within N %%]", "conforming rate RATE [within N %%]", "loss below N %%", "p99 delay below D")`)
	}
	return nil
}

func (ep *expParser) flowClause(at model.Pos, flow, cl string) error {
	e := Expectation{Flow: flow, Tol: DefaultRateTol}
	for _, f := range ep.p.Flows {
		if f.Name == flow {
			e.Class = f.Class
		}
	}
	word, arg, _ := strings.Cut(cl, " ")
	switch word {
	case "dscp", "pcp":
		hi := 63
		e.Kind = FlowDSCP
		if word == "pcp" {
			hi, e.Kind = 7, FlowPCP
		}
		v, err := strconv.Atoi(strings.TrimSpace(arg))
		if err != nil || v < 0 || v > hi {
			return fmt.Errorf("want a %s value 0-%d", word, hi)
		}
		e.Value = uint8(v)
	case "policed":
		r, err := model.ParseRate(strings.ReplaceAll(strings.TrimPrefix(arg, "to "), " ", ""))
		if err != nil {
			return err
		}
		e.Kind, e.Rate = FlowPoliced, float64(r)
	default:
		return fmt.Errorf(`unknown clause (flow clauses: "dscp N", "pcp N", "policed to RATE")`)
	}
	ep.add(at, e, false)
	return nil
}

// percent reads "2 %" or "2%" as 0.02.
func percent(s string) (float64, error) {
	v, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if !ok || err != nil || f < 0 || f > 100 {
		return 0, fmt.Errorf("want a percentage such as 2 %%")
	}
	return f / 100, nil
}

// Bind merges file expectations into the derived ones for one target: a
// file expectation replaces a derived one of the same kind and subject;
// its rates are scaled to the lab and a FromPlan rate takes the derived
// rate.
func Bind(s *Setup, tr *Traffic, derived []Expectation, file []FileExpectation) []Expectation {
	out := append([]Expectation(nil), derived...)
	for _, fe := range file {
		e := fe.Expectation
		e.Rate *= s.Scale
		if fe.FromPlan {
			if c := classPlan(tr, e.Class); c != nil {
				e.Rate, _ = ExpectedRate(c)
			}
		}
		replaced := false
		for i := range out {
			d := &out[i]
			if d.Source == "plan" && d.Kind == e.Kind && d.Class == e.Class && d.Flow == e.Flow && d.Overload == e.Overload {
				*d, replaced = e, true
				break
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return out
}
