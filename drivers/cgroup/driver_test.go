package cgroup

import (
	"bufio"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

func newDriver(t *testing.T, root string) *Driver {
	t.Helper()
	d, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// checkSockets checks every socket a send child reported: its priority
// read back with getsockopt, and the DSCP of every packet it sent as seen
// at the receiver. want maps a socket kind to (dscp, priority); kinds not
// in want expect def. The first datagram of a UDP socket that neither
// binds nor connects leaves unmarked (see prog.go).
func checkSockets(t *testing.T, who string, r *receiver, reps []sockReport, def [2]int, want map[string][2]int) {
	t.Helper()
	if len(reps) != 8 {
		t.Fatalf("%s: %d sockets reported, want 8", who, len(reps))
	}
	for _, rep := range reps {
		w, ok := want[rep.Kind]
		if !ok {
			w = def
		}
		if rep.Priority != w[1] {
			t.Errorf("%s %s: SO_PRIORITY %d, want %d", who, rep.Kind, rep.Priority, w[1])
		}
		got := r.seen(rep.LocalPort)
		if len(got) == 0 {
			t.Errorf("%s %s: no packet from port %d seen", who, rep.Kind, rep.LocalPort)
			continue
		}
		for i, d := range got {
			if i == 0 && strings.HasSuffix(rep.Kind, "-unbound") {
				if d != 0 {
					t.Errorf("%s %s: first datagram has DSCP %d; the sendmsg hook was thought to run too late for it", who, rep.Kind, d)
				}
				continue
			}
			if int(d) != w[0] {
				t.Errorf("%s %s: packet %d of %d has DSCP %d, want %d (all: %v)", who, rep.Kind, i+1, len(got), d, w[0], got)
				break
			}
		}
	}
}

// Two processes in two cgroups send to the same destination and port: each
// one's packets carry its policy's DSCP and its sockets its priority; a
// process in no matched cgroup is untouched. Cgroup a also has a tcp rule
// for the port, more specific than its any-protocol rule; cgroup z's class
// has priority 0 (TC 0) with a DSCP.
func TestTwoCgroupsMarked(t *testing.T) {
	root, tree := testTree(t)
	a := mkCgroup(t, root, tree, "a")
	b := mkCgroup(t, root, tree, "b")
	other := mkCgroup(t, root, tree, "other")
	deep := mkCgroup(t, root, tree, "b", "worker") // in b's subtree
	zero := mkCgroup(t, root, tree, "z")           // a class in TC 0: priority 0
	r := newReceiver(t)
	d := newDriver(t, root)
	port := uint16(r.port)
	rules := []Rule{
		{Flow: "a-any", Cgroup: tree + "/a", DSCP: 10, Priority: 3},
		{Flow: "a-tcp", Cgroup: tree + "/a", Protocol: 6, PortLo: port, PortHi: port, DSCP: 46, Priority: 6},
		{Flow: "b-any", Cgroup: tree + "/b", DSCP: 40, Priority: 5},
		{Flow: "z-any", Cgroup: tree + "/z", DSCP: 12, Priority: 0},
	}
	if err := d.Apply(rules); err != nil {
		t.Fatal(err)
	}
	if got, want := d.AttachedAt(), filepath.Join(root, tree); got != want {
		t.Errorf("attached at %s, want %s (the deepest common ancestor)", got, want)
	}
	checkSockets(t, "a", r, r.sendFrom(t, a), [2]int{10, 3}, map[string][2]int{"tcp4": {46, 6}, "tcp6": {46, 6}})
	checkSockets(t, "b", r, r.sendFrom(t, b), [2]int{40, 5}, nil)
	checkSockets(t, "b/worker", r, r.sendFrom(t, deep), [2]int{40, 5}, nil)
	checkSockets(t, "z", r, r.sendFrom(t, zero), [2]int{12, 0}, nil)
	checkSockets(t, "other", r, r.sendFrom(t, other), [2]int{0, 0}, nil)

	counts, err := d.Counts()
	if err != nil {
		t.Fatal(err)
	}
	// Every socket of a is counted for a-any at creation (the port is not
	// known then); its 2 TCP sockets once more for a-tcp at connect. b and
	// b/worker have 8 sockets each.
	if counts["a-tcp"] != 2 || counts["a-any"] != 8 || counts["b-any"] != 16 {
		t.Errorf("counts %v, want a-tcp 2, a-any 8, b-any 16", counts)
	}
}

// A cgroup created after Apply, matching a glob, is classified once the
// watcher has seen it (no Apply, no restart); one created under it later
// needs nothing at all.
func TestCgroupCreatedLater(t *testing.T) {
	root, tree := testTree(t)
	mkCgroup(t, root, tree, "pods")
	r := newReceiver(t)
	d := newDriver(t, root)
	if err := d.Apply([]Rule{{Flow: "pods", Cgroup: tree + "/pods/pod-*", DSCP: 24, Priority: 2}}); err != nil {
		t.Fatal(err)
	}
	if m := d.Matched(); len(m) != 0 {
		t.Fatalf("matched %v before any pod exists", m)
	}
	pod := mkCgroup(t, root, tree, "pods", "pod-1")
	mkCgroup(t, root, tree, "pods", "other") // not a pod-*
	want := path.Join(tree, "pods", "pod-1")
	deadline := time.Now().Add(2 * time.Second)
	for !slices.Contains(d.Matched(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("pod-1 not matched within 2s by the watcher: %v", d.Matched())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := d.Matched(); len(m) != 1 {
		t.Errorf("matched %v, want only %s", m, want)
	}
	checkSockets(t, "pod-1", r, r.sendFrom(t, pod), [2]int{24, 2}, nil)
	ctr := mkCgroup(t, pod, "container")
	checkSockets(t, "pod-1/container", r, r.sendFrom(t, ctr), [2]int{24, 2}, nil)
	checkSockets(t, "pods/other", r, r.sendFrom(t, filepath.Join(root, tree, "pods", "other")), [2]int{0, 0}, nil)

	// A reconcile (Rescan) finds the same without the watcher.
	d.watch.close()
	d.watch = nil
	pod2 := mkCgroup(t, root, tree, "pods", "pod-2")
	if err := d.Rescan(); err != nil {
		t.Fatal(err)
	}
	checkSockets(t, "pod-2", r, r.sendFrom(t, pod2), [2]int{24, 2}, nil)
}

// ourPrograms lists the programs attached at dir for attach type at whose
// names are ours.
func ourPrograms(t *testing.T, dir string, at ebpf.AttachType) []string {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: at})
	if err != nil {
		t.Fatalf("query %s %v: %v", dir, at, err)
	}
	var names []string
	for _, p := range res.Programs {
		prog, err := ebpf.NewProgramFromID(p.ID)
		if err != nil {
			continue
		}
		info, err := prog.Info()
		prog.Close()
		if err == nil && strings.HasPrefix(info.Name, "qp_") {
			names = append(names, info.Name)
		}
	}
	return names
}

// packetHooks are the cgroup hooks that run per packet.
var packetHooks = []ebpf.AttachType{ebpf.AttachCGroupInetIngress, ebpf.AttachCGroupInetEgress}

// kill -9 of the process holding the links detaches the programs: nothing
// is left on the cgroup and new sockets are unmarked.
func TestKilledHolderLeavesNothing(t *testing.T) {
	root, tree := testTree(t)
	a := mkCgroup(t, root, tree, "a")
	top := filepath.Join(root, tree)
	r := newReceiver(t)
	mkCgroup(t, root, tree, "b")
	rules, _ := json.Marshal([]Rule{{Flow: "a", Cgroup: tree + "/a", DSCP: 46, Priority: 6}, {Flow: "b", Cgroup: tree + "/b", DSCP: 8, Priority: 1}})
	// The holder lives outside the tree, so that the tree can go.
	holder := child(t, "hold", root, string(rules))
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("holder: %q %v", line, err)
	}
	for _, k := range progKinds {
		if got := ourPrograms(t, a, k.attach); len(got) != 0 {
			t.Errorf("%s: programs %v on a, want them on its parent only", k.name, got)
		}
		if got := ourPrograms(t, top, k.attach); !slices.Equal(got, []string{k.name}) {
			t.Errorf("%s: attached %v, want [%s]", k.name, got, k.name)
		}
	}
	checkSockets(t, "a (held)", r, r.sendFrom(t, a), [2]int{46, 6}, nil)

	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := 0
		for _, k := range progKinds {
			left += len(ourPrograms(t, top, k.attach))
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d programs still attached 2s after kill -9", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkSockets(t, "a (after kill)", r, r.sendFrom(t, a), [2]int{0, 0}, nil)
}

// Nothing of ours is on the packet path: no cgroup skb program on the
// attach point or the matched cgroups, only the socket hooks.
func TestNoPerPacketProgram(t *testing.T) {
	root, tree := testTree(t)
	a := mkCgroup(t, root, tree, "a")
	d := newDriver(t, root)
	if err := d.Apply([]Rule{{Flow: "a", Cgroup: tree + "/a", DSCP: 46, Priority: 6}}); err != nil {
		t.Fatal(err)
	}
	kinds := d.kinds
	for _, dir := range []string{root, filepath.Join(root, tree), a} {
		for _, at := range packetHooks {
			if got := ourPrograms(t, dir, at); len(got) != 0 {
				t.Errorf("%s %v: %v", dir, at, got)
			}
		}
	}
	var names []string
	for _, k := range kinds {
		names = append(names, k.attach.String())
		if k.typ != ebpf.CGroupSock && k.typ != ebpf.CGroupSockAddr && k.typ != ebpf.LSM {
			t.Errorf("%s is a %v program", k.name, k.typ)
		}
	}
	t.Logf("hooks: %s (socket creation, bind, connect, unconnected UDP send); none per packet", strings.Join(names, ", "))
	// Re-applying other rules replaces the programs in place; no rules
	// detaches them.
	if err := d.Apply([]Rule{{Flow: "a", Cgroup: tree + "/a/x/y", DSCP: 8, Priority: 1}}); err != nil {
		t.Fatal(err)
	}
	if got := d.AttachedAt(); got != a {
		t.Errorf("attached at %s, want %s (deepest existing ancestor)", got, a)
	}
	if err := d.Apply(nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if got := ourPrograms(t, a, k.attach); len(got) != 0 {
			t.Errorf("after Apply(nil): %v", got)
		}
	}
}
