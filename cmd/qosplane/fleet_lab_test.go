package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qosplane/qosplane/cmd/qosplane/internal/agent"
	"github.com/qosplane/qosplane/cmd/qosplane/internal/kube"
	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// fleetVethPolicy is the lab's QoSPolicy: the fail-safe lab's classes and
// flows, on the interface hx of every node labelled lab=veth, on the pacer.
var fleetVethPolicy = fmt.Sprintf(`  nodeSelector: {matchLabels: {lab: veth}}
  classes:
    - {name: bulk, service: best-effort, rate: 2Mbit, nonConforming: discard}
    - {name: probe, service: guaranteed, rate: 5Mbit}
  flows:
    - {name: bulk, class: bulk, match: {protocol: udp, dstPort: {port: %d}}}
    - {name: probe, class: probe, match: {protocol: udp, dstPort: {port: %d}}}
  nics:
    - {name: t, interface: {name: hx}, profile: none, fallback: {mode: attach}}
`, bulkPort, probePort)

// vethNode is one node of the veth fleet: namespaces host (the agent, hx
// 10.99.0.1) and peer (px 10.99.0.2), the fail-safe lab's topology in
// attach mode, and the real agent process in host.
type vethNode struct {
	name string
	lab  *failLab
	sock string
	cmd  *exec.Cmd
	wait chan error
	logf string
}

// newVethNode builds node i's namespaces (the fail-safe lab's helpers) and
// opens its senders and receivers.
func newVethNode(t *testing.T, i int) *vethNode {
	t.Helper()
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	host, peer := fmt.Sprintf("qpk%dh%s", i, tag), fmt.Sprintf("qpk%dp%s", i, tag)
	l := &failLab{t: t, mode: "attach", ip: ipPath(), dir: t.TempDir(), src: host, dst: peer, agentNS: host, iface: "hx"}
	l.addNS(host, peer)
	labtest.Run(t, l.ip, "link", "add", "hx", "netns", host, "type", "veth", "peer", "name", "px", "netns", peer)
	l.addr(host, "hx", "10.99.0.1/24")
	l.addr(peer, "px", "10.99.0.2/24")
	labtest.Run(t, l.ip, "-n", host, "neigh", "replace", "10.99.0.2", "lladdr", l.mac(peer, "px"), "dev", "hx", "nud", "permanent")
	labtest.Run(t, l.ip, "-n", peer, "neigh", "replace", "10.99.0.1", "lladdr", l.mac(host, "hx"), "dev", "px", "nud", "permanent")
	l.openSockets()
	return &vethNode{name: fmt.Sprintf("veth-%d", i), lab: l, sock: filepath.Join(l.dir, "agent.sock"), logf: filepath.Join(l.dir, "agent.log")}
}

// proxyAPIServer forwards 127.0.0.1:port inside namespace ns to the
// apiserver on the root namespace's loopback, so that an agent in ns
// reaches it with the lab's kubeconfig unchanged.
func proxyAPIServer(t *testing.T, l *failLab, host string) {
	t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(host, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	l.inNS(l.agentNS, func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:"+port)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp4", "127.0.0.1:"+port) // this thread is in the root namespace
				if err != nil {
					return
				}
				defer out.Close()
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
				go func() { defer wg.Done(); _, _ = io.Copy(in, out); in.(*net.TCPConn).CloseWrite() }()
				wg.Wait()
			}()
		}
	}()
}

// start runs `qosplane agent --kube` (this binary as main) in the node's
// host namespace.
func (n *vethNode) start(t *testing.T, kubeconfig string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(n.logf)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(n.lab.ip, "netns", "exec", n.lab.agentNS, exe, "agent", "--kube", "--kubeconfig", kubeconfig,
		"--node-name", n.name, "--socket", n.sock, "--log-format", "text")
	n.cmd.Env = append(os.Environ(), envAsMain+"=1")
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.wait = make(chan error, 1)
	go func() { n.wait <- n.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.wait:
		case <-time.After(20 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.wait
		}
	})
}

// alive fails the test if n's agent process has exited.
func (n *vethNode) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-n.wait:
		n.wait <- err
		t.Fatalf("%s: agent exited: %v\n%s", n.name, err, n.log())
	default:
	}
}

func (n *vethNode) log() string {
	b, _ := os.ReadFile(n.logf)
	return string(b)
}

// TestFleetVeth runs 3 real agent processes (`qosplane agent --kube`), one
// per node, each in its own veth namespace pair, against a real
// apiserver: the QoSPolicy selecting them lands on the pacer on each, real
// UDP is shaped to the class rate at each receiver, and each node's
// QoSNodeState reports the pacer placement and the policy's generation;
// an apiserver restart changes nothing on the nodes; deleting the policy
// removes the pacer from every node.
func TestFleetVeth(t *testing.T) {
	labtest.Need(t, os.Geteuid() == 0, "root (network namespaces, the pacer)")
	labtest.Need(t, ipPath() != "", "iproute2's ip")
	lab, c := fleetLab(t)
	ctx := context.Background()
	kubeconfig := agentKubeconfig(t, lab)
	nodes := make([]*vethNode, 3)
	for i := range nodes {
		nodes[i] = newVethNode(t, i)
		createNode(t, c, nodes[i].name, map[string]string{"lab": "veth"})
		proxyAPIServer(t, nodes[i].lab, lab.Host())
	}
	created, err := c.Dynamic.Resource(kube.PolicyGVR).Create(ctx, policyObject(t, "veth", fleetVethPolicy), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gen := created.GetGeneration()
	t0 := time.Now()
	for _, n := range nodes {
		n.start(t, kubeconfig)
	}
	for _, n := range nodes {
		took := waitFor(t, 60*time.Second, n.name+" on the pacer", func() (bool, string) {
			n.alive(t)
			st, err := agent.FetchStatus(ctx, n.sock)
			if err != nil {
				return false, err.Error()
			}
			if len(st.Targets) != 1 || st.Targets[0].LastSuccess.IsZero() || st.Targets[0].Pacer == "" {
				return false, fmt.Sprintf("status %+v", st.Targets)
			}
			ns, err := nodeState(c, n.name)
			if err != nil {
				return false, err.Error()
			}
			if g, _ := appliedGeneration(ns, "veth"); g != gen || len(ns.Status.Targets) != 1 || ns.Status.Targets[0].Placement != v1alpha1.PlacementPacer {
				return false, fmt.Sprintf("node state %+v", ns.Status)
			}
			return true, ""
		})
		t.Logf("(e) %s: pacer serving, QoSNodeState at generation %d with pacer placement, %v after the previous node", n.name, gen, took.Round(time.Millisecond))
	}
	t.Logf("(e) 3 agents ready in %v", time.Since(t0).Round(time.Millisecond))
	for _, n := range nodes {
		n.lab.wantShaped("(e) " + n.name)
	}

	// (f) Apiserver restart under the real agent processes: they keep
	// running and shaping, write nothing to their NIC (the status's
	// applies) or their QoSNodeState (its resourceVersion), and resync.
	type seen struct {
		applies int
		rv      string
	}
	snap := func(n *vethNode) seen {
		st, err := agent.FetchStatus(ctx, n.sock)
		if err != nil || len(st.Targets) != 1 {
			t.Fatalf("%s: status %v %+v", n.name, err, st)
		}
		ns, err := nodeState(c, n.name)
		if err != nil {
			t.Fatal(err)
		}
		return seen{st.Targets[0].Applies, ns.ResourceVersion}
	}
	before := map[string]seen{}
	for _, n := range nodes {
		before[n.name] = snap(n)
	}
	t1 := time.Now()
	if err := lab.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("(f) apiserver restarted in %v", time.Since(t1).Round(time.Millisecond))
	time.Sleep(10 * time.Second) // the watches resume and relist
	for _, n := range nodes {
		n.alive(t)
		if now := snap(n); now != before[n.name] {
			t.Errorf("(f) %s: the restart alone moved applies %d -> %d, QoSNodeState resourceVersion %s -> %s",
				n.name, before[n.name].applies, now.applies, before[n.name].rv, now.rv)
		}
		n.lab.wantShaped("(f) after the restart, " + n.name)
	}

	// (g) Delete the policy: every node removes its pacer (traffic flows
	// unshaped, nothing of qosplane is left on the interface) and its
	// QoSNodeState drops the policy.
	if err := c.Dynamic.Resource(kube.PolicyGVR).Delete(ctx, "veth", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t2 := time.Now()
	for _, n := range nodes {
		waitFor(t, 60*time.Second, n.name+" drops the deleted policy", func() (bool, string) {
			n.alive(t)
			st, err := agent.FetchStatus(ctx, n.sock)
			if err != nil {
				return false, err.Error()
			}
			ns, err := nodeState(c, n.name)
			if err != nil {
				return false, err.Error()
			}
			if len(st.Targets) != 0 || len(ns.Status.Targets) != 0 || len(ns.Status.Policies) != 0 {
				return false, fmt.Sprintf("agent targets %d, state targets %d policies %d", len(st.Targets), len(ns.Status.Targets), len(ns.Status.Policies))
			}
			return true, ""
		})
	}
	t.Logf("(g) policy deleted: all 3 nodes removed their pacer and state in %v", time.Since(t2).Round(time.Millisecond))
	for _, n := range nodes {
		n.lab.wantUnshaped("(g) " + n.name)
		n.lab.wantNothingLeft("(g) " + n.name)
	}
	if t.Failed() {
		for _, n := range nodes {
			t.Logf("%s log:\n%s", n.name, n.log())
		}
	}
}
