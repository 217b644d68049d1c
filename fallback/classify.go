package fallback

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// prefix16 is an address prefix over 16-byte (IPv4-mapped) addresses as
// two masked 64-bit words.
type prefix16 struct {
	hi, lo, mhi, mlo uint64
	set              bool
}

func makePrefix(p model.Prefix) prefix16 {
	if !p.IsValid() {
		return prefix16{}
	}
	a := p.Addr()
	bits := p.Bits()
	if a.Is4() {
		bits += 96
		a = a.Unmap()
	}
	b := a.As16()
	var m [16]byte
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	mhi, mlo := binary.BigEndian.Uint64(m[:8]), binary.BigEndian.Uint64(m[8:])
	return prefix16{
		hi: binary.BigEndian.Uint64(b[:8]) & mhi, lo: binary.BigEndian.Uint64(b[8:]) & mlo,
		mhi: mhi, mlo: mlo, set: true,
	}
}

func (p *prefix16) match(hi, lo uint64) bool {
	return !p.set || hi&p.mhi == p.hi && lo&p.mlo == p.lo
}

// rule is a plan rule compiled for matching packets. The fields every
// packet of the rule's flows reads (cls, mark, police: 24 bytes) come
// first and together, so that a packet reads one cache line of its rule
// (two only when those bytes straddle a line).
type rule struct {
	cls      *class
	mark     offload.Mark // of conforming packets: the class's, with SetDSCP/SetPCP applied
	police   int          // index into Pacer.policers, -1 none
	id       string
	family   uint8
	src, dst prefix16
	proto    uint8
	sport    model.PortRange
	dport    model.PortRange
	vlan     uint16
	dscp     int  // -1 any
	ifindex  int  // 0 any
	ifNever  bool // the rule's interface does not resolve: never matches
}

func (r *rule) matches(pr *parsed, ifindex int) bool {
	if r.ifindex != 0 && r.ifindex != ifindex || r.ifNever {
		return false
	}
	if r.vlan != 0 && (pr.tagOff < 0 || pr.vlan != r.vlan) {
		return false
	}
	if r.family != 0 && r.family != pr.family {
		return false
	}
	if r.dscp >= 0 && (pr.l3 < 0 || int(pr.tos>>2) != r.dscp) {
		return false
	}
	if r.proto != 0 && r.proto != pr.proto {
		return false
	}
	if !r.src.match(pr.srcHi, pr.srcLo) || !r.dst.match(pr.dstHi, pr.dstLo) {
		return false
	}
	if !r.sport.IsZero() && (!pr.hasPort || pr.sport < r.sport.Lo || pr.sport > r.sport.Hi) {
		return false
	}
	if !r.dport.IsZero() && (!pr.hasPort || pr.dport < r.dport.Lo || pr.dport > r.dport.Hi) {
		return false
	}
	return true
}

// compileRules builds the pacer's rules from the plan: those placed on the
// pacer, in ascending Precedence (stable, so plan order breaks ties).
func (p *Pacer) compileRules(tp *offload.TargetPlan, classIdx map[string]int, resolve func(string) (int, error)) error {
	// Pointers are sorted, not the rules: a plan may hold 100,000 rules
	// of a few hundred bytes each, and a stable sort moves each many times.
	var rs []*offload.Rule
	for i := range tp.Rules {
		if tp.Rules[i].Where.Placement == offload.Pacer {
			rs = append(rs, &tp.Rules[i])
		}
	}
	slices.SortStableFunc(rs, func(a, b *offload.Rule) int { return int(a.Precedence) - int(b.Precedence) })
	p.rules = make([]rule, 0, len(rs))
	policers := make(map[string]int)
	for _, r := range rs {
		ci, ok := classIdx[r.Class]
		if !ok {
			return fmt.Errorf("rule %q: unknown class %q", r.ID, r.Class)
		}
		m := &r.Match
		cr := rule{
			id: r.ID, cls: p.classes[ci], mark: p.classes[ci].plan.Mark, family: uint8(m.Family()),
			src: makePrefix(m.Src), dst: makePrefix(m.Dst), proto: uint8(m.Protocol),
			sport: m.SrcPort, dport: m.DstPort, vlan: m.VLAN,
			dscp: -1, police: -1,
		}
		if m.DSCP != nil {
			cr.dscp = int(*m.DSCP)
		}
		if m.Interface != "" {
			idx, err := resolve(m.Interface)
			if err != nil {
				p.log.Warn("pacer rule names an unknown interface; it will not match", "rule", r.ID, "interface", m.Interface, "err", err)
				cr.ifNever = true
			}
			cr.ifindex = idx
		}
		for _, a := range r.Actions {
			switch a.Kind {
			case offload.SetDSCP:
				cr.mark.DSCP = a.DSCP & 63
			case offload.SetPCP:
				cr.mark.PCP = a.PCP & 7
			case offload.Police:
				key := a.Shared
				if key == "" {
					key = "rule:" + r.ID
				}
				if i, ok := policers[key]; ok {
					cr.police = i
					continue
				}
				pol, err := newPolicer(a, &p.classes[ci].plan)
				if err != nil {
					return fmt.Errorf("rule %q: police: %w", r.ID, err)
				}
				policers[key] = len(p.policers)
				cr.police = len(p.policers)
				p.policers = append(p.policers, pol)
			}
		}
		p.rules = append(p.rules, cr)
	}
	return nil
}

// defaultResolve maps an interface name to its index.
func defaultResolve(name string) (int, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifc.Index, nil
}

// policer is a rule's own Police action: a meter and what to do above it.
type policer struct {
	m    meter
	drop bool
	dscp uint8 // remark of exceeding packets (borrow)
	pcp  uint8
}

func newPolicer(a offload.Action, cp *offload.ClassPlan) (policer, error) {
	burst := uint64(a.Burst)
	if burst == 0 {
		burst = max(2*uint64(cp.MaxSDU), uint64(a.Rate)/8/100)
	}
	b, err := newBucket(uint64(a.Rate), burst, 0)
	if err != nil {
		return policer{}, err
	}
	pol := policer{m: meter{commit: b, maxSDU: int64(cp.MaxSDU)}, drop: true}
	if a.Peak != 0 {
		pb, err := newBucket(uint64(a.Peak), uint64(cp.MaxSDU), 0)
		if err != nil {
			return policer{}, fmt.Errorf("peak: %w", err)
		}
		pol.m.peak, pol.m.hasPeak = pb, true
	}
	if a.Exceed != nil && !a.Exceed.Drop {
		pol.drop = false
		pol.dscp, pol.pcp = a.Exceed.DSCP&63, a.Exceed.PCP&7
	}
	return pol, nil
}

// scanMaxRules is the most rules classify scans rather than searching the
// tuple space: a few rules cost less to scan than to hash into each of
// their shapes. Measured per new flow through Enqueue: 4 rules of 3
// shapes (BenchmarkEnqueueMiss) 67 ns scanning, 84 ns searching; 10 rules
// (BenchmarkNewFlow) of one shape 92 and 79 ns, of three shapes 99 and 96.
const scanMaxRules = 8

// classify returns the index of the first rule (in p.rules order, that is
// ascending precedence) matching the frame, or -1. It searches the tuple
// space (tupleSpace.classify), whose answer is classifyScan's, or scans
// when p.scan.
func (p *Pacer) classify(pr *parsed, ifindex int) int {
	if p.scan {
		return p.classifyScan(pr, ifindex)
	}
	return p.tss.classify(pr, ifindex)
}

// classifyScan is classify by a linear scan of the rules, in time
// proportional to their number: the definition of the answer, which tests
// check the tuple space against.
func (p *Pacer) classifyScan(pr *parsed, ifindex int) int {
	for i := range p.rules {
		if p.rules[i].matches(pr, ifindex) {
			return i
		}
	}
	return -1
}
