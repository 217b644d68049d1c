package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/qosplane/qosplane/drivers/nic"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func runPlan(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	target := fs.String("target", "", "plan only this target")
	caps := fs.String("caps", "", "capability profile name or file for every planned target")
	out := fs.String("o", "text", "output: text, json or json-ietf")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		if err != nil {
			c.errorf("%v", err)
		}
		c.errorf("usage: qosplane plan FILE [--target T] [--caps PROFILE|FILE] [-o text|json|json-ietf]")
		return exitUsage
	}
	switch *out {
	case "text", "json", "json-ietf":
	default:
		c.errorf("-o %q: use text, json or json-ietf", *out)
		return exitUsage
	}
	p, err := model.LoadFile(pos[0])
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitInvalid
	}
	if *target != "" {
		if err := selectTarget(p, *target); err != nil {
			c.errorf("%v", err)
			return exitInvalid
		}
	}
	plan, err := offload.Compile(p, profileResolver(ctx, *caps, "qosplane-"+p.Name))
	if err != nil {
		c.errorf("%s: %v", pos[0], err)
		return exitInvalid
	}
	switch *out {
	case "json":
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(plan)
	case "json-ietf":
		err = writeJSONIETF(c, plan)
	default:
		err = plan.WriteText(c.stdout)
	}
	if err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	return exitOK
}

// selectTarget keeps only the named target in p.
func selectTarget(p *model.Policy, name string) error {
	var names []string
	for _, t := range p.Targets {
		if t.Name == name {
			p.Targets = []model.Target{t}
			return nil
		}
		names = append(names, t.Name)
	}
	return fmt.Errorf("no target %q in policy %q (targets: %s)", name, p.Name, strings.Join(names, ", "))
}

// profileResolver returns the capabilities for each target: the --caps
// override, else the target's own profile, else what the NIC on this host
// reports (probed read-only), else openconfig-switch for switches.
func profileResolver(ctx context.Context, override, owner string) offload.CapsFunc {
	return func(t *model.Target) (*offload.Capabilities, error) {
		name := override
		if name == "" {
			name = t.Profile
		}
		if name == "" && t.Kind == model.Switch {
			name = "openconfig-switch"
		}
		if name != "" {
			return offload.LoadProfile(name)
		}
		d, err := nic.Open(offload.DeviceOf(t), owner, "", slog.New(slog.DiscardHandler))
		if err == nil {
			defer d.Close()
			var c *offload.Capabilities
			if c, err = d.Probe(ctx); err == nil {
				return c, nil
			}
		}
		return nil, fmt.Errorf("no capability profile and probing %s failed (%v): set profile in the policy or pass --caps (built in: %s)",
			t.Interface, err, strings.Join(offload.Profiles(), ", "))
	}
}
