// Command demo is qosplane's first run (make demo): it builds the veth lab
// (three network namespaces: app, pacer, peer), starts `qosplane agent` on
// the lab policy inside the pacer namespace, where no NIC offloads anything
// and the software pacer takes over, drives UDP traffic of three classes
// through it, and prints per class the configured and achieved rate and the
// DSCP and PCP seen at the receiver. It tears the lab down on every path.
//
// It needs root; without it, it says what it needs and exits non-zero.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
)

func main() {
	vethlab.RoleMain() // the lab re-executes this binary for its helpers
	os.Exit(run())
}

// offered is how much each class is sent, against the lab policy: above its
// rate, so that shape, borrow and discard all show.
var offered = map[string]struct {
	port uint16
	rate uint64 // bit/s on L2
}{
	"voice": {5004, 30e6},
	"video": {5006, 70e6},
	"bulk":  {5008, 60e6},
}

func run() int {
	bin := flag.String("qosplane", "bin/qosplane", "the qosplane binary")
	policy := flag.String("policy", "examples/lab.yaml", "the lab policy")
	dur := flag.Duration("duration", 4*time.Second, "how long to send")
	flag.Parse()
	if reason := vethlab.CheckRoot(); reason != "" {
		fmt.Fprintf(os.Stderr, "make demo needs root: %s.\n"+
			"It creates three network namespaces joined by veth pairs, runs the qosplane agent with its\n"+
			"software pacer between them and sends traffic through it; run it as root (e.g. sudo make demo).\n", reason)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, *bin, *policy, *dur); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, bin, policyPath string, dur time.Duration) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	p, err := model.LoadFile(policyPath)
	if err != nil {
		return err
	}
	fmt.Printf("qosplane demo: policy %s (%d classes) on the veth lab\n", policyPath, len(p.Classes))
	lab, err := vethlab.New(ctx, vethlab.Bridge)
	if err != nil {
		return fmt.Errorf("veth lab: %w", err)
	}
	defer func() {
		lab.Close()
		fmt.Println("lab torn down")
	}()
	fmt.Printf("lab: %s (%s) -> %s [pacer: %s, %s] -> %s (%s)\n",
		lab.App.Name, lab.AppIP, vethlab.PacerIn, lab.Pacer.Name, vethlab.PacerOut, lab.Peer.Name, lab.PeerIP)

	tmp, err := os.MkdirTemp("", "qosplane-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sock := filepath.Join(tmp, "qosplane.sock")
	logPath := filepath.Join(tmp, "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Not lab.Pacer.Command: its parent-death signal fires when the OS
	// thread that started the child exits, and the lab's sender locks and
	// retires threads. The deferred stop below ends the agent instead.
	agent := exec.Command("ip", "netns", "exec", lab.Pacer.Name, bin, "agent", policyPath, "--socket", sock, "--log-format", "text")
	agent.Stdout, agent.Stderr = logFile, logFile
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Wait() }()
	stopped := false
	stopAgent := func() error {
		if stopped {
			return nil
		}
		stopped = true
		select {
		case err := <-agentDone:
			return fmt.Errorf("the agent exited before it was stopped: %v", err)
		default:
		}
		_ = agent.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-agentDone:
			return err
		case <-time.After(15 * time.Second):
			_ = agent.Process.Kill()
			return errors.New("the agent did not stop on SIGTERM")
		}
	}
	defer stopAgent()
	fmt.Printf("agent: qosplane agent %s in namespace %s (status on %s)\n", policyPath, lab.Pacer.Name, sock)
	if err := waitReady(ctx, bin, sock, agentDone, logPath); err != nil {
		return err
	}

	var flows []vethlab.Flow
	var names []string
	for name := range offered {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		o := offered[name]
		flows = append(flows, vethlab.Flow{Name: name, DstPort: o.port, Rate: o.rate, Size: 1000})
	}
	rx, err := lab.StartReceiver(nil)
	if err != nil {
		return err
	}
	fmt.Printf("sending %v of UDP: voice 30 Mbit/s, video 70 Mbit/s, bulk 60 Mbit/s (1000-byte frames)\n\n", dur)
	sent, _, err := lab.Send(ctx, flows, dur)
	if err != nil {
		rx.Stop()
		return fmt.Errorf("send: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // let shaped queues drain
	got, _, err := rx.Stop()
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	report(os.Stdout, p, flows, sent, got, dur)
	if err := check(p, flows, sent, got, dur); err != nil {
		return err
	}

	fmt.Println()
	out, err := exec.CommandContext(ctx, bin, "status", "--socket", sock).CombinedOutput()
	if err != nil {
		return fmt.Errorf("qosplane status: %v\n%s\n%s", err, out, tail(logPath))
	}
	fmt.Printf("$ qosplane status\n%s", out)
	if err := stopAgent(); err != nil {
		return fmt.Errorf("agent: %w\n%s", err, tail(logPath))
	}
	fmt.Println("\nagent stopped (SIGTERM); the pacer stopped, and its bypass forwards between pa and pb until `qosplane remove`")
	return nil
}

// waitReady waits until the agent reports the lab target reconciled.
func waitReady(ctx context.Context, bin, sock string, agentDone <-chan error, logPath string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, bin, "status", "--socket", sock, "-o", "json").Output()
		if err == nil {
			var st struct {
				Targets []struct {
					Name        string `json:"name"`
					LastError   string `json:"last_error"`
					LastSuccess string `json:"last_success"`
					Pacer       string `json:"pacer"`
				} `json:"targets"`
			}
			if json.Unmarshal(out, &st) == nil && len(st.Targets) > 0 {
				t := st.Targets[0]
				if t.LastError != "" {
					return fmt.Errorf("the agent could not apply the policy: %s\n%s", t.LastError, tail(logPath))
				}
				if !strings.HasPrefix(t.LastSuccess, "0001") {
					fmt.Printf("agent: target %s reconciled; software pacer: %s\n", t.Name, t.Pacer)
					return nil
				}
			}
		}
		select {
		case err := <-agentDone:
			return fmt.Errorf("the agent exited: %v\n%s", err, tail(logPath))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent did not become ready\n%s", tail(logPath))
		}
	}
}

// report prints per class the configured and achieved rates and the marks
// seen at the receiver.
func report(w io.Writer, p *model.Policy, flows []vethlab.Flow, sent []vethlab.SentStats, got map[uint16]*vethlab.FlowResult, dur time.Duration) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tMODE\tCONFIGURED\tPEAK\tOFFERED\tACHIEVED\tLOSS\tDSCP SEEN\tPCP SEEN")
	secs := dur.Seconds()
	for i, f := range flows {
		c, _ := p.ClassByName(f.Name)
		r := got[uint16(i)]
		if r == nil {
			r = &vethlab.FlowResult{}
		}
		offeredRate := model.Rate(float64(sent[i].Bytes) * 8 / secs)
		achieved := model.Rate(float64(r.Bytes) * 8 / secs)
		loss := 0.0
		if sent[i].Packets > 0 {
			loss = 100 * (1 - float64(r.Packets)/float64(sent[i].Packets))
		}
		peak := "-"
		if c.Peak != 0 {
			peak = c.Peak.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%.1f%%\t%s\t%s\n", f.Name, c.NonConforming, c.Rate, peak,
			offeredRate.Approx(), achieved.Approx(), loss, vethlab.Shares(r.DSCP[:], r.Packets, -1), vethlab.Shares(r.PCP[:], r.Packets, 8))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nshape holds a class to its rate by queueing; borrow sends the excess on idle capacity, marked")
	fmt.Fprintln(w, "non-conforming (DSCP 0, PCP 0 by default); discard drops it.")
}

// check fails the demo when a class is far from what its mode predicts:
// shape and discard deliver the class rate, borrow what was offered (the
// port has room), and conforming packets carry the class's DSCP. The
// tolerance is wide (5 %): the demo is a first run, the e2e lab measures.
func check(p *model.Policy, flows []vethlab.Flow, sent []vethlab.SentStats, got map[uint16]*vethlab.FlowResult, dur time.Duration) error {
	var errs []error
	for i, f := range flows {
		c, _ := p.ClassByName(f.Name)
		r := got[uint16(i)]
		if r == nil {
			errs = append(errs, fmt.Errorf("%s: nothing arrived", f.Name))
			continue
		}
		want := float64(c.Rate)
		if c.NonConforming == model.Borrow {
			want = float64(sent[i].Bytes) * 8 / dur.Seconds()
		}
		achieved := float64(r.Bytes) * 8 / dur.Seconds()
		if d := achieved/want - 1; d < -0.05 || d > 0.05 {
			errs = append(errs, fmt.Errorf("%s: achieved %v, expected %v ±5%%", f.Name, model.Rate(achieved).Approx(), model.Rate(want).Approx()))
		}
		if r.DSCP[*c.Mark.DSCP] == 0 {
			errs = append(errs, fmt.Errorf("%s: no packet arrived with the class's DSCP %d", f.Name, *c.Mark.DSCP))
		}
	}
	return errors.Join(errs...)
}

// tail returns the end of the agent's log for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return "agent log:\n" + string(b)
}
