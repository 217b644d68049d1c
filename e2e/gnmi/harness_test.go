package gnmi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	lemming "github.com/openconfig/lemming/gnmi"
	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/e2e/gnmi/gnmilab"
	"github.com/qosplane/qosplane/offload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/prototext"
)

// pki is a test CA and a server certificate for 127.0.0.1 / localhost.
type pki struct {
	caFile string
	server tls.Certificate
	pool   *x509.CertPool
	// clientCert and clientKey are files of a client certificate signed by
	// the CA (for mutual TLS).
	clientCert, clientKey string
}

// testPKIVal is the CA and certificates of this test binary, made by
// TestMain in a directory it removes at the end.
var testPKIVal *pki

// TestMain makes the test PKI and points lemming's glog files into the same
// temporary directory, so that nothing is left behind in /tmp.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "qosplane-gnmi-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if f := flag.Lookup("log_dir"); f != nil {
		_ = f.Value.Set(dir)
	}
	testPKIVal, err = newPKI(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "test PKI:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPKI returns the test CA and certificates.
func testPKI(t testing.TB) *pki {
	t.Helper()
	if testPKIVal == nil {
		t.Fatal("no test PKI (TestMain did not run)")
	}
	return testPKIVal
}

// newPKI makes the CA (gnmilab.NewPKI) and writes into dir the files the
// driver reads: the CA and a client certificate and key.
func newPKI(dir string) (*pki, error) {
	lp, err := gnmilab.NewPKI()
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := lp.ClientCert("qosplane")
	if err != nil {
		return nil, err
	}
	p := &pki{caFile: filepath.Join(dir, "ca.pem"), server: lp.Server, pool: lp.Pool,
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem")}
	for f, data := range map[string][]byte{p.caFile: lp.CAPEM, p.clientCert: certPEM, p.clientKey: keyPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// targetMode changes how a test target answers.
type targetMode int

const (
	normal   targetMode = iota
	hanging             // Capabilities blocks until the client gives up
	refusing            // Capabilities lists no openconfig-qos
)

// target is an in-process lemming gNMI server with Capabilities added,
// counting the SetRequests it receives.
type target struct {
	*lemming.Server
	mode targetMode
	addr string
	sets atomic.Int64
	// lastSet is the last SetRequest received, in text form.
	mu      sync.Mutex
	lastSet string
}

// Capabilities answers what a switch with openconfig-qos would.
func (s *target) Capabilities(ctx context.Context, _ *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	switch s.mode {
	case hanging:
		<-ctx.Done()
		return nil, ctx.Err()
	case refusing:
		return &gpb.CapabilityResponse{
			SupportedModels:    []*gpb.ModelData{{Name: "openconfig-interfaces", Organization: "OpenConfig working group", Version: "3.7.1"}},
			SupportedEncodings: []gpb.Encoding{gpb.Encoding_JSON_IETF},
			GNMIVersion:        "0.10.0",
		}, nil
	}
	return gnmilab.QoSCapabilities(), nil
}

// Set counts and records the request, then lets lemming apply it.
func (s *target) Set(ctx context.Context, req *gpb.SetRequest) (*gpb.SetResponse, error) {
	if md, _ := metadata.FromIncomingContext(ctx); !strings.Contains(strings.Join(md.Get("gnmi-mode"), ","), "state") {
		s.sets.Add(1)
		s.mu.Lock()
		s.lastSet = prototext.Format(req)
		s.mu.Unlock()
	}
	return s.Server.Set(ctx, req)
}

// startTarget serves a lemming target over TLS on 127.0.0.1 and stops it
// when the test ends.
func startTarget(t testing.TB, mode targetMode) *target {
	t.Helper()
	p := testPKI(t)
	// lemming registers itself on the server it is given; register our
	// wrapper on the real one instead.
	ls, err := lemming.New(grpc.NewServer(), "lab", nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{Server: ls, mode: mode}
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12})),
		grpc.StreamInterceptor(lemming.NewSubscribeTargetUpdateInterceptor("lab")),
	)
	gpb.RegisterGNMIServer(srv, tg)
	tg.addr = serveLoopback(t, srv)
	return tg
}

// serveLoopback serves srv on a free port of 127.0.0.1 until the test ends
// and returns its address.
func serveLoopback(t testing.TB, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "listen")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// labOpened starts a target and opens the driver on the lab plan (closed
// when the test ends); nothing is applied yet.
func labOpened(t *testing.T) (*target, *offload.TargetPlan, *gnmidrv.Driver, context.Context) {
	t.Helper()
	tg := startTarget(t, normal)
	tp := labPlan("leaf1", tg.addr, testPKI(t).caFile)
	ctx := ctxT(t)
	d, err := gnmidrv.Open(ctx, tp, testLog(t))
	mustf(t, err, "open")
	t.Cleanup(func() { d.Close() })
	return tg, tp, d, ctx
}

// labApplied is labOpened with the lab plan synced: the state most tests
// start from.
func labApplied(t *testing.T) (*target, *offload.TargetPlan, *gnmidrv.Driver, context.Context) {
	t.Helper()
	tg, tp, d, ctx := labOpened(t)
	_, err := d.Sync(ctx, tp)
	mustf(t, err, "apply")
	return tg, tp, d, ctx
}

// client is a raw gNMI client of a target (trusting the test CA), for
// seeding, injecting state and reading back independently of the driver.
func (s *target) client(t testing.TB) gpb.GNMIClient {
	t.Helper()
	p := testPKI(t)
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(p.caFile)
	pool.AppendCertsFromPEM(b)
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return gpb.NewGNMIClient(conn)
}

// dump reads every config leaf under /qos with Subscribe ONCE, as
// "path = value" lines keyed by path.
func dump(t testing.TB, c gpb.GNMIClient) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Prefix: &gpb.Path{Origin: "openconfig"}, Mode: gpb.SubscriptionList_ONCE,
		Subscription: []*gpb.Subscription{{Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "qos"}}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for {
		resp, err := st.Recv()
		if errors.Is(err, io.EOF) || resp.GetSyncResponse() {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n := resp.GetUpdate()
		for _, u := range n.GetUpdate() {
			p := pathStr(n.GetPrefix()) + pathStr(u.GetPath())
			if strings.Contains(p, "/state/") {
				continue
			}
			out[p] = prototext.Format(u.GetVal())
		}
	}
	return out
}

func pathStr(p *gpb.Path) string {
	var b strings.Builder
	for _, e := range p.GetElem() {
		b.WriteString("/" + e.Name)
		keys := make([]string, 0, len(e.Key))
		for k, v := range e.Key {
			keys = append(keys, k+"="+v)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString("[" + k + "]")
		}
	}
	return b.String()
}

// setState injects operational state (counters) the way lemming's own
// reconcilers do: a Set with gRPC metadata gnmi-mode=state.
func setState(t testing.TB, c gpb.GNMIClient, updates ...*gpb.Update) {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "gnmi-mode", "state")
	if _, err := c.Set(ctx, &gpb.SetRequest{Prefix: &gpb.Path{Origin: "openconfig"}, Update: updates}); err != nil {
		t.Fatalf("inject state: %v", err)
	}
}

func countWith(m map[string]string, sub string) int {
	n := 0
	for k := range m {
		if strings.Contains(k, sub) {
			n++
		}
	}
	return n
}

func mustf(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
