// Package nic is qosplane's Linux NIC driver (offload.Driver). It carries a
// target plan onto a network interface with rtnetlink:
//
//   - the queue layout as the root mqprio qdisc (hw 1, channel mode, the
//     bw_rlimit shaper with per-TC rates in bytes/s), or the plan's HTB
//     tree as the root htb qdisc with offload (rate and ceil per class in
//     bytes/s; htbtree.go, encoded by package wire/htb);
//   - rules as tc flower filters on clsact (egress classification with
//     skbedit priority, pedit DSCP + csum, vlan modify PCP and police;
//     ingress steering with hw_tc; representor rules in switchdev mode),
//     skip_sw where the plan says hardware and skip_hw where it says
//     software;
//   - DCB over dcbnl (RTM_SETDCB, IEEE 802.1Qaz) and the RDMA CM default
//     ToS in configfs;
//   - receive steering to a queue (steer-queue rules, for NICs without
//     flower hw_tc) as ethtool ntuple rules (SIOCETHTOOL, package
//     ethtoolnfc; ownership and adoption in ntuple.go).
//
// Everything it installs is recognisable: filters carry an action cookie
// ("qp", a hash of the owner, the rule's fingerprint) and handles 0x5150xxxx
// (a filter without actions, hw_tc steering alone, has the handle
// ruleHandle derives from the owner and the fingerprint); the root mqprio
// has handle 5150: or 5151:. A state file (default under /run/qosplane)
// keeps the root qdisc qosplane replaced and the plan objects by
// fingerprint, so that Current can report the installed plan after a
// restart from dumps alone; without it, a driver given the plan
// (Reference) finds the plan's rules and layout by that identity.
//
// Hardware filters (skip_sw) are added with NLM_F_ECHO: the kernel's reply
// must show them in hardware (in_hw, in_hw_count), else Apply rolls back
// with ErrOffloadRefused. Current reads DCB back from the device
// (DCB_CMD_IEEE_GET), so a change made with iproute2's dcb shows in Diff. Rates are bit/s in plans and bytes/s on
// the wire; sizes are bytes.
//
// Layout: the driver (plan -> ops -> steps with undo, adoption, state) is
// this package; wire encoders are moving out beside their byte tests:
// drivers/nic/wire/nla (netlink attributes), drivers/nic/wire/dcbnl (IEEE
// DCB), drivers/nic/devlink (devlink rate and ports over generic netlink),
// drivers/nic/wire/htb (tc htb qdisc and class options),
// drivers/nic/wire/wiretest (what their byte tests share). The tc encoders
// (qdisc, mqprio, flower, actions) are still files here.
//
// Tests: `go test ./drivers/nic` runs the byte-level encoder tests (golden
// slices derived from the kernel's uapi structs) anywhere; the in-kernel
// tests skip outside the kernel lab and must pass inside it:
//
//	bash e2e/kernellab/run.sh ./drivers/nic ./e2e/kernel
//	QOSPLANE_LAB_ARGS=-test.benchtime=3x bash e2e/kernellab/run.sh -bench ./drivers/nic
package nic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qosplane/qosplane/drivers/nic/devlink"
	"github.com/qosplane/qosplane/drivers/nic/ethtoolnfc"
	"github.com/qosplane/qosplane/drivers/nic/wire/tc"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Driver is the NIC driver for one target (one interface and its
// representors). Its methods are safe for concurrent use; they serialise.
type Driver struct {
	mu       sync.Mutex
	dev      offload.Device
	owner    string
	profile  string
	log      *slog.Logger
	c        *conn
	stateDir string
	sysfs    string
	configfs string
	rdmaDev  string
	path     string
	st       *state
	tag      [6]byte
	info     *DeviceInfo
	stamp    fileStamp
	// ref is the plan to reach (Reference); adopted and adoptedQueues are
	// what the last Current found of it on the device by identity while
	// the state file was missing (see adopt.go).
	ref           *offload.TargetPlan
	adopted       map[string]*ruleState
	adoptedQueues *offload.QueueLayout
	// adoptedHTB is the reference plan's HTB tree the last Current found
	// on the device exactly as planned (htbtree.go).
	adoptedHTB *offload.HTBPlan
	// adoptedSRIOV is the reference plan's VFs and groups the last
	// Current found on the device exactly as planned (see vf.go).
	adoptedSRIOV *sriovState
	// adoptedDCB is the reference plan's DCB the last Current found the
	// device holding while the state file was missing.
	adoptedDCB *offload.DCB
	// dl is the devlink socket (switchdev VF rates), opened when first
	// needed; vfWrites counts the legacy VF table's writes.
	dl       *devlink.Client
	vfWrites atomic.Int64
	// nfcClient is the SIOCETHTOOL client (probe, features, ntuple, stats), opened on use.
	nfcClient *ethtoolnfc.Client
}

var _ offload.Driver = (*Driver)(nil)

// Option configures Open.
type Option func(*Driver)

// WithStateDir sets the state file directory (default DefaultStateDir).
func WithStateDir(dir string) Option { return func(d *Driver) { d.stateDir = dir } }

// WithConfigfs sets the configfs mount (default /sys/kernel/config) under
// which rdma_cm/<dev>/ports/<port>/default_roce_tos is written.
func WithConfigfs(dir string) Option { return func(d *Driver) { d.configfs = dir } }

// WithSysfs sets the sysfs mount (default /sys).
func WithSysfs(dir string) Option { return func(d *Driver) { d.sysfs = dir } }

// WithRDMADevice names the interface's RDMA device instead of asking
// rdmamap.
func WithRDMADevice(name string) Option { return func(d *Driver) { d.rdmaDev = name } }

// Open returns the driver for dev (dev.Interface must be set). owner is the
// plan's Owner: the driver touches nothing that does not carry it. profile
// names a capability profile; "" picks one from the probed driver name.
func Open(dev offload.Device, owner, profile string, log *slog.Logger, opts ...Option) (*Driver, error) {
	if dev.Interface == "" {
		return nil, errors.New("nic driver: the device names no interface")
	}
	if owner == "" {
		return nil, errors.New("nic driver: empty owner")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{dev: dev, owner: owner, profile: profile, log: log.With("driver", "nic", "interface", dev.Interface),
		stateDir: DefaultStateDir, sysfs: "/sys", configfs: "/sys/kernel/config", tag: ownerTag(owner)}
	for _, o := range opts {
		o(d)
	}
	d.path = statePath(d.stateDir, owner, dev.Interface)
	st, err := loadState(d.path, owner, dev.Interface)
	if err != nil {
		return nil, fmt.Errorf("nic driver %s: %w", dev.Interface, err)
	}
	d.st = st
	if d.c, err = newConn(); err != nil {
		return nil, fmt.Errorf("nic driver %s: %w", dev.Interface, err)
	}
	return d, nil
}

// Writes returns how many state-changing requests (netlink, ethtool,
// configfs) the driver has made since Open.
func (d *Driver) Writes() int64 {
	n := d.c.Writes() + d.vfWrites.Load()
	if d.dl != nil {
		n += d.dl.Writes()
	}
	return n
}

// Close releases the netlink socket. It does not change the device.
func (d *Driver) Close() error {
	d.c.close()
	if d.dl != nil {
		d.dl.Close()
	}
	if d.nfcClient != nil {
		return d.nfcClient.Close()
	}
	return nil
}

// reload reads the state file again, so that a driver sees what another
// instance (a restarted daemon, a CLI run) recorded.
// The file is decoded again only when its size or modification time
// changed since this driver read or wrote it.
func (d *Driver) reload() error {
	fi, err := os.Stat(d.path)
	var stamp fileStamp
	if err == nil {
		stamp = fileStamp{fi.Size(), fi.ModTime()}
		if stamp == d.stamp && d.st != nil {
			return nil
		}
	}
	st, err := loadState(d.path, d.owner, d.dev.Interface)
	if err != nil {
		return fmt.Errorf("nic driver %s: %w", d.dev.Interface, err)
	}
	d.st, d.stamp = st, stamp
	return nil
}

// fileStamp identifies a version of the state file.
type fileStamp struct {
	size int64
	mod  time.Time
}

// saveState writes st and remembers the file's stamp.
func (d *Driver) saveState(st *state) error {
	if err := st.save(d.path); err != nil {
		return err
	}
	if fi, err := os.Stat(d.path); err == nil {
		d.stamp = fileStamp{fi.Size(), fi.ModTime()}
	}
	return nil
}

func rateFromBytes(b uint64) model.Rate { return model.Rate(b * 8) }

// scan is what the device holds of qosplane's, read from dumps.
type scan struct {
	root    *tc.Qdisc
	rootIdx int
	// filters by location; devs are the interfaces looked at.
	filters map[filterRef]tc.DumpedFilter
	ifidx   map[string]int
	// used handles per device.
	used map[string]map[uint32]bool
	// nt is the interface's ethtool ntuple table (nil: not read) and
	// ntTaken the locations this apply allocated.
	nt      *ethtoolnfc.Dump
	ntTaken map[uint32]bool
	// prevRoot is the recorded root qdisc qosplane replaced, as the
	// state was before Apply's steps (see rootPrev).
	prevRoot *savedQdisc
}

func refKey(dev string, hk tc.Hook, pref uint16, handle uint32) filterRef {
	return filterRef{Dev: dev, Hook: hk, Pref: pref, Handle: handle}
}

// devices lists the interfaces the driver looks at: the target's
// interface, its representors, and any device a recorded rule is on.
func (d *Driver) devices(st *state) []string {
	devs := []string{d.dev.Interface}
	devs = append(devs, d.dev.Representors...)
	for _, rs := range st.Rules {
		devs = append(devs, rs.Rule.Device)
	}
	slices.Sort(devs)
	return slices.Compact(devs)
}

func (d *Driver) scan(st *state, extra ...string) (*scan, error) {
	s := &scan{filters: make(map[filterRef]tc.DumpedFilter), ifidx: make(map[string]int), used: make(map[string]map[uint32]bool)}
	idx, err := ifindex(d.dev.Interface)
	if err != nil {
		return nil, err
	}
	s.rootIdx = idx
	if s.root, err = d.c.rootQdisc(idx); err != nil {
		return nil, fmt.Errorf("%s: %w", d.dev.Interface, err)
	}
	devs := append(d.devices(st), extra...)
	slices.Sort(devs)
	for _, dev := range slices.Compact(devs) {
		i, err := ifindex(dev)
		if err != nil {
			// A representor or recorded device that is gone holds
			// nothing.
			d.log.Debug("device absent", "device", dev, "err", err)
			continue
		}
		s.ifidx[dev] = i
		s.used[dev] = make(map[uint32]bool)
		for _, hk := range []tc.Hook{tc.HookIngress, tc.HookEgress} {
			fs, err := d.c.filters(i, hk.Parent())
			if err != nil {
				return nil, fmt.Errorf("dump %s filters of %s: %w", hk, dev, err)
			}
			for _, f := range fs {
				s.filters[refKey(dev, hk, f.Pref, f.Handle)] = f
				s.used[dev][f.Handle] = true
			}
		}
	}
	if d.wantsNtuple(st) {
		if err := d.ntupleTable(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ruleIntact reports whether every filter of rs is on the device and
// carries rs's fingerprint.
func (s *scan) ruleIntact(tag [6]byte, rs *ruleState) bool {
	if len(rs.Ntuple) > 0 {
		return s.ntupleIntact(rs)
	}
	if len(rs.Filters) == 0 {
		// Rules the plan places on the pacer or nowhere have no
		// filters; hardware and software ones must have some.
		p := rs.Rule.Where.Placement
		return p != offload.Hardware && p != offload.Software
	}
	for _, ref := range rs.Filters {
		f, ok := s.filters[refKey(ref.Dev, ref.Hook, ref.Pref, ref.Handle)]
		if !ok || f.Kind != "flower" {
			return false
		}
		if len(f.Cookies) > 0 {
			if fp, ok := ourCookie(&f, tag); !ok || fp != rs.Fingerprint {
				return false
			}
		}
		// A hardware rule must be in the device (in_hw / in_hw_count).
		if rs.Rule.Where.Placement == offload.Hardware && f.Flags&tc.FlagInHW == 0 && f.InHW == 0 {
			return false
		}
	}
	return true
}

// orphans returns filters that carry owner's cookie but belong to no
// recorded rule (left by a crash between install and state save, or by a
// lost state file).
func (s *scan) orphans(tag [6]byte, st *state) []filterRef {
	known := make(map[filterRef]bool)
	for _, rs := range st.Rules {
		for _, ref := range rs.Filters {
			known[refKey(ref.Dev, ref.Hook, ref.Pref, ref.Handle)] = true
		}
	}
	var out []filterRef
	for ref, f := range s.filters {
		if _, ok := ourCookie(&f, tag); ok && !known[ref] {
			out = append(out, ref)
		}
	}
	slices.SortFunc(out, func(a, b filterRef) int {
		return cmpRef(a, b)
	})
	return out
}

func cmpRef(a, b filterRef) int {
	switch {
	case a.Dev != b.Dev:
		return cmpStr(a.Dev, b.Dev)
	case a.Hook != b.Hook:
		return cmpStr(string(a.Hook), string(b.Hook))
	case a.Pref != b.Pref:
		return int(a.Pref) - int(b.Pref)
	}
	return int(int64(a.Handle) - int64(b.Handle))
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Current reads back what qosplane owns on the device: the root mqprio (the
// recorded layout when the device's matches it, else the layout decoded
// from the device), the rules whose filters are all present with their
// fingerprint (Rule.Stored set), the recorded classes, the DCB settings
// read from the device with RTM_GETDCB (the recorded ones when the device
// holds them) and the RoCE settings. It only dumps and gets: it makes no
// writes.
func (d *Driver) Current(ctx context.Context) (*offload.TargetPlan, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.current()
}

func (d *Driver) current() (*offload.TargetPlan, error) {
	if err := d.reload(); err != nil {
		return nil, err
	}
	st := d.st
	d.adopted, d.adoptedQueues, d.adoptedSRIOV, d.adoptedHTB, d.adoptedDCB = nil, nil, nil, nil, nil
	s, err := d.scan(st, d.refDevices()...)
	if err != nil {
		return nil, fmt.Errorf("nic %s: %w", d.dev.Interface, err)
	}
	p := &offload.TargetPlan{Kind: model.NIC, Owner: d.owner, Device: d.dev, Classes: slices.Clone(st.Classes)}
	if s.root != nil && isOurMqprio(s.root) && st.Queues != nil {
		o, err := tc.DecodeMqprio(s.root.Options)
		if err != nil {
			return nil, fmt.Errorf("nic %s: %w", d.dev.Interface, err)
		}
		p.Queues = layoutFromMqprio(o)
		if st.Queues != nil {
			if want, err := mqprioFromLayout(st.Queues); err == nil && want.SameLayout(o) {
				q := *st.Queues
				p.Queues = &q
			}
		}
	}
	if d.canAdopt() && s.root != nil && isOurMqprio(s.root) && st.Queues == nil && d.ref.Queues != nil {
		// No state file: the root mqprio is taken as the plan's when it
		// has exactly the plan's layout.
		o, err := tc.DecodeMqprio(s.root.Options)
		if want, werr := mqprioFromLayout(d.ref.Queues); err == nil && werr == nil && want.SameLayout(o) {
			q := *d.ref.Queues
			d.adoptedQueues = &q
			p.Queues = &q
		}
	}
	if p.HTB, err = d.currentHTB(s, st); err != nil {
		return nil, fmt.Errorf("nic %s: %w", d.dev.Interface, err)
	}
	ids := make([]string, 0, len(st.Rules))
	for id := range st.Rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rs := st.Rules[id]
		if !s.ruleIntact(d.tag, rs) {
			d.log.Info("rule missing or altered on the device", "rule", id)
			continue
		}
		r := rs.Rule
		r.Stored = rs.Fingerprint
		p.Rules = append(p.Rules, r)
	}
	if d.canAdopt() {
		d.adopted = d.adoptRules(s, st)
		for _, id := range slices.Sorted(mapsKeys(d.adopted)) {
			rs := d.adopted[id]
			d.log.Info("rule found on the device without the state file", "rule", id)
			r := rs.Rule
			r.Stored = rs.Fingerprint
			p.Rules = append(p.Rules, r)
		}
	}
	// Rules in evaluation order, as compiled plans have them.
	slices.SortStableFunc(p.Rules, func(a, b offload.Rule) int {
		if a.Precedence != b.Precedence {
			return int(a.Precedence) - int(b.Precedence)
		}
		return cmpStr(a.ID, b.ID)
	})
	if st.DCB != nil {
		if p.DCB, err = d.deviceDCB(st.DCB); err != nil {
			return nil, fmt.Errorf("nic %s: %w", d.dev.Interface, err)
		}
	} else if d.canAdopt() && d.ref.DCB != nil {
		// No state file: the device's DCB is taken as the plan's when it
		// holds it. What the device had before it is not known any more,
		// so a later remove leaves it.
		if d.deviceHoldsDCB(d.ref.DCB) {
			c := *d.ref.DCB
			d.adoptedDCB, p.DCB = &c, &c
		}
	}
	for _, r := range st.RoCE {
		if d.roceIntact(r) {
			p.RoCE = append(p.RoCE, r)
		}
	}
	if p.SRIOV, err = d.currentSRIOV(st); err != nil {
		return nil, fmt.Errorf("nic %s: %w", d.dev.Interface, err)
	}
	if o := s.orphans(d.tag, st); len(o) > 0 {
		d.log.Warn("filters with qosplane's cookie that no recorded rule accounts for; the next apply deletes them", "count", len(o))
	}
	return p, nil
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
