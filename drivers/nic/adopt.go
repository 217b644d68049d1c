package nic

import (
	"fmt"
	"hash/fnv"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// ruleHandle is the filter handle of a rule's filter that carries no
// action cookie (hw_tc steering alone): 0x5150xxxx with xxxx a hash of the
// owner, the rule's fingerprint and the filter's address family (4, 6 or
// 0). The handle is then the filter's identity on the device, and Current
// can find the rule without the state file. When that handle is taken the
// filter gets a numbered one and only the state file knows it.
func ruleHandle(owner, fp string, family int) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", owner, fp, family)
	n := (h.Sum32() ^ h.Sum32()>>16) & 0xFFFF
	if n == 0 {
		n = 1
	}
	return handleMagic | n
}

// Reference gives the driver the plan it is to reach
// (offload.Referencer). When the state file is missing (lost, or never
// written by this host), Current looks for the plan's rules and queue
// layout on the device by their kernel-visible identity — the action
// cookie, or the ruleHandle of a cookie-less filter — and reports those it
// finds as installed; Apply and Remove then treat them as recorded.
func (d *Driver) Reference(want *offload.TargetPlan) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ref = want
}

// refDevices lists the devices the reference plan's rules are on.
func (d *Driver) refDevices() []string {
	if d.ref == nil {
		return nil
	}
	var out []string
	for _, r := range d.ref.Rules {
		out = append(out, r.Device)
	}
	return out
}

// canAdopt reports whether Current may take objects from the device by
// their identity: there is a reference plan and no state file.
func (d *Driver) canAdopt() bool {
	return d.ref != nil && !fileExists(d.path)
}

// adoptRules returns the reference plan's rules that st does not record
// but whose filters are all on the device with their identity, intact.
func (d *Driver) adoptRules(s *scan, st *state) map[string]*ruleState {
	claimed := make(map[filterRef]bool)
	for _, rs := range st.Rules {
		for _, ref := range rs.Filters {
			claimed[refKey(ref.Dev, ref.Hook, ref.Pref, ref.Handle)] = true
		}
	}
	claimedNt := make(map[uint32]bool)
	for _, rs := range st.Rules {
		for _, loc := range rs.Ntuple {
			claimedNt[loc] = true
		}
	}
	out := make(map[string]*ruleState)
	for i := range d.ref.Rules {
		r := &d.ref.Rules[i]
		if st.Rules[r.ID] != nil {
			continue
		}
		if isNtuple(r) {
			if rs := d.findNtuple(s, r, claimedNt); rs != nil {
				out[r.ID] = rs
			}
			continue
		}
		if rs := d.findRule(s, r, claimed); rs != nil {
			out[r.ID] = rs
		}
	}
	return out
}

// findRule looks for r's filters on the device, skipping claimed ones, and
// claims them when all are there.
func (d *Driver) findRule(s *scan, r *offload.Rule, claimed map[filterRef]bool) *ruleState {
	fs, _, err := ruleFilters(d.owner, r)
	if err != nil || len(fs) == 0 {
		return nil
	}
	fp := offload.RuleFingerprint(r)
	rs := &ruleState{Rule: *r, Fingerprint: fp}
	rs.Rule.Stored = ""
	mine := make(map[filterRef]bool)
	for i := range fs {
		f := &fs[i]
		h, ok := s.findFilter(d.tag, f, fp, ruleHandle(d.owner, fp, f.Family), func(k filterRef) bool { return claimed[k] || mine[k] })
		if !ok {
			return nil
		}
		mine[refKey(f.Dev, f.Hook, f.Pref, h)] = true
		rs.Filters = append(rs.Filters, filterRef{Dev: f.Dev, Hook: f.Hook, Pref: f.Pref, Handle: h, Family: f.Family})
	}
	if !s.ruleIntact(d.tag, rs) {
		return nil
	}
	for k := range mine {
		claimed[k] = true
	}
	return rs
}

// findFilter returns the handle of the dumped filter that is f: with
// actions, one at f's place carrying the owner's cookie with fingerprint
// fp (the lowest such handle); without, the one at handle h with f's
// hw_tc classid and skip flags and no cookie.
func (s *scan) findFilter(tag [6]byte, f *tc.Filter, fp string, h uint32, taken func(filterRef) bool) (uint32, bool) {
	if len(f.Acts) == 0 {
		k := refKey(f.Dev, f.Hook, f.Pref, h)
		df, ok := s.filters[k]
		skip := uint32(tc.FlagSkipHW | tc.FlagSkipSW)
		if !ok || taken(k) || df.Kind != "flower" || len(df.Cookies) != 0 || df.ClassID != f.ClassID || df.Flags&skip != f.Flags&skip {
			return 0, false
		}
		return h, true
	}
	var best uint32
	for k, df := range s.filters {
		if k.Dev != f.Dev || k.Hook != f.Hook || k.Pref != f.Pref || taken(k) || df.Kind != "flower" {
			continue
		}
		if got, ok := ourCookie(&df, tag); ok && got == fp && (best == 0 || k.Handle < best) {
			best = k.Handle
		}
	}
	return best, best != 0
}

// withAdopted returns a copy of st with the rules, queue layout, VFs and
// DCB the last Current adopted, while the state file is still missing.
func (d *Driver) withAdopted(st *state) *state {
	c := st.clone()
	if c.Rules == nil {
		c.Rules = make(map[string]*ruleState)
	}
	if fileExists(d.path) {
		return c
	}
	for id, rs := range d.adopted {
		if c.Rules[id] == nil {
			r := *rs
			c.Rules[id] = &r
		}
	}
	if c.Queues == nil && d.adoptedQueues != nil {
		q := *d.adoptedQueues
		c.Queues = &q
	}
	if c.HTB == nil && d.adoptedHTB != nil {
		h := *d.adoptedHTB
		c.HTB = &h
	}
	if c.SRIOV == nil && d.adoptedSRIOV != nil {
		c.SRIOV = (&state{SRIOV: d.adoptedSRIOV}).clone().SRIOV
	}
	if c.DCB == nil && d.adoptedDCB != nil {
		v := *d.adoptedDCB
		c.DCB = &v
	}
	return c
}
