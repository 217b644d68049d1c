package gnmi_test

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/ygot/ygot"
	"github.com/openconfig/ygot/ytypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/qosplane/qosplane/drivers/gnmi/oc"
)

// lightTarget is a small gNMI target for fleet tests: lemming holds the
// whole OpenConfig schema three times per instance (hundreds of MB), so
// fifty of them starve a 2-core machine. lightTarget keeps a tree of the
// driver's generated openconfig-qos schema and, like lemming, validates
// every SetRequest against it (ranges, enums, leafrefs) on a copy and
// keeps the copy only when valid: all or nothing. It answers
// Capabilities, Set and Subscribe ONCE; Get is unimplemented.
type lightTarget struct {
	gpb.UnimplementedGNMIServer
	mode targetMode
	addr string
	sets atomic.Int64
	// delay holds every Set for this long (a slow target).
	delay time.Duration

	mu     sync.Mutex
	schema *ytypes.Schema
}

func (s *lightTarget) Capabilities(ctx context.Context, req *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	return (&target{mode: s.mode}).Capabilities(ctx, req)
}

func (s *lightTarget) Set(ctx context.Context, req *gpb.SetRequest) (*gpb.SetResponse, error) {
	s.sets.Add(1)
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, err := ygot.DeepCopy(s.schema.Root)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	next := &ytypes.Schema{Root: cp, SchemaTree: s.schema.SchemaTree, Unmarshal: s.schema.Unmarshal}
	if err := ytypes.UnmarshalSetRequest(next, req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "set: %v", err)
	}
	if err := next.Validate(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid SetRequest: %v", err)
	}
	s.schema = next
	return &gpb.SetResponse{Timestamp: time.Now().UnixNano()}, nil
}

func (s *lightTarget) Subscribe(st gpb.GNMI_SubscribeServer) error {
	req, err := st.Recv()
	if err != nil {
		return err
	}
	if req.GetSubscribe().GetMode() != gpb.SubscriptionList_ONCE {
		return status.Error(codes.Unimplemented, "only ONCE")
	}
	s.mu.Lock()
	ns, err := ygot.TogNMINotifications(s.schema.Root, time.Now().UnixNano(), ygot.GNMINotificationsConfig{UsePathElem: true})
	s.mu.Unlock()
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	for _, n := range ns {
		if err := st.Send(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: n}}); err != nil {
			return err
		}
	}
	return st.Send(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_SyncResponse{SyncResponse: true}})
}

// lightOpts change how a light target accepts clients.
type lightOpts struct {
	// plaintext serves without TLS.
	plaintext bool
	// clientCert requires a client certificate signed by the test CA.
	clientCert bool
	// user and pass, when set, must arrive as gRPC metadata.
	user, pass string
}

// startLight serves a lightTarget over TLS on 127.0.0.1 until the test
// ends.
func startLight(t testing.TB, mode targetMode) *lightTarget {
	return startLightWith(t, mode, lightOpts{})
}

func startLightWith(t testing.TB, mode targetMode, o lightOpts) *lightTarget {
	t.Helper()
	p := testPKI(t)
	// The schema tree is shared read-only; each target has its own root.
	schema := &ytypes.Schema{Root: &oc.Device{}, SchemaTree: oc.SchemaTree, Unmarshal: oc.Unmarshal}
	lt := &lightTarget{mode: mode, schema: schema}
	auth := func(ctx context.Context) error {
		if o.user == "" {
			return nil
		}
		md, _ := metadata.FromIncomingContext(ctx)
		if u, pw := md.Get("username"), md.Get("password"); len(u) != 1 || len(pw) != 1 || u[0] != o.user || pw[0] != o.pass {
			return status.Error(codes.Unauthenticated, "bad username or password")
		}
		return nil
	}
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := auth(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := auth(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
	if !o.plaintext {
		cfg := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
		if o.clientCert {
			cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	srv := grpc.NewServer(opts...)
	gpb.RegisterGNMIServer(srv, lt)
	lt.addr = serveLoopback(t, srv)
	return lt
}
