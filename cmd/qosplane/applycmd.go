package main

import (
	"context"
	"fmt"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
)

// oneShot parses the command line of apply or remove and builds the agent
// that carries it out; code is non-zero when it cannot.
func oneShot(c *cli, name, usage string, args []string) (a *agent.Agent, policy string, code int) {
	f := newAgentFlags(name)
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 1 {
		if err != nil {
			c.errorf("%v", err)
		}
		c.errorf("usage: %s", usage)
		return nil, "", exitUsage
	}
	cfg, err := f.config(c, pos[0])
	if err != nil {
		c.errorf("%v", err)
		return nil, "", exitUsage
	}
	if a, err = agent.New(cfg); err != nil {
		c.errorf("%v", err)
		return nil, "", exitInvalid
	}
	return a, pos[0], exitOK
}

func runApply(ctx context.Context, c *cli, args []string) int {
	a, policy, code := oneShot(c, "apply", "qosplane apply POLICY [--caps PROFILE] [--socket S] [--target-timeout D]", args)
	if a == nil {
		return code
	}
	st, serve, err := a.ApplyOnce(ctx)
	writeStatus(c.stdout, &st, false)
	if err != nil {
		c.errorf("%v", err)
	}
	if serve != nil {
		fmt.Fprintf(c.stdout, "\nsome targets run on the software pacer in this process: serving them until interrupted\n"+
			"(run `qosplane agent %s` to keep them at their policy for good)\n", policy)
		serve(ctx)
	}
	if err != nil {
		return exitInvalid
	}
	return exitOK
}

func runRemove(ctx context.Context, c *cli, args []string) int {
	a, policy, code := oneShot(c, "remove", "qosplane remove POLICY [--caps PROFILE] [--target-timeout D]", args)
	if a == nil {
		return code
	}
	if err := a.RemoveAll(ctx); err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	fmt.Fprintf(c.stdout, "removed what qosplane installed for %s\n", policy)
	return exitOK
}
