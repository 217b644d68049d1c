package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/drivers/cgroup"
)

// defaultSocket is where the agent serves its status.
const defaultSocket = "/run/qosplane/qosplane.sock"

// agentFlags are the flags apply, remove and agent share.
type agentFlags struct {
	fs                             *flag.FlagSet
	caps, socket, metrics          string
	logFormat, logLevel, onExit    string
	interval, timeout, watchPeriod time.Duration
	// The fleet mode (agent only): desired state from QoSPolicies.
	kube                 bool
	kubeconfig, nodeName string
}

func newAgentFlags(name string) *agentFlags {
	f := &agentFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.StringVar(&f.caps, "caps", "", "capability profile (name or file) for every target, instead of probing")
	f.fs.StringVar(&f.socket, "socket", defaultSocket, "unix socket of the status API")
	f.fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	f.fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.fs.DurationVar(&f.timeout, "target-timeout", 30*time.Second, "time one target may take to reconcile")
	if name == "agent" {
		f.fs.StringVar(&f.metrics, "metrics-addr", "", "serve Prometheus metrics on this address (off when empty)")
		f.fs.StringVar(&f.onExit, "on-exit", "leave", "on SIGTERM: leave the applied state (restart adopts it) or remove it")
		f.fs.DurationVar(&f.interval, "interval", 30*time.Second, "reconcile interval (drift repair)")
		f.fs.DurationVar(&f.watchPeriod, "watch-interval", time.Second, "how often the policy is checked for changes")
		f.kubeFlags()
	}
	return f
}

func (f *agentFlags) config(c *cli, policy string) (agent.Config, error) {
	log, err := newLogger(c.stderr, f.logFormat, f.logLevel)
	if err != nil {
		return agent.Config{}, err
	}
	if f.onExit != "" && f.onExit != "leave" && f.onExit != "remove" {
		return agent.Config{}, fmt.Errorf("--on-exit %q: use leave or remove", f.onExit)
	}
	return agent.Config{
		PolicyPath: policy, Profile: f.caps, StatusSocket: f.socket, MetricsAddr: f.metrics,
		Interval: f.interval, WatchInterval: f.watchPeriod, TargetTimeout: f.timeout,
		RemoveOnExit: f.onExit == "remove", Factory: drivers{log: log}, Log: log,
	}, nil
}

func runAgent(ctx context.Context, c *cli, args []string) int {
	f := newAgentFlags("agent")
	pos, err := parseInterspersed(f.fs, args)
	if err == nil && f.kube && len(pos) == 0 {
		pos = []string{""} // the fleet mode takes no POLICY
	}
	if err != nil || len(pos) != 1 || f.kube && pos[0] != "" {
		if err != nil {
			c.errorf("%v", err)
		}
		c.errorf("usage: qosplane agent POLICY|--kube [--kubeconfig F] [--node-name N] [--interval D] [--on-exit leave|remove] [--socket S] [--metrics-addr A] [--log-format text|json] [--caps PROFILE]")
		return exitUsage
	}
	cfg, err := f.config(c, pos[0])
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	if os.Geteuid() != 0 {
		cfg.Log.Warn("not running as root: NIC targets and the pacer need CAP_NET_ADMIN and CAP_NET_RAW")
	}
	// One socket marker per host, held by this process: its programs
	// detach when the agent exits, however it exits.
	if sm, err := cgroup.New(cgroup.Options{Log: cfg.Log}); err != nil {
		cfg.Log.Warn("no socket marking by cgroup: cgroup flows will not be applied", "err", err)
	} else {
		defer sm.Close()
		cfg.Sockets = sm
	}
	var a runner
	if f.kube {
		a, err = f.kubeAgent(ctx, cfg)
	} else {
		a, err = agent.New(cfg)
	}
	if err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				cfg.Log.Info("SIGHUP: reloading the policy")
				a.Reload()
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	return exitOK
}
