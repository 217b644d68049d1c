package model

import (
	"strings"
	"testing"
)

func TestAliasBombIsRefused(t *testing.T) {
	src := `name: bomb
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
classes: [{name: c}]
targets: [{name: t, kind: nic, interface: x, representors: *f}]
`
	_, err := Parse("bomb.yaml", []byte(src))
	if err == nil {
		t.Fatal("accepted")
	}
	// The schema refuses the nested lists at their first level, so the
	// bomb never expands: one error per top-level element, not 10^6.
	if n := strings.Count(err.Error(), "\n") + 1; n > 20 {
		t.Errorf("%d errors for an alias bomb; want it refused without expanding", n)
	}
	var deep strings.Builder
	deep.WriteString("name: deep\nclasses: [{name: c}]\nmarking: ")
	for range 200 {
		deep.WriteString("[")
	}
	_, err = Parse("deep.yaml", []byte(deep.String()))
	if err == nil {
		t.Fatal("deep document accepted")
	}
	var many strings.Builder
	many.WriteString("name: many\nclasses:\n")
	for range 1000 {
		many.WriteString("  - {name: c, rate: 1}\n")
	}
	_, err = Parse("many.yaml", []byte(many.String()))
	if err == nil || !strings.Contains(err.Error(), "too many errors; stopping") {
		t.Fatalf("1000 bad classes: want the error list capped, got %d lines", strings.Count(err.Error(), "\n"))
	}
}
