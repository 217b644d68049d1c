package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/kube"
)

// runController is "qosplane controller": the fleet controller. It
// aggregates QoSNodeStates into each QoSPolicy's status and is the only
// writer of switches; of its replicas only the holder of the Lease
// --namespace/--lease-name writes (see internal/kube's fencing note).
// SIGINT/SIGTERM end it cleanly and release the lease.
func runController(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (default: in-cluster service account)")
	cfg := kube.ControllerConfig{}
	fs.StringVar(&cfg.Namespace, "namespace", envOr("POD_NAMESPACE", "qosplane"), "namespace of the Lease and of watched Secrets")
	fs.StringVar(&cfg.LeaseName, "lease-name", "qosplane-controller", "name of the coordination.k8s.io Lease")
	fs.StringVar(&cfg.Identity, "identity", os.Getenv("POD_NAME"), "this replica's identity in the Lease (default: $POD_NAME, else the hostname)")
	fs.DurationVar(&cfg.LeaseDuration, "lease-duration", kube.DefaultLeaseDuration, "how long a lease not renewed blocks other replicas")
	fs.DurationVar(&cfg.RenewDeadline, "renew-deadline", kube.DefaultRenewDeadline, "how long the leader keeps trying to renew before it stops (and stops writing)")
	fs.DurationVar(&cfg.RetryPeriod, "retry-period", kube.DefaultRetryPeriod, "interval between lease acquire/renew attempts")
	fs.IntVar(&cfg.Parallelism, "parallelism", kube.DefaultParallelism, "switches written at once")
	fs.DurationVar(&cfg.SwitchTimeout, "switch-timeout", kube.DefaultSwitchTimeout, "bound on each switch (connect, read, Set)")
	fs.DurationVar(&cfg.Resync, "resync", kube.DefaultResync, "interval of full re-checks (retries, Secrets outside --namespace)")
	logFormat := fs.String("log-format", "json", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 0 {
		c.errorf("controller takes no arguments")
		return exitUsage
	}
	log, err := newLogger(c.stderr, *logFormat, *logLevel)
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	cfg.Log = log
	cfg.REST, err = kube.RESTConfig(*kubeconfig, fmt.Sprintf("qosplane-controller/%s", version))
	if err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	ctl, err := kube.NewController(cfg)
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	if err := ctl.Run(ctx); err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	return exitOK
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
