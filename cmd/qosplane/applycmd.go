package main

import (
	"context"
	"fmt"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
)

func runApply(ctx context.Context, c *cli, args []string) int {
	f := newAgentFlags("apply")
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 1 {
		if err != nil {
			c.errorf("%v", err)
		}
		c.errorf("usage: qosplane apply POLICY [--caps PROFILE] [--socket S] [--target-timeout D]")
		return exitUsage
	}
	cfg, err := f.config(c, pos[0])
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	a, err := agent.New(cfg)
	if err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	st, serve, err := a.ApplyOnce(ctx)
	writeStatus(c.stdout, &st, false)
	if err != nil {
		c.errorf("%v", err)
	}
	if serve != nil {
		fmt.Fprintf(c.stdout, "\nsome targets run on the software pacer in this process: serving them until interrupted\n"+
			"(run `qosplane agent %s` to keep them at their policy for good)\n", pos[0])
		serve(ctx)
	}
	if err != nil {
		return exitInvalid
	}
	return exitOK
}

func runRemove(ctx context.Context, c *cli, args []string) int {
	f := newAgentFlags("remove")
	pos, err := parseInterspersed(f.fs, args)
	if err != nil || len(pos) != 1 {
		if err != nil {
			c.errorf("%v", err)
		}
		c.errorf("usage: qosplane remove POLICY")
		return exitUsage
	}
	cfg, err := f.config(c, pos[0])
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	a, err := agent.New(cfg)
	if err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	if err := a.RemoveAll(ctx); err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	fmt.Fprintf(c.stdout, "removed what qosplane installed for %s\n", pos[0])
	return exitOK
}
