// Package gnmilab runs gNMI switches for tests: N in-process
// openconfig/lemming gNMI servers on 127.0.0.1 (free ports), served over TLS
// with a certificate from a CA it generates, optionally requiring a
// username and password (gRPC metadata "username" and "password", as
// drivers/gnmi sends them), and recording every configuration Set each
// target receives: when it started and ended, and who sent it.
//
// Who sent it is the value of the IdentityHeader metadata the client put on
// the RPC's context (the controller sets its leader-election identity
// there), else "" — with the peer address recorded alongside. Tests use the
// records to prove, for example, that no switch was written by two
// controllers in overlapping time windows.
//
// Invariants: a Set rejected for bad credentials is not recorded (it never
// reached the switch); lemming's own internal state Sets (metadata
// gnmi-mode=state) are not recorded; credentials can be rotated while
// serving (SetPassword) and take effect for the next RPC.
package gnmilab

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	lemming "github.com/openconfig/lemming/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// IdentityHeader is the gRPC metadata key naming the writer of a Set.
const IdentityHeader = "qosplane-identity"

// Options configure a Lab.
type Options struct {
	// Targets is how many switches to start (at least 1).
	Targets int
	// Username and Password, when Username is set, are required on every
	// RPC; otherwise RPCs are not authenticated.
	Username, Password string
}

// Lab is a set of running gNMI targets sharing one CA and credentials.
type Lab struct {
	// CAPEM is the PEM of the CA that signed every target's certificate
	// (valid for 127.0.0.1 and localhost).
	CAPEM   []byte
	Targets []*Target

	mu         sync.RWMutex
	user, pass string
}

// Target is one gNMI switch.
type Target struct {
	// Name is "sw<i>", Addr its host:port.
	Name, Addr string

	*lemming.Server
	srv  *grpc.Server
	done chan struct{}

	mu       sync.Mutex
	sets     []Set
	rejected int
}

// Set is one configuration Set a target accepted or failed.
type Set struct {
	Start, End time.Time
	// Identity is the IdentityHeader value, "" when absent.
	Identity string
	// Peer is the client's address.
	Peer string
	// Err is the Set's error, if it failed.
	Err error
}

// Start starts opts.Targets targets. Close stops them.
func Start(opts Options) (*Lab, error) {
	if opts.Targets < 1 {
		return nil, errors.New("gnmilab: Targets must be at least 1")
	}
	pki, err := NewPKI()
	if err != nil {
		return nil, err
	}
	l := &Lab{CAPEM: pki.CAPEM, user: opts.Username, pass: opts.Password}
	for i := range opts.Targets {
		t, err := l.startTarget(fmt.Sprintf("sw%d", i), pki.Server)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.Targets = append(l.Targets, t)
	}
	return l, nil
}

// SetPassword replaces the accepted credentials (a rotation): from the next
// RPC on, only user/pass are accepted.
func (l *Lab) SetPassword(user, pass string) {
	l.mu.Lock()
	l.user, l.pass = user, pass
	l.mu.Unlock()
}

// Close stops every target.
func (l *Lab) Close() {
	for _, t := range l.Targets {
		t.srv.Stop()
		<-t.done
	}
}

// Sets returns a copy of the Sets t received, in arrival order.
func (t *Target) Sets() []Set {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Set(nil), t.sets...)
}

// Rejected is how many RPCs t refused for bad or missing credentials.
func (t *Target) Rejected() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rejected
}

// TotalSets is the number of Sets all targets received.
func (l *Lab) TotalSets() int {
	n := 0
	for _, t := range l.Targets {
		n += len(t.Sets())
	}
	return n
}

func (l *Lab) startTarget(name string, cert tls.Certificate) (*Target, error) {
	ls, err := lemming.New(grpc.NewServer(), name, nil)
	if err != nil {
		return nil, fmt.Errorf("gnmilab: lemming %s: %w", name, err)
	}
	t := &Target{Name: name, Server: ls, done: make(chan struct{})}
	t.srv = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})),
		grpc.ChainUnaryInterceptor(t.authUnary(l)),
		grpc.ChainStreamInterceptor(t.authStream(l), lemming.NewSubscribeTargetUpdateInterceptor(name)),
	)
	gpb.RegisterGNMIServer(t.srv, t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gnmilab: listen: %w", err)
	}
	t.Addr = lis.Addr().String()
	go func() {
		defer close(t.done)
		_ = t.srv.Serve(lis)
	}()
	return t, nil
}

// Capabilities advertises what drivers/gnmi requires (QoSCapabilities);
// lemming's own answer lists no models.
func (t *Target) Capabilities(context.Context, *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	return QoSCapabilities(), nil
}

// QoSCapabilities is the Capabilities answer of a switch with
// openconfig-qos 2.2.0 and openconfig-interfaces over JSON_IETF and PROTO,
// gNMI 0.10.0: what drivers/gnmi requires of a target.
func QoSCapabilities() *gpb.CapabilityResponse {
	return &gpb.CapabilityResponse{
		SupportedModels: []*gpb.ModelData{
			{Name: "openconfig-qos", Organization: "OpenConfig working group", Version: "2.2.0"},
			{Name: "openconfig-interfaces", Organization: "OpenConfig working group", Version: "3.7.1"},
		},
		SupportedEncodings: []gpb.Encoding{gpb.Encoding_JSON_IETF, gpb.Encoding_PROTO},
		GNMIVersion:        "0.10.0",
	}
}

// Set records the request and passes it to lemming.
func (t *Target) Set(ctx context.Context, req *gpb.SetRequest) (*gpb.SetResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if strings.Contains(strings.Join(md.Get("gnmi-mode"), ","), "state") {
		return t.Server.Set(ctx, req)
	}
	s := Set{Start: time.Now(), Identity: first(md.Get(IdentityHeader))}
	if p, ok := peer.FromContext(ctx); ok {
		s.Peer = p.Addr.String()
	}
	resp, err := t.Server.Set(ctx, req)
	s.End, s.Err = time.Now(), err
	t.mu.Lock()
	t.sets = append(t.sets, s)
	t.mu.Unlock()
	return resp, err
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// check refuses an RPC without the lab's current credentials.
func (t *Target) check(ctx context.Context, l *Lab) error {
	l.mu.RLock()
	user, pass := l.user, l.pass
	l.mu.RUnlock()
	if user == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	okU := subtle.ConstantTimeCompare([]byte(first(md.Get("username"))), []byte(user)) == 1
	okP := subtle.ConstantTimeCompare([]byte(first(md.Get("password"))), []byte(pass)) == 1
	if okU && okP {
		return nil
	}
	t.mu.Lock()
	t.rejected++
	t.mu.Unlock()
	return status.Error(codes.Unauthenticated, "bad username or password")
}

func (t *Target) authUnary(l *Lab) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := t.check(ctx, l); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func (t *Target) authStream(l *Lab) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := t.check(ss.Context(), l); err != nil {
			return err
		}
		return h(srv, ss)
	}
}
