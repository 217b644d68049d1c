package main

import (
	"context"
	"fmt"

	"github.com/qosplane/qosplane/offload"
)

func runProfiles(_ context.Context, c *cli, args []string) int {
	if len(args) != 0 {
		c.errorf("profiles takes no arguments")
		return exitUsage
	}
	for _, name := range offload.Profiles() {
		p, err := offload.LoadProfile(name)
		if err != nil {
			c.errorf("%v", err)
			return exitInvalid
		}
		fmt.Fprintf(c.stdout, "%-18s %-8s %s\n", name, p.Kind, p.Description)
	}
	return exitOK
}
