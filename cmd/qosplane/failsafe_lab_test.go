package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/vethlab"
)

// The fail-safe lab: namespaces joined by veth pairs, the real agent (this
// test binary run as qosplane's main, see TestMain) in one of them, killed
// and stopped while UDP crosses it.
//
//	attach: host (hx 10.99.0.1, the agent attaches to hx) -- peer (px 10.99.0.2)
//	bridge: app (ax 10.99.0.1) -- mid (ma, mb; the agent bridges them) -- peer (px 10.99.0.2)
//
// Two flows go from 10.99.0.1 to 10.99.0.2: the probe (port 7000, 1,000
// frames/s of 64 bytes, a class without a rate) that measures outages from
// the receiver's timestamps, and bulk (port 7001, offered at 4 Mbit/s to a
// 2 Mbit/s class that discards the excess) that shows whether shaping runs.

const (
	envAsMain   = "QOSPLANE_TEST_AS_MAIN"
	probePort   = 7000
	bulkPort    = 7001
	bulkRate    = 2e6 // bit/s, the bulk class
	bulkOffered = 4e6 // bit/s
	probeEvery  = time.Millisecond
)

// TestMain runs the binary as qosplane itself when envAsMain is set: the
// fail-safe tests start the real agent as a process they can kill.
func TestMain(m *testing.M) {
	if os.Getenv(envAsMain) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// failLab is one instance of the topology.
type failLab struct {
	t          *testing.T
	mode       string // attach, bridge
	onFailure  string // bridge: bypass or block
	ip         string // iproute2's ip
	src, dst   string // namespaces of the sender and the receiver
	agentNS    string // where the agent runs
	iface      string // the target's interface in agentNS
	dir        string
	policy     string
	sock       string
	agent      *exec.Cmd
	agentLog   *os.File
	agentWait  chan error
	sendProbe  *net.UDPConn
	sendBulk   *net.UDPConn
	mu         sync.Mutex
	arrivals   []arrival // probe
	bulkBytes  []bulkArrival
	stopRecv   chan struct{}
	recvDone   chan struct{}
	agentCount int
}

type arrival struct {
	seq uint64
	at  time.Time
}

type bulkArrival struct {
	at    time.Time
	bytes int
}

func ipPath() string {
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// newFailLab builds the namespaces for mode ("attach" or "bridge") and
// writes the policy. Everything is deleted on cleanup.
func newFailLab(t *testing.T, mode, onFailure string) *failLab {
	t.Helper()
	labtest.Need(t, os.Geteuid() == 0, "root (network namespaces, BPF)")
	labtest.Need(t, ipPath() != "", "iproute2's ip")
	l := &failLab{t: t, mode: mode, onFailure: onFailure, ip: ipPath(), dir: t.TempDir()}
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	ns := func(role string) string { return "qpf" + role + tag }
	run := func(args ...string) { labtest.Run(t, l.ip, args...) }
	in := func(n string, args ...string) { run(append([]string{"-n", n}, args...)...) }
	peer := ns("p")
	l.dst = peer
	switch mode {
	case "attach":
		host := ns("h")
		l.src, l.agentNS, l.iface = host, host, "hx"
		l.addNS(host, peer)
		run("link", "add", "hx", "netns", host, "type", "veth", "peer", "name", "px", "netns", peer)
		l.addr(host, "hx", "10.99.0.1/24")
		l.addr(peer, "px", "10.99.0.2/24")
	case "bridge":
		app, mid := ns("a"), ns("m")
		l.src, l.agentNS, l.iface = app, mid, "ma"
		l.addNS(app, mid, peer)
		run("link", "add", "ax", "netns", app, "type", "veth", "peer", "name", "ma", "netns", mid)
		run("link", "add", "mb", "netns", mid, "type", "veth", "peer", "name", "px", "netns", peer)
		l.addr(app, "ax", "10.99.0.1/24")
		l.addr(peer, "px", "10.99.0.2/24")
		for _, d := range []string{"ma", "mb"} {
			in(mid, "link", "set", "dev", d, "up")
		}
	default:
		t.Fatalf("mode %q", mode)
	}
	// Static neighbours: no ARP to lose while the path is down.
	srcIf, dstIf := "hx", "px"
	if mode == "bridge" {
		srcIf = "ax"
	}
	in(l.src, "neigh", "replace", "10.99.0.2", "lladdr", l.mac(l.dst, dstIf), "dev", srcIf, "nud", "permanent")
	in(l.dst, "neigh", "replace", "10.99.0.1", "lladdr", l.mac(l.src, srcIf), "dev", dstIf, "nud", "permanent")
	fb := "{mode: attach}"
	if mode == "bridge" {
		fb = fmt.Sprintf("{mode: bridge, peer: mb, on-failure: %s}", onFailure)
	}
	l.policy = filepath.Join(l.dir, "policy.yaml")
	if err := os.WriteFile(l.policy, []byte(fmt.Sprintf(`name: failsafe
classes:
  - {name: bulk, service: best-effort, rate: 2Mbit, non-conforming: discard}
  - {name: probe, service: guaranteed, rate: 5Mbit}
flows:
  - {name: bulk, class: bulk, match: {protocol: udp, dst-port: %d}}
  - {name: probe, class: probe, match: {protocol: udp, dst-port: %d}}
targets:
  - {name: t, kind: nic, interface: %s, profile: none, fallback: %s}
`, bulkPort, probePort, l.iface, fb)), 0o644); err != nil {
		t.Fatal(err)
	}
	l.sock = filepath.Join(l.dir, "agent.sock")
	l.openSockets()
	return l
}

func (l *failLab) addNS(names ...string) {
	for _, n := range names {
		labtest.Run(l.t, l.ip, "netns", "add", n)
		l.t.Cleanup(func() { _ = exec.Command(l.ip, "netns", "del", n).Run() })
		labtest.Run(l.t, l.ip, "-n", n, "link", "set", "dev", "lo", "up")
	}
}

func (l *failLab) addr(ns, dev, cidr string) {
	labtest.Run(l.t, l.ip, "-n", ns, "addr", "add", cidr, "dev", dev)
	labtest.Run(l.t, l.ip, "-n", ns, "link", "set", "dev", dev, "up")
}

func (l *failLab) mac(ns, dev string) string {
	var mac string
	l.inNS(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr.String()
		return nil
	})
	return mac
}

// inNS runs f on a thread in namespace ns (sockets it opens stay there).
func (l *failLab) inNS(ns string, f func() error) {
	l.t.Helper()
	if err := (&vethlab.Netns{Name: ns}).Do(f); err != nil {
		l.t.Fatalf("netns %s: %v", ns, err)
	}
}

// openSockets opens the receivers (in dst) and the two senders (in src)
// and starts receiving.
func (l *failLab) openSockets() {
	var probe, bulk *net.UDPConn
	l.inNS(l.dst, func() (err error) {
		if probe, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: probePort}); err != nil {
			return err
		}
		bulk, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: bulkPort})
		return err
	})
	l.inNS(l.src, func() (err error) {
		if l.sendProbe, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: probePort}); err != nil {
			return err
		}
		l.sendBulk, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: bulkPort})
		return err
	})
	l.stopRecv, l.recvDone = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, err := probe.Read(buf)
			if err != nil {
				return
			}
			if n >= 8 {
				l.mu.Lock()
				l.arrivals = append(l.arrivals, arrival{seq: binary.BigEndian.Uint64(buf), at: time.Now()})
				l.mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, err := bulk.Read(buf)
			if err != nil {
				return
			}
			l.mu.Lock()
			l.bulkBytes = append(l.bulkBytes, bulkArrival{at: time.Now(), bytes: n + 28 + 14})
			l.mu.Unlock()
		}
	}()
	go func() {
		<-l.stopRecv
		probe.Close()
		bulk.Close()
		wg.Wait()
		close(l.recvDone)
	}()
	l.t.Cleanup(func() {
		close(l.stopRecv)
		<-l.recvDone
		l.sendProbe.Close()
		l.sendBulk.Close()
	})
}

// startAgent starts `qosplane agent` in the agent's namespace and waits
// until its status shows the target reconciled on the pacer.
func (l *failLab) startAgent(ctx context.Context) {
	l.t.Helper()
	l.agentCount++
	logf, err := os.Create(filepath.Join(l.dir, fmt.Sprintf("agent-%d.log", l.agentCount)))
	if err != nil {
		l.t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command(l.ip, "netns", "exec", l.agentNS, exe, "agent", l.policy, "--socket", l.sock, "--log-format", "text")
	cmd.Env = append(os.Environ(), envAsMain+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.agent, l.agentLog, l.agentWait = cmd, logf, make(chan error, 1)
	go func() { l.agentWait <- cmd.Wait() }()
	l.t.Cleanup(func() {
		if l.agent == cmd {
			_ = cmd.Process.Kill()
			<-l.agentWait
			l.agent = nil
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := agent.FetchStatus(ctx, l.sock)
		if err == nil && len(st.Targets) == 1 && !st.Targets[0].LastSuccess.IsZero() && st.Targets[0].FailSafe != "" {
			l.t.Logf("agent %d ready: %s", l.agentCount, st.Targets[0].FailSafe)
			return
		}
		select {
		case err := <-l.agentWait:
			l.agent = nil
			l.t.Fatalf("agent exited before it was ready: %v\n%s", err, l.log())
		default:
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("agent not ready after 30 s (status %+v, %v)\n%s", st, err, l.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signalAgent sends sig; SIGKILL and SIGTERM also wait for the exit.
func (l *failLab) signalAgent(sig syscall.Signal) time.Time {
	l.t.Helper()
	// `ip netns exec` execs the binary: the pid is the agent's.
	at := time.Now()
	if err := l.agent.Process.Signal(sig); err != nil {
		l.t.Fatal(err)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		select {
		case <-l.agentWait:
		case <-time.After(20 * time.Second):
			l.t.Fatalf("agent did not exit on %v", sig)
		}
		l.agent = nil
	}
	return at
}

func (l *failLab) log() string {
	b, _ := os.ReadFile(l.agentLog.Name())
	return string(b)
}

// send offers the probe and the bulk flow for d.
func (l *failLab) send(d time.Duration) {
	payload := make([]byte, 64-28-14)
	bulkFrame := make([]byte, 1000-28-14)
	bulkEvery := time.Duration(float64(time.Second) * 1000 * 8 / bulkOffered)
	start := time.Now()
	nextProbe, nextBulk := start, start
	var seq uint64
	for {
		now := time.Now()
		if now.Sub(start) >= d {
			return
		}
		if !now.Before(nextProbe) {
			seq++
			binary.BigEndian.PutUint64(payload, seq)
			_, _ = l.sendProbe.Write(payload)
			nextProbe = nextProbe.Add(probeEvery)
		}
		if !now.Before(nextBulk) {
			_, _ = l.sendBulk.Write(bulkFrame)
			nextBulk = nextBulk.Add(bulkEvery)
		}
		time.Sleep(min(time.Until(nextProbe), time.Until(nextBulk)))
	}
}

// sendAround sends for before+after, calling at(), and returns when at ran.
func (l *failLab) sendAround(before, after time.Duration, at func() time.Time) time.Time {
	done := make(chan struct{})
	go func() {
		l.send(before + after)
		close(done)
	}()
	time.Sleep(before)
	t := at()
	<-done
	time.Sleep(100 * time.Millisecond) // the last frames arrive
	return t
}

// outage is the longest gap between probe arrivals in [from, to], the
// edges included (a path that never came back spans to `to`).
func (l *failLab) outage(from, to time.Time) (gap time.Duration, received int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := from
	for _, a := range l.arrivals {
		if a.at.Before(from) || a.at.After(to) {
			continue
		}
		received++
		gap = max(gap, a.at.Sub(last))
		last = a.at
	}
	return max(gap, to.Sub(last)), received
}

// bulkRateIn is the bulk flow's received rate in [from, to], bit/s.
func (l *failLab) bulkRateIn(from, to time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b int
	for _, a := range l.bulkBytes {
		if !a.at.Before(from) && a.at.Before(to) {
			b += a.bytes
		}
	}
	return float64(b) * 8 / to.Sub(from).Seconds()
}

// measureBulk sends for 1.6 s and returns the bulk rate over the last 1 s.
func (l *failLab) measureBulk() float64 {
	start := time.Now()
	l.send(1600 * time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	return l.bulkRateIn(start.Add(550*time.Millisecond), start.Add(1550*time.Millisecond))
}

// wantShaped fails unless bulk arrives at its class rate (±25 %), and
// wantUnshaped unless it arrives well above it. In the kernel lab's VM,
// which emulates its CPU (TCG), a userspace pacer wakes too late to keep
// the rate: there shaped only means held under the rate's 1.25 times and
// above a quarter of it (the host runs these tests for the rate itself).
func (l *failLab) wantShaped(what string) {
	l.t.Helper()
	r := l.measureBulk()
	l.t.Logf("%s: bulk at %.2f Mbit/s (class %.0f, offered %.0f)", what, r/1e6, bulkRate/1e6, bulkOffered/1e6)
	low := 0.75
	if labtest.InLab() {
		low = 0.25
	}
	if r < low*bulkRate || r > 1.25*bulkRate {
		l.t.Errorf("%s: bulk at %.2f Mbit/s, want its class rate %.0f Mbit/s: not shaped", what, r/1e6, bulkRate/1e6)
	}
}

func (l *failLab) wantUnshaped(what string) {
	l.t.Helper()
	r := l.measureBulk()
	l.t.Logf("%s: bulk at %.2f Mbit/s (class %.0f, offered %.0f)", what, r/1e6, bulkRate/1e6, bulkOffered/1e6)
	if r < 0.8*bulkOffered {
		l.t.Errorf("%s: bulk at %.2f Mbit/s, want it unshaped near %.0f Mbit/s", what, r/1e6, bulkOffered/1e6)
	}
}

// wantReach fails unless probes sent now arrive.
func (l *failLab) wantReach(what string) {
	l.t.Helper()
	start := time.Now()
	l.send(300 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if _, n := l.outage(start, time.Now()); n < 100 {
		l.t.Errorf("%s: %d of ~300 probes arrived: the host does not reach its peer", what, n)
	}
}

// wantNothingLeft fails if anything of qosplane's stays on the lab's
// interfaces: a qpr/qpp veth, a tc filter or clsact qdisc, a tcx program.
func (l *failLab) wantNothingLeft(what string) {
	l.t.Helper()
	links := labtest.Run(l.t, l.ip, "-n", l.agentNS, "-o", "link", "show")
	if strings.Contains(links, "qpr") || strings.Contains(links, "qpp") {
		l.t.Errorf("%s: the redirect veth is left:\n%s", what, links)
	}
	devs := []string{l.iface}
	if l.mode == "bridge" {
		devs = append(devs, "mb")
	}
	for _, dev := range devs {
		q := labtest.Run(l.t, labtest.TCPath(), "-n", l.agentNS, "qdisc", "show", "dev", dev)
		if strings.Contains(q, "clsact") {
			l.t.Errorf("%s: clsact left on %s:\n%s", what, dev, q)
		}
		for _, hook := range []string{"ingress", "egress"} {
			if f := labtest.Run(l.t, labtest.TCPath(), "-n", l.agentNS, "filter", "show", "dev", dev, hook); strings.TrimSpace(f) != "" {
				l.t.Errorf("%s: %s filter left on %s:\n%s", what, hook, dev, f)
			}
		}
		l.inNS(l.agentNS, func() error {
			if n := tcxPrograms(dev); n != 0 {
				l.t.Errorf("%s: %d tcx programs left on %s", what, n, dev)
			}
			return nil
		})
	}
}

// logHas reports whether any agent log of this lab contains s.
func (l *failLab) logsContain(s string) bool {
	for i := 1; i <= l.agentCount; i++ {
		b, _ := os.ReadFile(filepath.Join(l.dir, fmt.Sprintf("agent-%d.log", i)))
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// wantSteering is what the agent must report on this kernel: tcx from
// Linux 6.6, cls_bpf before.
func wantSteering(t *testing.T) string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(rel), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", rel, err)
	}
	if major > 6 || major == 6 && minor >= 6 {
		return "tcx"
	}
	return "cls_bpf"
}

// kernelName is the kernel's release, for the RESULT lines.
func kernelName() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// median of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// tcxPrograms counts the tcx programs on dev (both hooks; 0 where the
// kernel has no tcx). The calling thread must be in dev's namespace.
func tcxPrograms(dev string) int {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return 0
	}
	n := 0
	for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
		if r, err := link.QueryPrograms(link.QueryOptions{Target: ifi.Index, Attach: at}); err == nil {
			n += len(r.Programs)
		}
	}
	return n
}
