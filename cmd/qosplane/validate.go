package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/qosplane/qosplane/model"
)

func runValidate(_ context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		c.errorf("usage: qosplane validate FILE")
		return exitUsage
	}
	p, err := model.LoadFile(pos[0])
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitInvalid
	}
	fmt.Fprintf(c.stdout, "%s: policy %q is valid: %d classes, %d flows, %d targets\n",
		pos[0], p.Name, len(p.Classes), len(p.Flows), len(p.Targets))
	return exitOK
}
