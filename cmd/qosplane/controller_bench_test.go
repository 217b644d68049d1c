package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/kube"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// BenchmarkControllerFleet100 measures the wall time from one QoSPolicy
// edit to all of its 100 switches (lemming gNMI targets on loopback, over
// TLS, with credentials from a Secret) being provisioned at the new
// generation and reported on the status, through an in-process controller
// (parallelism 16, the default). Metric: s/edit. Needs the kubelab
// binaries.
func BenchmarkControllerFleet100(b *testing.B) {
	const n = 100
	setup := time.Now()
	e := newCtlEnv(b, n)
	cfg, err := kube.RESTConfig(e.lab.Kubeconfig(), "controller-bench")
	must(b, err)
	ctl, err := kube.NewController(kube.ControllerConfig{
		REST: cfg, Namespace: ctlNS, LeaseName: "qosplane-controller", Identity: "bench",
		LeaseDuration: ctlLease, RenewDeadline: ctlRenew, RetryPeriod: ctlRetry,
		Log: slog.New(slog.DiscardHandler),
	})
	must(b, err)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctl.Run(runCtx) }()
	b.Cleanup(func() { stop(); <-done })
	e.waitHolder("bench", 30*time.Second)
	b.Logf("setup (apiserver, %d switches, controller) took %v", n, time.Since(setup))
	var total time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		e.applyPolicy(fmt.Sprintf("%dMbit", 50+i))
		gen := e.policy().Generation
		e.waitStatus("all switches applied", 120*time.Second, func(st *v1alpha1.QoSPolicyStatus) bool {
			return allAppliedN(st, gen, n)
		})
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/edit")
	b.ReportMetric(0, "ns/op")
}
