// Package cgroup marks sockets by the cgroup of the process that creates
// them: policy-based QoS decided once per socket. BPF programs attached to
// a cgroup2 directory (cgroup/sock_create, bind4/6, connect4/6 and, for
// unconnected UDP, sendmsg4/6; see prog.go) set each new socket's priority
// (which mqprio's prio->TC map turns into a hardware TC) and its DSCP (IPv4
// TOS / IPv6 traffic class). Nothing of ours runs per packet: the kernel
// stamps every packet of the socket with what the programs set once.
//
// Limits: a task's cgroup decides (a socket passed to a task of another
// cgroup keeps its marking; bind, connect and sendmsg classify by the
// calling task's cgroup). An AF_INET6 socket sending to a v4-mapped address
// carries IPV6_TCLASS, which IPv4 packets do not use. At most maxRules
// rules apply to one cgroup.
//
// The programs are held by bpf_links that only this process holds (never
// pinned): when the process exits, however it exits, the kernel detaches
// them and new sockets are left alone.
package cgroup

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Rule classifies the sockets of a cgroup (and of its subtree).
type Rule struct {
	// Flow names the policy flow; counters are reported by it.
	Flow string
	// Cgroup is a path relative to the cgroup2 mount; each segment may be
	// a glob (path.Match).
	Cgroup string
	// Protocol is the IP protocol number; 0 matches any.
	Protocol uint8
	// PortLo-PortHi is the destination port range; 0-0 matches any. A
	// rule with a port applies when the socket connects.
	PortLo, PortHi uint16
	// DSCP is written into the TOS / traffic class as DSCP<<2.
	DSCP uint8
	// Priority is the socket priority (SO_PRIORITY).
	Priority uint32
}

// Options configures a Driver.
type Options struct {
	// Root is the cgroup2 mount; empty finds it in /proc/self/mountinfo.
	Root string
	Log  *slog.Logger
	// NoWatch leaves cgroups created after Apply to Rescan (no inotify).
	NoWatch bool
}

// maxFlows is the size of the counters map: flows ever applied by one
// driver (indexes are never reused, so counters survive re-applies).
const maxFlows = 1024

// Driver owns the maps, programs and links. Its methods are safe for
// concurrent use.
type Driver struct {
	mu       sync.Mutex
	root     string
	noWatch  bool
	log      *slog.Logger
	classes  *ebpf.Map // cgroup id -> entry (prog.go)
	counters *ebpf.Map // per-CPU flow index -> sockets classified
	flowIdx  map[string]uint32

	rules   []Rule
	pats    []pattern
	cfg     progConfig
	at      string          // the directory the programs are attached to
	atID    uint64          // its cgroup id: a directory made anew has another
	kinds   []progKind      // progKinds once attached
	progs   []*ebpf.Program // per kinds
	links   []link.Link     // per kinds
	entries map[uint64]string
	watch   *watcher
}

// New creates the driver's maps. Nothing is attached until Apply.
func New(o Options) (*Driver, error) {
	root := o.Root
	if root == "" {
		var err error
		if root, err = Mount(); err != nil {
			return nil, err
		}
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	classes, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "qp_cg_classes", Type: ebpf.Hash, KeySize: 8, ValueSize: entrySize, MaxEntries: 4096,
	})
	if err != nil {
		return nil, fmt.Errorf("cgroup: classes map: %w", err)
	}
	counters, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "qp_cg_counts", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: maxFlows,
	})
	if err != nil {
		classes.Close()
		return nil, fmt.Errorf("cgroup: counters map: %w", err)
	}
	return &Driver{root: root, noWatch: o.NoWatch, log: log, classes: classes, counters: counters,
		flowIdx: map[string]uint32{}, entries: map[uint64]string{}}, nil
}

// Root is the cgroup2 mount the driver works under.
func (d *Driver) Root() string { return d.root }

// AttachedAt is the cgroup directory the programs are attached to, or ""
// when nothing is attached.
func (d *Driver) AttachedAt() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at
}

// Apply makes rules the driver's whole state: it loads programs for the
// rules' cgroup depths, attaches them at the deepest cgroup above every
// rule's path (replacing earlier programs atomically where the place is
// unchanged), fills the classes map from the cgroup tree and watches the
// tree for cgroups created later. No rules detaches everything.
func (d *Driver) Apply(rules []Rule) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	pats := make([]pattern, len(rules))
	for i, r := range rules {
		p, err := parsePattern(r.Cgroup)
		if err != nil {
			return fmt.Errorf("cgroup: flow %q: %w", r.Flow, err)
		}
		if r.PortHi < r.PortLo {
			return fmt.Errorf("cgroup: flow %q: port range %d-%d", r.Flow, r.PortLo, r.PortHi)
		}
		if r.DSCP > 63 {
			return fmt.Errorf("cgroup: flow %q: dscp %d out of range 0-63", r.Flow, r.DSCP)
		}
		pats[i] = p
	}
	for _, r := range rules {
		if _, ok := d.flowIdx[r.Flow]; !ok {
			if len(d.flowIdx) >= maxFlows {
				return fmt.Errorf("cgroup: more than %d flows", maxFlows)
			}
			d.flowIdx[r.Flow] = uint32(len(d.flowIdx))
		}
	}
	if len(rules) == 0 {
		d.detach()
		d.rules, d.pats, d.cfg = nil, nil, progConfig{}
		return d.rescan()
	}
	var cfg progConfig
	for i, p := range pats {
		if !slices.Contains(cfg.levels, p.depth()) {
			cfg.levels = append(cfg.levels, p.depth())
		}
		cfg.zeroPrio = cfg.zeroPrio || rules[i].Priority == 0 && rules[i].DSCP != 0
	}
	slices.SortFunc(cfg.levels, func(a, b int) int { return cmp.Compare(b, a) })
	d.rules, d.pats = slices.Clone(rules), pats
	// The map first: programs attached next find it filled.
	if err := d.rescan(); err != nil {
		return err
	}
	at, err := d.existingAncestor(commonRoot(pats))
	if err != nil {
		return err
	}
	if err := d.attach(at, cfg); err != nil {
		return err
	}
	if d.noWatch {
		return nil
	}
	if d.watch == nil {
		w, err := newWatcher(d)
		if err != nil {
			return err
		}
		d.watch = w
	}
	d.watch.refresh()
	return nil
}

// existingAncestor is the deepest existing directory at or above rel.
func (d *Driver) existingAncestor(rel string) (string, error) {
	for {
		dir := filepath.Join(d.root, rel)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir, nil
		}
		if rel == "" || rel == "." {
			return "", fmt.Errorf("cgroup: mount %s is gone", d.root)
		}
		rel = path.Dir(rel)
		if rel == "." {
			rel = ""
		}
	}
}

// attach loads the programs for cfg and attaches them at dir. New
// links are made before the old ones are closed, so no socket is created
// unclassified meanwhile (one created in between may run both versions,
// which set the same values). The links are bpf_links only (never the
// legacy PROG_ATTACH, which would outlive the process).
func (d *Driver) attach(dir string, cfg progConfig) error {
	if d.at == dir && d.cfg.equal(cfg) && len(d.links) > 0 {
		return nil
	}
	kinds, progs, err := d.loadAll(cfg)
	if err != nil {
		return err
	}
	closeProgs := func() {
		for _, p := range progs {
			p.Close()
		}
	}
	cg, err := os.Open(dir)
	if err != nil {
		closeProgs()
		return fmt.Errorf("cgroup: %w", err)
	}
	defer cg.Close()
	links := make([]link.Link, 0, len(kinds))
	for i, k := range kinds {
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Program: progs[i], Attach: k.attach})
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			closeProgs()
			return fmt.Errorf("cgroup: attach %s at %s: %w", k.name, dir, err)
		}
		links = append(links, l)
	}
	moved := d.at != dir
	d.detach()
	d.kinds, d.links, d.progs, d.at, d.cfg = kinds, links, progs, dir, cfg
	d.atID, _ = cgroupID(dir)
	if moved {
		d.log.Info("cgroup: socket programs attached", "cgroup", dir, "levels", cfg.levels)
	}
	return nil
}

// loadAll loads the programs for cfg.
func (d *Driver) loadAll(cfg progConfig) ([]progKind, []*ebpf.Program, error) {
	progs := make([]*ebpf.Program, 0, len(progKinds))
	for _, k := range progKinds {
		p, err := k.load(d.classes, d.counters, cfg)
		if err != nil {
			for _, p := range progs {
				p.Close()
			}
			return nil, nil, fmt.Errorf("cgroup: %w", err)
		}
		progs = append(progs, p)
	}
	return progKinds, progs, nil
}

// detach closes the links (the kernel detaches the programs) and the
// programs.
func (d *Driver) detach() {
	for _, l := range d.links {
		if err := l.Close(); err != nil {
			d.log.Warn("cgroup: detach", "cgroup", d.at, "err", err)
		}
	}
	for _, p := range d.progs {
		p.Close()
	}
	d.links, d.progs, d.at, d.kinds = nil, nil, "", nil
}

// Counts returns the sockets classified per flow since the driver started
// (summed over CPUs), for the flows of the current rules. A socket is
// counted when it is created (rules without a port) and, if a rule with a
// port matches when it connects, once more for that rule's flow.
func (d *Driver) Counts() (map[string]uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.rules))
	for _, r := range d.rules {
		if _, done := out[r.Flow]; done {
			continue
		}
		var per []uint64
		if err := d.counters.Lookup(d.flowIdx[r.Flow], &per); err != nil {
			return nil, fmt.Errorf("cgroup: counters: %w", err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[r.Flow] = sum
	}
	return out, nil
}

// Close detaches the programs and frees the maps.
func (d *Driver) Close() error {
	d.mu.Lock()
	w := d.watch
	d.watch = nil
	d.mu.Unlock()
	if w != nil {
		w.close()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.detach()
	d.classes.Close()
	d.counters.Close()
	return nil
}
