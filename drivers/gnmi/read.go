package gnmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/goyang/pkg/yang"
	"github.com/openconfig/ygot/ytypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/qosplane/qosplane/drivers/gnmi/oc"
)

// origin is the gNMI origin of every path the driver sends.
const origin = "openconfig"

// reader reads the device's /qos configuration into the generated structs.
// It tries Get first and, once the target answers Unimplemented, uses
// Subscribe ONCE from then on.
type reader struct {
	client  gpb.GNMIClient
	log     *slog.Logger
	noGet   bool
	skipped int // leaves the schema could not place, last read
	// root is the generated package's schema of the fake root, shared
	// read-only (unzipping a private copy per driver costs more CPU than a
	// whole sync).
	root *yang.Entry
}

func newReader(client gpb.GNMIClient, log *slog.Logger) (*reader, error) {
	root := oc.SchemaTree["Device"]
	if root == nil {
		return nil, fmt.Errorf("openconfig schema: no Device root")
	}
	return &reader{client: client, log: log, root: root}, nil
}

// readQos returns the device's /qos configuration (config leaves only;
// state is skipped). A device without /qos yields an empty Qos.
func (r *reader) readQos(ctx context.Context) (*oc.Qos, error) {
	root := &oc.Device{}
	r.skipped = 0
	if !r.noGet {
		err := r.get(ctx, root)
		if err == nil {
			return root.GetOrCreateQos(), nil
		}
		if status.Code(err) != codes.Unimplemented {
			return nil, err
		}
		r.log.Debug("gNMI Get unimplemented; reading with Subscribe ONCE")
		r.noGet = true
	}
	root = &oc.Device{}
	if err := subscribe(ctx, r.client, gpb.SubscriptionList_ONCE, []*gpb.Path{qosPath()}, func(n *gpb.Notification, u *gpb.Update) error {
		return r.place(root, n.GetPrefix(), u)
	}); err != nil {
		return nil, err
	}
	return root.GetOrCreateQos(), nil
}

func (r *reader) get(ctx context.Context, root *oc.Device) error {
	resp, err := r.client.Get(ctx, &gpb.GetRequest{
		Prefix:   &gpb.Path{Origin: origin},
		Path:     []*gpb.Path{qosPath()},
		Type:     gpb.GetRequest_CONFIG,
		Encoding: gpb.Encoding_JSON_IETF,
	})
	if err != nil {
		return err
	}
	for _, n := range resp.GetNotification() {
		for _, u := range n.GetUpdate() {
			if err := r.place(root, n.GetPrefix(), u); err != nil {
				return err
			}
		}
	}
	return nil
}

// subscribe opens a Subscribe stream in mode (ONCE, or STREAM with SAMPLE
// subscriptions) and hands every update to fn until the first sync
// response, then ends the stream.
func subscribe(ctx context.Context, client gpb.GNMIClient, mode gpb.SubscriptionList_Mode, paths []*gpb.Path, fn func(*gpb.Notification, *gpb.Update) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	sl := &gpb.SubscriptionList{Prefix: &gpb.Path{Origin: origin}, Mode: mode, Encoding: gpb.Encoding_JSON_IETF}
	for _, p := range paths {
		s := &gpb.Subscription{Path: p}
		if mode == gpb.SubscriptionList_STREAM {
			s.Mode = gpb.SubscriptionMode_SAMPLE
			s.SampleInterval = 1e9 // 1 s, in ns; only the first sample is read
		}
		sl.Subscription = append(sl.Subscription, s)
	}
	if err := stream.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: sl}}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if resp.GetSyncResponse() {
			return nil
		}
		n := resp.GetUpdate()
		if n == nil {
			continue
		}
		for _, u := range n.GetUpdate() {
			if err := fn(n, u); err != nil {
				return err
			}
		}
	}
}

// place sets one update into root. Leaves under a "state" container are
// skipped (config is compared, counters are read apart); leaves the
// generated schema lacks are counted and logged, not fatal.
func (r *reader) place(root *oc.Device, prefix *gpb.Path, u *gpb.Update) error {
	p := joinPath(prefix, u.GetPath())
	if stateOnly(p) {
		return nil
	}
	if err := ytypes.SetNode(r.root, root, p, u.GetVal(), &ytypes.InitMissingElements{}); err != nil {
		r.skipped++
		r.log.Debug("gNMI leaf outside the driver's schema", "path", pathString(p), "err", err)
	}
	return nil
}

// joinPath joins a notification prefix and an update path, dropping the
// origin and target.
func joinPath(prefix, p *gpb.Path) *gpb.Path {
	out := &gpb.Path{}
	out.Elem = append(out.Elem, prefix.GetElem()...)
	out.Elem = append(out.Elem, p.GetElem()...)
	return out
}

// stateOnly reports whether p is operational state: under a "state"
// container, or in a list that is config false in openconfig-qos (an
// interface's classifier terms, scheduler-policy schedulers and virtual
// output queues: their list keys sit outside any state container).
func stateOnly(p *gpb.Path) bool {
	underIf := len(p.Elem) > 1 && p.Elem[0].Name == "qos" && p.Elem[1].Name == "interfaces"
	for _, e := range p.Elem {
		switch {
		case e.Name == "state":
			return true
		case underIf && (e.Name == "terms" || e.Name == "schedulers" || e.Name == "virtual-output-queues"):
			return true
		}
	}
	return false
}
