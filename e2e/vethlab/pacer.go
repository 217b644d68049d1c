package vethlab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qosplane/qosplane/fallback"
	"github.com/qosplane/qosplane/fallback/datapath"
	"github.com/qosplane/qosplane/offload"
)

// Environment of the pacer role (a re-executed test binary or command).
const (
	envRole  = "QOSPLANE_LAB_ROLE"
	envNetns = "QOSPLANE_LAB_NETNS"
	envPlan  = "QOSPLANE_LAB_PLAN" // plan JSON file; empty: unshaped
	envCfg   = "QOSPLANE_LAB_CONFIG"
)

// PacerReport is what the pacer process prints when it stops.
type PacerReport struct {
	Shaped, Reverse datapath.DirSnapshot
	Counters        *offload.Counters `json:",omitempty"`
	Stats           *fallback.Stats   `json:",omitempty"`
	// FastPath says the datapath's in-kernel fast path was attached.
	FastPath bool
	// CPU is user+system CPU time the process used, in ns.
	CPU int64
	Err string `json:",omitempty"`
}

// PacerConfig is the part of fallback.Config the lab passes to the pacer
// process.
type PacerConfig struct {
	MaxDelay      time.Duration
	PassUnmatched bool
	// NoQuantum makes the shaping loop sleep exactly until each release
	// time instead of datapath.WakeQuantum(plan).
	NoQuantum bool
	// NoRawWait turns off datapath.Options.RawWait (on by default in the
	// lab's pacer process, which does nothing but forward).
	NoRawWait bool
	// Realtime runs the shaping thread SCHED_FIFO (priority 10), see
	// datapath.Options.RealtimePriority.
	Realtime bool
	// Batch is datapath.Options.Batch (frames per recvmmsg/sendmmsg); 0
	// takes the datapath's default.
	Batch int
	// NoFastPath turns off the in-kernel fast path (datapath.Options.
	// FastPath and fallback.Config.FastPath, on by default in the lab as
	// in the pacer driver's bridge mode).
	NoFastPath bool
	// NoCoalesce makes the pacer wake for every arrival
	// (datapath.Options.NoCoalesce).
	NoCoalesce bool
	// NoSlowLink serves whole frames where the plan asks for a slow-link
	// treatment (fallback.Config.NoSlowLink).
	NoSlowLink bool
}

// PacerProc is a pacer process running in the lab's pacer namespace, a bump
// between PacerIn and PacerOut.
type PacerProc struct {
	proc     *Child
	planFile string
	dir      string
	out      *bufio.Reader
	done     chan struct{}
	report   *PacerReport
	err      error
}

// StartPacer re-executes the current binary (which must call RoleMain
// first thing, e.g. from TestMain) as the pacer in the pacer namespace with
// plan tp (nil: forward unshaped). It returns once the sockets are open.
func (l *Lab) StartPacer(ctx context.Context, tp *offload.TargetPlan, cfg PacerConfig) (*PacerProc, error) {
	dir, err := os.MkdirTemp("", "qosplane-lab-")
	if err != nil {
		return nil, err
	}
	p := &PacerProc{dir: dir, done: make(chan struct{})}
	env := append(os.Environ(), envRole+"=pacer", envNetns+"="+l.Pacer.Name)
	if tp != nil {
		p.planFile = filepath.Join(dir, "plan.json")
		if err := writeJSON(p.planFile, tp); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		env = append(env, envPlan+"="+p.planFile)
	}
	cb, _ := json.Marshal(cfg)
	env = append(env, envCfg+"="+string(cb))
	exe, err := os.Executable()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	// A pipe of our own, not StdoutPipe: the child's Wait runs as soon as
	// it exits and must not close the pipe before its report is read.
	stdout, w, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd.Stdout = w
	// The pacer dies with the process that started it (a killed test run
	// leaves no forwarder behind); SIGTERM lets it print its report.
	p.proc, err = startChild(cmd, syscall.SIGTERM)
	w.Close()
	if err != nil {
		stdout.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pacer process: %w", err)
	}
	p.out = bufio.NewReader(stdout)
	ready := make(chan error, 1)
	go func() {
		line, err := p.out.ReadString('\n')
		if err != nil {
			ready <- fmt.Errorf("pacer process exited before ready: %w", err)
		} else if strings.TrimSpace(line) != "ready" {
			ready <- fmt.Errorf("pacer process: %s", strings.TrimSpace(line))
		} else {
			ready <- nil
		}
		rest, _ := p.out.ReadString('\n')
		var rep PacerReport
		if err := json.Unmarshal([]byte(rest), &rep); err == nil {
			p.report = &rep
		}
		stdout.Close()
		p.err = p.proc.Wait()
		close(p.done)
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("pacer process: not ready after 10s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Pid is the pacer process id.
func (p *PacerProc) Pid() int { return p.proc.Pid() }

// CPU returns the CPU time (user+system, ns) the process used so far.
func (p *PacerProc) CPU() (int64, error) { return procCPU(p.proc.Pid()) }

// Swap makes the running pacer take plan tp without closing its sockets.
func (p *PacerProc) Swap(tp *offload.TargetPlan) error {
	if p.planFile == "" {
		return errors.New("swap: the pacer was started without a plan")
	}
	if err := writeJSON(p.planFile+".new", tp); err != nil {
		return err
	}
	if err := os.Rename(p.planFile+".new", p.planFile); err != nil {
		return err
	}
	return p.proc.Signal(syscall.SIGHUP)
}

// Stop ends the process and returns its final report. Safe to call twice.
func (p *PacerProc) Stop() (*PacerReport, error) {
	select {
	case <-p.done:
	default:
		_ = p.proc.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.proc.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	os.RemoveAll(p.dir)
	if p.report == nil {
		return nil, fmt.Errorf("pacer process: no report (exit: %v)", p.err)
	}
	if p.report.Err != "" {
		return p.report, fmt.Errorf("pacer process: %s", p.report.Err)
	}
	return p.report, nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func readPlan(path string) (*offload.TargetPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tp offload.TargetPlan
	if err := json.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	return &tp, nil
}

// selfCPU is the process's whole CPU time (ended threads included), in ns.
func selfCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// RoleMain runs the lab role named in the environment, if any, and exits
// the process; it returns when the process has no role. Call it first in
// TestMain (or main) of a binary that starts lab processes.
func RoleMain() {
	switch os.Getenv(envRole) {
	case "":
		return
	case "pacer":
		rep := runPacer()
		if rep.Err != "" {
			fmt.Fprintln(os.Stderr, "pacer:", rep.Err)
		}
		b, _ := json.Marshal(rep)
		fmt.Println(string(b))
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown lab role", os.Getenv(envRole))
		os.Exit(2)
	}
}

func runPacer() (rep PacerReport) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var cfg PacerConfig
	if err := json.Unmarshal([]byte(os.Getenv(envCfg)), &cfg); err != nil {
		fmt.Println("bad config:", err)
		rep.Err = err.Error()
		return rep
	}
	var quantum time.Duration
	newPacer := func() (*fallback.Pacer, error) {
		path := os.Getenv(envPlan)
		if path == "" {
			return nil, nil
		}
		tp, err := readPlan(path)
		if err != nil {
			return nil, err
		}
		if !cfg.NoQuantum {
			quantum = datapath.WakeQuantum(tp)
		}
		return fallback.New(tp, fallback.Config{MaxDelay: cfg.MaxDelay, PassUnmatched: cfg.PassUnmatched, FastPath: !cfg.NoFastPath, NoSlowLink: cfg.NoSlowLink})
	}
	pc, err := newPacer()
	if err != nil {
		fmt.Println("pacer:", err)
		rep.Err = err.Error()
		return rep
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	ns := &Netns{Name: os.Getenv(envNetns)}
	var b *datapath.Bump
	err = ns.Do(func() (err error) {
		b, err = datapath.Start(datapath.Options{In: PacerIn, Out: PacerOut, Reverse: true, Batch: cfg.Batch, WakeQuantum: quantum, RawWait: !cfg.NoRawWait, RealtimePriority: rtPrio(cfg.Realtime), FastPath: !cfg.NoFastPath, NoCoalesce: cfg.NoCoalesce, Log: log}, pc)
		return err
	})
	if err != nil {
		fmt.Println("datapath:", err)
		rep.Err = err.Error()
		return rep
	}
	fmt.Println("ready")
	for s := range sigs {
		if s != syscall.SIGHUP {
			break
		}
		np, err := newPacer()
		if err == nil {
			err = b.Swap(np)
			b.SetWakeQuantum(quantum)
		}
		if err != nil {
			log.Error("swap", "err", err)
		}
	}
	if err := b.Stop(); err != nil {
		rep.Err = err.Error()
	}
	rep.FastPath = b.FastPath()
	rep.Shaped, rep.Reverse = b.Stats()
	if p := b.Pacer(); p != nil {
		rep.Counters = p.Counters()
		st := p.Stats()
		rep.Stats = &st
	}
	rep.CPU = selfCPU()
	return rep
}

func rtPrio(on bool) int {
	if on {
		return 10
	}
	return 0
}

// procCPU returns utime+stime of pid from /proc/<pid>/stat, in ns: tick
// sampled but scaled by the kernel to the scheduler's exact run time of the
// whole thread group. (Summing /proc/<pid>/task/*/schedstat was tried and
// under-counted the pacer's threads by an order of magnitude here.)
func procCPU(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ
	return (ut + st) * (1e9 / clkTck), nil
}
