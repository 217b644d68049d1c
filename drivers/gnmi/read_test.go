package gnmi

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/ygot/ygot"
	"google.golang.org/grpc"

	"github.com/qosplane/qosplane/drivers/gnmi/oc"
)

// getClient answers Get with one JSON_IETF document of /qos, as switches
// that implement Get do.
type getClient struct {
	gpb.GNMIClient
	val  *gpb.TypedValue
	reqs []*gpb.GetRequest
}

func (c *getClient) Get(_ context.Context, req *gpb.GetRequest, _ ...grpc.CallOption) (*gpb.GetResponse, error) {
	c.reqs = append(c.reqs, req)
	return &gpb.GetResponse{Notification: []*gpb.Notification{{
		Prefix: &gpb.Path{Origin: origin},
		Update: []*gpb.Update{{Path: qosPath(), Val: c.val}},
	}}}, nil
}

// TestReadWithGet: a /qos read through Get (JSON_IETF) gives back the tree
// that was rendered, unit for unit.
func TestReadWithGet(t *testing.T) {
	tr, err := BuildTree(labPlan())
	if err != nil {
		t.Fatal(err)
	}
	val, err := ygot.EncodeTypedValue(tr.Root.Qos, gpb.Encoding_JSON_IETF)
	if err != nil {
		t.Fatal(err)
	}
	c := &getClient{val: val}
	rd, err := newReader(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rd.readQos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rd.noGet || len(c.reqs) != 1 || c.reqs[0].Encoding != gpb.Encoding_JSON_IETF || c.reqs[0].Type != gpb.GetRequest_CONFIG {
		t.Fatalf("get requests = %v (noGet %v)", c.reqs, rd.noGet)
	}
	ch, err := diffSubtrees(ownedSubtrees(got, "qosplane-lab"), ownedSubtrees(tr.Root.Qos, "qosplane-lab"))
	if err != nil {
		t.Fatal(err)
	}
	if !ch.empty() {
		t.Fatalf("read back differs: %v (skipped leaves: %d)", ch.paths(), rd.skipped)
	}
	if n := len(ownedSubtrees(got, "qosplane-lab")); n != 25 {
		t.Errorf("%d owned units read, want 25", n)
	}
}

// TestConcurrentSyncsShareTree runs what ApplyFleet's goroutines share at
// once: reads into the shared schema and diffs against one shared wanted
// tree (run with -race).
func TestConcurrentSyncsShareTree(t *testing.T) {
	tr, err := BuildTree(labPlan())
	if err != nil {
		t.Fatal(err)
	}
	val, err := ygot.EncodeTypedValue(tr.Root.Qos, gpb.Encoding_JSON_IETF)
	if err != nil {
		t.Fatal(err)
	}
	want := ownedSubtrees(tr.Root.Qos, "qosplane-lab")
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			rd, err := newReader(&getClient{val: val}, slog.New(slog.DiscardHandler))
			if err == nil {
				var got *oc.Qos
				if got, err = rd.readQos(context.Background()); err == nil {
					var ch *change
					if ch, err = diffSubtrees(ownedSubtrees(got, "qosplane-lab"), want); err == nil && !ch.empty() {
						err = fmt.Errorf("differs: %v", ch.paths())
					}
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
