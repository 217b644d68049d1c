package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/model"
)

func runStatus(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	socket := fs.String("socket", defaultSocket, "unix socket of the agent's status API")
	watch := fs.Bool("watch", false, "refresh the table until interrupted")
	every := fs.Duration("interval", time.Second, "refresh interval with --watch")
	out := fs.String("o", "text", "output: text or json")
	rules := fs.Bool("rules", false, "also list every rule")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 0 || *out != "text" && *out != "json" {
		c.errorf("usage: qosplane status [--socket S] [--watch] [-o text|json] [--rules]")
		return exitUsage
	}
	for {
		st, err := agent.FetchStatus(ctx, *socket)
		if err != nil && *watch && ctx.Err() != nil {
			return exitOK // interrupted while fetching: the watch's normal end
		}
		if err != nil {
			c.errorf("no agent answers on %s: %v", *socket, err)
			return exitInvalid
		}
		if *watch {
			fmt.Fprint(c.stdout, "\033[H\033[2J")
		}
		if *out == "json" {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(st)
		} else {
			writeStatus(c.stdout, st, *rules)
		}
		if !*watch {
			return exitOK
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(*every):
		}
	}
}

// writeStatus prints the status as tables for people.
func writeStatus(w io.Writer, st *agent.Status, rules bool) {
	fmt.Fprintf(w, "policy %s (%s)", st.Policy, st.PolicyPath)
	if !st.LoadedAt.IsZero() {
		fmt.Fprintf(w, " loaded %s", st.LoadedAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if st.PolicyError != "" {
		fmt.Fprintf(w, "REFUSED NEW POLICY (targets keep the running one):\n  %s\n", strings.ReplaceAll(st.PolicyError, "\n", "\n  "))
	}
	for _, t := range st.Targets {
		state := "ok"
		switch {
		case t.LastError != "":
			state = "FAILING (" + t.LastError + ")"
		case t.LastSuccess.IsZero():
			state = "pending"
		}
		profile := t.Profile
		if profile == "" {
			profile = "not probed yet"
		}
		fmt.Fprintf(w, "\ntarget %s (%s, profile %s): %s\n", t.Name, t.Kind, profile, state)
		if t.Pacer != "" {
			fmt.Fprintf(w, "  software pacer: %s\n", t.Pacer)
			if t.FailSafe != "" {
				fmt.Fprintf(w, "  on failure: %s\n", t.FailSafe)
			}
		}
		fmt.Fprintf(w, "  placement: %d hardware, %d software, %d pacer, %d unsupported; last reconcile %s, %d ops\n",
			t.Hardware, t.Software, t.PacerCount, t.Unsupported, t.LastAttempt.Format(time.TimeOnly), t.LastOps)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  CLASS\tWHERE\tCONFIGURED\tACHIEVED\tPACKETS\tBYTES\tDROPS\tNON-CONF BYTES\tMARK\n")
		for _, cl := range t.Classes {
			cc := cl.Counters
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\tdscp %d pcp %d\n", cl.Name, cl.Placement,
				rateText(cl.Configured), rateText(cl.Achieved), cc.Packets, cc.Bytes, cc.Drops, cc.NonConformingBytes, cl.Mark.DSCP, cl.Mark.PCP)
		}
		tw.Flush()
		if rules {
			tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "  RULE\tWHERE\tPACKETS\tHW PACKETS\tREASON\n")
			for _, r := range t.Rules {
				fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", r.ID, r.Placement, r.Counters.Packets, r.Counters.HardwarePackets, r.Reason)
			}
			tw.Flush()
		}
		if len(t.Sockets) > 0 {
			flows := slices.Sorted(maps.Keys(t.Sockets))
			tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "  CGROUP FLOW\tSOCKETS CLASSIFIED\n")
			for _, f := range flows {
				fmt.Fprintf(tw, "  %s\t%d\n", f, t.Sockets[f])
			}
			tw.Flush()
		}
		if sl := t.SlowLink; sl != nil {
			fmt.Fprintf(w, "  slow link: %d SYNs MSS-clamped, %d datagrams cut into %d fragments, %d DF frames left whole, %d GSO frames split into %d segments, %d dropped (no room to cut)\n",
				sl.MSSClamped, sl.Fragmented, sl.Fragments, sl.DFWhole, sl.GSOSplit, sl.Segments, sl.FragDropped)
		}
		for _, n := range t.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
}

func rateText(r model.Rate) string {
	if r == 0 {
		return "-"
	}
	return r.Approx()
}
