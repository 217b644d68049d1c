package kube

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// readPolicy reads a QoSPolicy manifest strictly: a field the Go types do
// not have is an error, so the manifest and the types cannot drift apart.
func readPolicy(t *testing.T, path string) *v1alpha1.QoSPolicy {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.ToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var qp v1alpha1.QoSPolicy
	if err := dec.Decode(&qp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &qp
}

// TestHostExampleMatchesFile checks that testdata/host.yaml, the QoSPolicy
// form of examples/host.yaml, gives the same model: classes, flows and
// marking field for field after defaults, and the same NIC target.
func TestHostExampleMatchesFile(t *testing.T) {
	qp := readPolicy(t, "testdata/host.yaml")
	got, err := ToPolicy(qp)
	if err != nil {
		t.Fatal(err)
	}
	want, err := model.LoadFile("../../examples/host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, a, b any) {
		t.Helper()
		ja, _ := json.MarshalIndent(a, "", " ")
		jb, _ := json.MarshalIndent(b, "", " ")
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s differ\nQoSPolicy:\n%s\nfile:\n%s", what, ja, jb)
		}
	}
	same("names", got.Name, want.Name)
	same("marking", got.Marking, want.Marking)
	same("classes", got.Classes, want.Classes)
	same("flows", got.Flows, want.Flows)
	if len(got.Targets) != 1 || len(want.Targets) != 1 {
		t.Fatalf("targets: %d and %d, want 1", len(got.Targets), len(want.Targets))
	}
	// The file pins the NIC's PCI address; a template leaves it to the node.
	w := want.Targets[0]
	w.PCI = ""
	same("targets", got.Targets[0], w)
}

func TestStatusErrors(t *testing.T) {
	if StatusErrors(nil) != nil {
		t.Error("StatusErrors(nil) is not nil")
	}
	qp := base()
	qp.Spec.Classes[0].Peak = "20Mbit"
	qp.Spec.Flows[0].Class = "none"
	_, err := ToPolicy(qp)
	got := StatusErrors(err)
	want := []v1alpha1.ValidationError{
		{Field: "spec.classes[0].peak", Message: "20Mbit is below rate 50Mbit"},
		{Field: "spec.flows[0].class", Message: `class "none" is not defined`},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}

	other := StatusErrors(os.ErrNotExist)
	if len(other) != 1 || other[0].Field != "spec" || other[0].Message != os.ErrNotExist.Error() {
		t.Errorf("plain error gives %+v", other)
	}

	// Many problems are cut to what the status schema holds.
	qp = base()
	for i := range 300 {
		qp.Spec.Flows = append(qp.Spec.Flows, v1alpha1.Flow{Class: v1alpha1.Name("missing"), Match: &v1alpha1.Match{VLAN: int32(i + 1)}})
	}
	_, err = ToPolicy(qp)
	if got := StatusErrors(err); len(got) != MaxStatusErrors || got[len(got)-1].Message != "too many errors; stopping" {
		t.Errorf("%d errors, last %+v; want %d ending in the model's stop", len(got), got[len(got)-1], MaxStatusErrors)
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789abc", 10, "0123456..."},
		{"ab\u00e9\u00e9\u00e9\u00e9", 8, "ab\u00e9..."},
	} {
		if got := Truncate(tc.s, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestCamel(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		".peak":                      ".peak",
		".min-policed":               ".minPoliced",
		".max-sdu":                   ".maxSDU",
		".mark-non-conforming.dscp":  ".markNonConforming.dscp",
		".match.dst-port":            ".match.dstPort",
		".representors[2]":           ".representors[2]",
		".classes[0].non-conforming": ".classes[0].nonConforming",
	} {
		if got := camel(in); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
}
