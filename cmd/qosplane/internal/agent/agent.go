package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/qosplane/qosplane/model"
)

// Config configures an Agent. Zero durations take the defaults shown.
type Config struct {
	// PolicyPath is a policy file or a directory of policy files: the
	// source of desired state unless Source is set.
	PolicyPath string
	// Source, when set, is where desired state comes from instead of
	// PolicyPath (e.g. the Kubernetes API).
	Source Source
	// Profile, when set, overrides every target's capability profile.
	Profile string
	// Interval between reconciles that repair drift (30s).
	Interval time.Duration
	// WatchInterval between checks of the policy for changes (1s).
	WatchInterval time.Duration
	// CountersInterval between counter reads (2s).
	CountersInterval time.Duration
	// TargetTimeout bounds one reconcile of one target (30s).
	TargetTimeout time.Duration
	// BackoffMin and BackoffMax bound the retry delay after a failure
	// (1s, 2m); it doubles with each consecutive failure.
	BackoffMin, BackoffMax time.Duration
	// RemoveOnExit removes what qosplane installed when the agent stops;
	// by default hardware state stays so a restart adopts it without
	// disturbing traffic. The software pacer always stops and hands its
	// interfaces back, since it lives in this process.
	RemoveOnExit bool
	// StatusSocket is the unix socket of the status API ("" = none).
	StatusSocket string
	// MetricsAddr is the TCP address of the Prometheus endpoint ("" = off).
	MetricsAddr string
	Factory     Factory
	// Sockets marks sockets by cgroup (drivers/cgroup.Driver), one per
	// host: the cgroup flows of every NIC target's plan go to it. Nil
	// leaves cgroup flows unapplied (noted in the status).
	Sockets Sockets
	Log     *slog.Logger
	// OnChange, when set, is called (from the agent's goroutines, without
	// its locks held) after a policy load or refusal and after each target
	// reconcile, so that a status writer can compare Status() with what it
	// last published. It must not block.
	OnChange func()
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, 30*time.Second)
	def(&c.WatchInterval, time.Second)
	def(&c.CountersInterval, 2*time.Second)
	def(&c.TargetTimeout, 30*time.Second)
	def(&c.BackoffMin, time.Second)
	def(&c.BackoffMax, 2*time.Minute)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Agent keeps every target of a policy at its plan.
type Agent struct {
	cfg Config
	log *slog.Logger

	src Source

	mu        sync.Mutex
	policy    *model.Policy // the running, valid policy
	order     []int         // policy.Order()
	loadedAt  time.Time
	policyErr error // the last refused policy, nil once a valid one loads
	workers   map[string]*worker
	sockets   *socketRules
	// metricsAddr is where the metrics endpoint listens.
	metricsAddr string

	reload chan struct{}
}

// New returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	cfg.defaults()
	if cfg.Factory == nil {
		return nil, errors.New("agent: no driver factory")
	}
	src := cfg.Source
	if src == nil {
		if cfg.PolicyPath == "" {
			return nil, errors.New("agent: no policy path")
		}
		src = NewFileSource(cfg.PolicyPath)
	}
	return &Agent{cfg: cfg, src: src, log: cfg.Log, workers: make(map[string]*worker), reload: make(chan struct{}, 1),
		sockets: &socketRules{s: cfg.Sockets}}, nil
}

// Reload asks the agent to read the policy again now (SIGHUP).
func (a *Agent) Reload() {
	select {
	case a.reload <- struct{}{}:
	default:
	}
}

// Run loads the policy and reconciles until ctx is done, then shuts down as
// configured. It returns an error when the first policy cannot be loaded or
// a listener cannot be opened; later policy errors are refused and reported.
func (a *Agent) Run(ctx context.Context) error {
	if _, err := a.load(true); err != nil {
		return err
	}
	var servers []func()
	if a.cfg.StatusSocket != "" {
		stop, err := a.serveStatus(a.cfg.StatusSocket)
		if err != nil {
			return err
		}
		servers = append(servers, stop)
	}
	if a.cfg.MetricsAddr != "" {
		stop, err := a.serveMetrics(a.cfg.MetricsAddr)
		if err != nil {
			for _, s := range servers {
				s()
			}
			return err
		}
		servers = append(servers, stop)
	}
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	a.syncWorkers(wctx, &wg)
	a.notify()

	watch := time.NewTicker(a.cfg.WatchInterval)
	defer watch.Stop()
loop:
	for {
		force := false
		select {
		case <-ctx.Done():
			break loop
		case <-a.reload:
			force = true
		case <-a.src.Changed():
			force = true
		case <-watch.C:
		}
		changed, err := a.load(force)
		if err != nil {
			a.notify()
		}
		if err != nil || !changed {
			continue
		}
		a.syncWorkers(wctx, &wg)
		a.notify()
	}
	a.log.Info("stopping", "remove_on_exit", a.cfg.RemoveOnExit)
	stopWorkers()
	wg.Wait()
	a.mu.Lock()
	workers := make([]*worker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	a.shutdown(workers)
	for _, s := range servers {
		s()
	}
	return nil
}

// notify calls Config.OnChange, if set.
func (a *Agent) notify() {
	if a.cfg.OnChange != nil {
		a.cfg.OnChange()
	}
}

// shutdown stops every worker's drivers in parallel, each within the
// target timeout.
func (a *Agent) shutdown(workers []*worker) {
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.TargetTimeout)
			defer cancel()
			w.stop(ctx, a.cfg.RemoveOnExit)
		}()
	}
	wg.Wait()
}

// load polls the source. It reports whether a new valid policy replaced
// the running one. A refused policy leaves the running one in place.
func (a *Agent) load(force bool) (changed bool, err error) {
	p, perr := a.src.Poll(force)
	a.mu.Lock()
	defer a.mu.Unlock()
	if perr != nil {
		a.policyErr = perr
		a.log.Error("policy refused; targets keep their state", "source", a.src.String(), "err", perr)
		return false, perr
	}
	if p == nil {
		return false, nil
	}
	a.policy, a.order, a.policyErr, a.loadedAt = p, p.Order(), nil, time.Now()
	a.log.Info("policy loaded", "policy", p.Name, "classes", len(p.Classes), "flows", len(p.Flows), "targets", len(p.Targets))
	return true, nil
}

// snapshot returns the running policy.
func (a *Agent) snapshot() (*model.Policy, []int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.policy, a.order
}

// syncWorkers starts a worker for each new target, kicks the existing ones,
// and retires the workers of targets the policy no longer has (removing
// what qosplane installed on them).
func (a *Agent) syncWorkers(ctx context.Context, wg *sync.WaitGroup) {
	p, _ := a.snapshot()
	a.mu.Lock()
	defer a.mu.Unlock()
	want := make(map[string]bool)
	for _, t := range p.Targets {
		want[t.Name] = true
		if w, ok := a.workers[t.Name]; ok {
			w.kickNow()
			continue
		}
		w := newWorker(a, t.Name)
		a.workers[t.Name] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	for name, w := range a.workers {
		if want[name] {
			continue
		}
		delete(a.workers, name)
		a.log.Info("target left the policy; removing its state", "target", name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.retire()
			rctx, cancel := context.WithTimeout(context.Background(), a.cfg.TargetTimeout)
			defer cancel()
			w.stop(rctx, true)
		}()
	}
}

// listenUnix opens a unix socket readable only by its owner, replacing a
// stale socket file but never one another process is serving.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("status socket %s: another agent is serving it", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return l, nil
}
