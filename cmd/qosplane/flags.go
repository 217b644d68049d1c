package main

import (
	"flag"
	"io"
)

// parseInterspersed parses flags that may come before or after positional
// arguments ("plan FILE -o json" as well as "plan -o json FILE").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
