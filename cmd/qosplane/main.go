// Command qosplane compiles one QoS policy (classes of service and the flows
// that map into them) into NIC hardware queues, switch policy maps over gNMI,
// and a software pacer where no hardware exists.
//
// Exit status: 0 success, 1 invalid input or a failed operation, 2 usage.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	vethlab.RoleMain() // qosplane verify re-executes this binary as the lab's pacer
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) int
}

// cli carries the process's outputs to subcommands; tests use buffers.
type cli struct {
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"validate", "validate FILE: check a policy and report every problem", runValidate},
		{"plan", "plan FILE [--target T] [--caps PROFILE|FILE] [-o text|json|json-ietf]: show what goes to hardware and what falls back", runPlan},
		{"apply", "apply POLICY: bring every target to its plan once (pacer targets are served until interrupted)", runApply},
		{"remove", "remove POLICY: remove what qosplane installed on every target", runRemove},
		{"agent", "agent POLICY: keep every target at its policy (reload on change and SIGHUP, drift repair, status API)", runAgent},
		{"controller", "controller [--kubeconfig F] [--namespace NS] [--lease-name N] [--identity ID] [--lease-duration D] [--renew-deadline D] [--retry-period D] [--parallelism N] [--switch-timeout D]: fleet controller (policy status, switches; leader-elected)", runController},
		{"verify", "verify POLICY [--target T] [--expect FILE] [--duration D] [--junit FILE] [--report FILE.html]: run the policy on the software pacer in a veth lab and check it does what it says (root)", runVerify},
		{"status", "status [--watch] [-o text|json]: what the agent runs where, with counters", runStatus},
		{"profiles", "profiles: list the built-in capability profiles", runProfiles},
		{"version", "version: print the version", runVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] {
			return cmd.run(ctx, c, args[1:])
		}
	}
	fmt.Fprintf(stderr, "qosplane: unknown command %q\n\n", args[0])
	c.usage(stderr)
	return exitUsage
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: qosplane COMMAND [ARGS]\n\ncommands:\n")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %s\n", cmd.summary)
	}
}

func (c *cli) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "qosplane: "+format+"\n", args...)
}

func runVersion(_ context.Context, c *cli, args []string) int {
	if len(args) != 0 {
		c.errorf("version takes no arguments")
		return exitUsage
	}
	fmt.Fprintf(c.stdout, "qosplane %s\n", version)
	return exitOK
}
