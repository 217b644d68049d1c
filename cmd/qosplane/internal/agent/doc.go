// Package agent is qosplane's long-running host agent and fabric
// provisioner: it loads a policy, compiles it for every target, and keeps
// each target at its plan through the target's driver — hardware where the
// device takes it, the software pacer where it does not.
//
// Each target has its own worker goroutine, so one failing or slow target
// never blocks or rolls back another. A worker reconciles on start, when the
// policy changes (the file is watched; Reload forces a read, e.g. on
// SIGHUP), and every Interval to repair drift; failures are retried with
// exponential backoff. A policy that fails validation is refused: the error
// is logged and shown in the status, and every target keeps its state.
//
// The status is served as JSON on a unix socket (mode 0600) and, opt-in, as
// Prometheus metrics.
package agent
