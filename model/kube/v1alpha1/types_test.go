package v1alpha1

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		obj  runtime.Object
		kind string
	}{
		{&QoSPolicy{}, "QoSPolicy"}, {&QoSPolicyList{}, "QoSPolicyList"},
		{&QoSNodeState{}, "QoSNodeState"}, {&QoSNodeStateList{}, "QoSNodeStateList"},
	} {
		gvks, _, err := s.ObjectKinds(tc.obj)
		if err != nil {
			t.Fatal(err)
		}
		if len(gvks) != 1 || gvks[0] != GroupVersion.WithKind(tc.kind) {
			t.Errorf("%T registered as %v, want qosplane.io/v1alpha1 %s", tc.obj, gvks, tc.kind)
		}
	}
	if got := Resource("qospolicies").String(); got != "qospolicies.qosplane.io" {
		t.Errorf("Resource = %s", got)
	}
}

func TestDeepCopyIsDeep(t *testing.T) {
	dscp := int32(46)
	p := &QoSPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: QoSPolicySpec{
			Classes: []Class{{Name: "voice", Mark: &Mark{DSCP: &dscp}}},
			NICs:    []NICTarget{{Name: "nic", Interface: InterfaceSelector{PCIID: &PCIID{Vendor: "15b3"}}}},
		},
	}
	c := p.DeepCopyObject().(*QoSPolicy)
	if !reflect.DeepEqual(p, c) {
		t.Fatal("copy differs")
	}
	*c.Spec.Classes[0].Mark.DSCP = 0
	c.Spec.NICs[0].Interface.PCIID.Vendor = "8086"
	if *p.Spec.Classes[0].Mark.DSCP != 46 || p.Spec.NICs[0].Interface.PCIID.Vendor != "15b3" {
		t.Error("changing the copy changed the original")
	}
}

func TestPlacementCounts(t *testing.T) {
	var c PlacementCounts
	if c.Least() != "" {
		t.Errorf("empty counts: %q", c.Least())
	}
	c.Add(PlacementCounts{Hardware: 3})
	if c.Least() != PlacementHardware {
		t.Errorf("hardware only: %q", c.Least())
	}
	c.Add(PlacementCounts{Software: 1, Pacer: 2})
	if c.Least() != PlacementPacer {
		t.Errorf("with pacer: %q", c.Least())
	}
	c.Add(PlacementCounts{Unsupported: 1})
	if c.Least() != PlacementUnsupported || c.String() != "hardware 3, software 1, pacer 2, unsupported 1" {
		t.Errorf("all: %q %q", c.Least(), c.String())
	}
}
