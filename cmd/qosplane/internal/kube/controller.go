package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Default leader-election timing. LeaseDuration must exceed RenewDeadline
// by more than the clock-rate skew between nodes plus one gRPC round trip
// (see the fencing note in controller_fence.go).
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	DefaultParallelism   = 16
	DefaultSwitchTimeout = 30 * time.Second
	DefaultResync        = 30 * time.Second
)

// ControllerConfig configures the fleet controller.
type ControllerConfig struct {
	// REST is the client configuration (the lease client gets its own
	// copy with a request timeout of RenewDeadline/2, at least 1 s).
	REST *rest.Config
	// Namespace holds the Lease and is where Secrets are watched.
	Namespace string
	// LeaseName names the coordination.k8s.io Lease.
	LeaseName string
	// Identity is this replica's name in the Lease (the Pod name); it is
	// also sent to switches as gRPC metadata "qosplane-identity".
	Identity string
	// LeaseDuration, RenewDeadline, RetryPeriod: leader-election timing;
	// zero means the Default values. LeaseDuration > RenewDeadline >
	// RetryPeriod is required.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Parallelism bounds switches written at once; SwitchTimeout bounds
	// each switch (connect, read, Set).
	Parallelism   int
	SwitchTimeout time.Duration
	// Resync is how often the leader re-checks every policy even without
	// events: retries failed switches and notices rotated Secrets outside
	// Namespace (those are read, not watched).
	Resync time.Duration
	// Log receives the controller's logs; never a Secret's content.
	Log *slog.Logger
}

func (c *ControllerConfig) defaults() error {
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = DefaultRenewDeadline
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = DefaultRetryPeriod
	}
	if c.Parallelism <= 0 {
		c.Parallelism = DefaultParallelism
	}
	if c.SwitchTimeout <= 0 {
		c.SwitchTimeout = DefaultSwitchTimeout
	}
	if c.Resync <= 0 {
		c.Resync = DefaultResync
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.REST == nil:
		return errors.New("controller: no REST configuration")
	case c.Namespace == "" || c.LeaseName == "":
		return errors.New("controller: namespace and lease name are required")
	case c.Identity == "":
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("controller: no identity and no hostname: %w", err)
		}
		c.Identity = h
	}
	if !(c.LeaseDuration > c.RenewDeadline && c.RenewDeadline > c.RetryPeriod) {
		return fmt.Errorf("controller: need lease duration (%v) > renew deadline (%v) > retry period (%v)", c.LeaseDuration, c.RenewDeadline, c.RetryPeriod)
	}
	return nil
}

// Controller aggregates QoSNodeStates into QoSPolicy status and is the only
// writer of switches. Every replica keeps warm caches (list+watch of
// QoSPolicies, QoSNodeStates, Nodes and the Secrets of its namespace); only
// the leader writes (policy status and switches).
//
// Leader election and the caches are implemented here on the Lease lock of
// client-go's resourcelock and plain watches, not with client-go's
// leaderelection and informers: those import tools/cache, whose
// dependency github.com/pmezard/go-difflib is not in go.mod.
type Controller struct {
	cfg     ControllerConfig
	clients *Clients
	log     *slog.Logger

	policies, nodeStates, nodes, secrets *watchStore

	trigger chan struct{}
	lease   *renewTracker
	fence   *fence
	elect   elector

	// applied is leader-only state (the switch rounds of this term), reset
	// on every new term; only the term's goroutine touches it.
	applied map[string]*switchRound

	statusWrites atomic.Int64
}

// Core resources the controller watches.
var (
	ctlNodeGVR   = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	ctlSecretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// NewController validates cfg and makes the clients and caches.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	clients, err := NewClients(cfg.REST)
	if err != nil {
		return nil, err
	}
	leaseCfg := rest.CopyConfig(cfg.REST)
	leaseCfg.Timeout = max(time.Second, cfg.RenewDeadline/2)
	leaseClient, err := kubernetes.NewForConfig(rest.AddUserAgent(leaseCfg, "leader-election"))
	if err != nil {
		return nil, fmt.Errorf("lease client: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, cfg.Namespace, cfg.LeaseName,
		leaseClient.CoreV1(), leaseClient.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: cfg.Identity})
	if err != nil {
		return nil, fmt.Errorf("lease lock: %w", err)
	}
	c := &Controller{
		cfg: cfg, clients: clients, log: cfg.Log.With("identity", cfg.Identity),
		trigger: make(chan struct{}, 1), lease: &renewTracker{Interface: lock},
	}
	c.fence = &fence{lease: c.lease, renewDeadline: cfg.RenewDeadline}
	c.elect = elector{cfg: &c.cfg, lock: c.lease, log: c.log}
	d := clients.Dynamic
	c.policies = newWatchStore("qospolicies", d.Resource(PolicyGVR), metav1.ListOptions{}, c.poke, c.log)
	c.nodeStates = newWatchStore("qosnodestates", d.Resource(NodeStateGVR), metav1.ListOptions{}, c.poke, c.log)
	c.nodes = newWatchStore("nodes", d.Resource(ctlNodeGVR), metav1.ListOptions{}, c.poke, c.log)
	c.secrets = newWatchStore("secrets", d.Resource(ctlSecretGVR).Namespace(cfg.Namespace), metav1.ListOptions{}, c.poke, c.log)
	return c, nil
}

// StatusWrites is how many policy status updates this replica has made.
func (c *Controller) StatusWrites() int64 { return c.statusWrites.Load() }

// poke asks the leader loop for a reconcile; pokes coalesce.
func (c *Controller) poke() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Run starts the caches and campaigns for the lease until ctx is done.
// A term ends when a renewal fails for RenewDeadline or ctx is done; the
// term's work stops with it (fenced writes) before the next campaign, and
// on a clean shutdown the lease is released (ReleaseOnCancel) so another
// replica takes over at once.
func (c *Controller) Run(ctx context.Context) error {
	stores := []*watchStore{c.policies, c.nodeStates, c.nodes, c.secrets}
	for _, s := range stores {
		go s.run(ctx)
	}
	for _, s := range stores {
		if err := s.waitSynced(ctx); err != nil {
			return fmt.Errorf("controller: %s cache did not sync: %w", s.name, err)
		}
	}
	c.log.Info("caches synced; campaigning", "namespace", c.cfg.Namespace, "lease", c.cfg.LeaseName)
	for ctx.Err() == nil {
		c.elect.run(ctx, c.lead)
	}
	return nil
}

// lead runs one term: reconcile on events and every Resync until lctx
// (the term) ends.
func (c *Controller) lead(lctx context.Context) {
	c.applied = make(map[string]*switchRound)
	tick := time.NewTicker(c.cfg.Resync)
	defer tick.Stop()
	c.poke()
	for {
		select {
		case <-lctx.Done():
			return
		case <-c.trigger:
		case <-tick.C:
		}
		c.reconcileAll(lctx)
	}
}
