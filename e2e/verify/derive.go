package verify

import (
	"fmt"
	"net/netip"

	"github.com/qosplane/qosplane/e2e/vethlab"
	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// FlowTraffic is what the lab offers for one flow of the policy.
type FlowTraffic struct {
	Flow, Class string
	// NotVerified, when set, says why the flow cannot be exercised on the
	// lab; Gen is then unset.
	NotVerified string
	// Gen is the generator's flow: the derived packet, its size and the
	// offered rate (bit/s).
	Gen vethlab.Flow
	// Police is the flow's own policer rate in bit/s (0: none).
	Police float64
	// DSCP and PCP are the conforming marks the plan gives the flow.
	DSCP, PCP uint8
}

// ClassTraffic is what the lab offers one class.
type ClassTraffic struct {
	Plan offload.ClassPlan
	// Offered is the sum of its exercised flows' rates in bit/s; Admitted
	// what is left of it after the flows' own policers.
	Offered, Admitted float64
	// Flows are indexes into Traffic.Flows of the exercised flows.
	Flows []int
}

// Traffic is the load the lab offers a Setup.
type Traffic struct {
	Flows   []FlowTraffic
	Classes []ClassTraffic
	// Gen is the generator's list (exercised flows in Flows order), and
	// GenFlow[i] the index in Flows of Gen[i].
	Gen     []vethlab.Flow
	GenFlow []int
}

// Overload factors: a rated class is offered 1.5 times its rate, a flow
// policer 1.5 times its rate; a class without a rate (it takes what is
// left) fillShare of the port.
const (
	overFactor = 1.5
	fillShare  = 0.05
	classPPS   = 3000
)

// Derive builds the lab traffic for s: per flow a packet the flow matches
// and no earlier rule of the plan does, per class an offered rate above
// the class's rate, split among its flows.
func Derive(s *Setup) (*Traffic, error) {
	tp := s.Plan
	tr := &Traffic{}
	classIdx := map[string]int{}
	for _, cp := range tp.Classes {
		classIdx[cp.Name] = len(tr.Classes)
		tr.Classes = append(tr.Classes, ClassTraffic{Plan: cp})
	}
	rules := map[string]*offload.Rule{}
	var pacerRules []*offload.Rule
	for i := range tp.Rules {
		r := &tp.Rules[i]
		if r.Direction == offload.OnEgress && r.Where.Placement == offload.Pacer {
			rules[r.Flow] = r
			pacerRules = append(pacerRules, r)
		}
	}
	for _, f := range s.Policy.Flows {
		ci, ok := classIdx[f.Class]
		if !ok {
			continue // the class is not on this target
		}
		cp := &tr.Classes[ci].Plan
		ft := FlowTraffic{Flow: f.Name, Class: f.Class, DSCP: cp.Mark.DSCP, PCP: cp.Mark.PCP}
		if f.Remark.DSCP != nil {
			ft.DSCP = *f.Remark.DSCP
		}
		if f.Remark.PCP != nil {
			ft.PCP = *f.Remark.PCP
		}
		r := rules[f.Name]
		ft.NotVerified = unexercisable(&f, r)
		if ft.NotVerified == "" {
			pk, ok := derivePacket(r, pacerRules)
			if !ok {
				ft.NotVerified = "every packet it matches is taken by an earlier, more specific flow"
			} else {
				ft.Gen = pk.flow(f.Name)
			}
		}
		if f.Police != nil {
			ft.Police = float64(f.Police.Rate)
		}
		if ft.NotVerified == "" {
			tr.Classes[ci].Flows = append(tr.Classes[ci].Flows, len(tr.Flows))
		}
		tr.Flows = append(tr.Flows, ft)
	}
	port := float64(tp.Pacer.PortRate)
	for ci := range tr.Classes {
		tr.offer(&tr.Classes[ci], port)
	}
	for i, ft := range tr.Flows {
		if ft.NotVerified == "" {
			tr.Gen = append(tr.Gen, ft.Gen)
			tr.GenFlow = append(tr.GenFlow, i)
		}
	}
	if len(tr.Gen) == 0 {
		return tr, fmt.Errorf("target %s: no flow can be exercised on the lab", s.Target)
	}
	return tr, nil
}

// offer sets the rates of c's flows: a policed flow overFactor times its
// policer, the others share overFactor times the class's rate (a class
// without a rate: fillShare of the port), in frames sized for about
// classPPS frames a second per class (64 to 1000 bytes, at least the
// class's min-policed size, at most its MaxSDU): enough to measure a 1 s
// window to a few per mille, few enough that 200 flows stay within what
// the lab forwards.
func (tr *Traffic) offer(c *ClassTraffic, port float64) {
	if len(c.Flows) == 0 {
		return
	}
	cp := &c.Plan
	total := overFactor * float64(cp.Rate)
	if cp.Rate == 0 {
		total = fillShare * port
		if cp.Peak != 0 {
			total = min(total, overFactor*float64(cp.Peak))
		}
	}
	var free []int
	for _, fi := range c.Flows {
		if p := tr.Flows[fi].Police; p > 0 {
			tr.Flows[fi].Gen.Rate = uint64(overFactor * p)
			c.Admitted += p
		} else {
			free = append(free, fi)
		}
	}
	for _, fi := range free {
		tr.Flows[fi].Gen.Rate = uint64(total / float64(len(free)))
		c.Admitted += total / float64(len(free))
	}
	for _, fi := range c.Flows {
		g := &tr.Flows[fi].Gen
		c.Offered += float64(g.Rate)
		size := int(float64(g.Rate) / 8 / (classPPS / float64(len(c.Flows))))
		size = max(size, 64, int(cp.MinPoliced), vethlab.MinFrameOf(*g))
		size = min(size, 1000, max(int(cp.MaxSDU), vethlab.MinFrameOf(*g)))
		g.Size = size
	}
}

// unexercisable says why flow f (whose pacer rule is r, nil when it has
// none) cannot be sent through the lab, or "" when it can.
func unexercisable(f *model.Flow, r *offload.Rule) string {
	m := &f.Match
	switch {
	case f.Direction == model.Ingress:
		return "an ingress flow classifies received traffic; the lab sends through the pacer's egress"
	case m.Interface != "":
		return fmt.Sprintf("it matches interface %q, which the lab does not have", m.Interface)
	case m.Cgroup != "":
		return "it matches the sockets of a cgroup; the lab's generator has no sockets"
	case m.Protocol != 0 && m.Protocol != model.UDP && m.Protocol != model.TCP:
		return fmt.Sprintf("protocol %s: the lab's generator sends UDP and TCP only", m.Protocol)
	case r == nil:
		return "the plan has no pacer rule for it"
	}
	return ""
}

// packet is one derived packet (IPv4, or IPv6 for an IPv6 rule).
type packet struct {
	src, dst     netip.Addr
	proto        model.Protocol
	sport, dport uint16
	vlan         uint16
	dscp         uint8
}

func (p packet) flow(name string) vethlab.Flow {
	proto := uint8(vethlab.ProtoUDP)
	if p.proto == model.TCP {
		proto = vethlab.ProtoTCP
	}
	return vethlab.Flow{Name: name, Proto: proto, Src: p.src, Dst: p.dst, SrcPort: p.sport, DstPort: p.dport,
		VLAN: p.vlan, DSCP: p.dscp}
}

// matches reports whether m matches p as the pacer classifies: a rule
// with an interface never matches in the lab (its interfaces are pa and pb,
// which no policy names).
func matches(m *model.Match, p packet) bool {
	switch {
	case m.Interface != "" || m.Cgroup != "":
		return false
	case m.Family() == 6 && !p.src.Is6(), m.Family() == 4 && !p.src.Is4():
		return false
	case m.Src.IsValid() && !m.Src.Contains(p.src), m.Dst.IsValid() && !m.Dst.Contains(p.dst):
		return false
	case m.Protocol != 0 && m.Protocol != p.proto:
		return false
	case !m.SrcPort.IsZero() && (p.sport < m.SrcPort.Lo || p.sport > m.SrcPort.Hi):
		return false
	case !m.DstPort.IsZero() && (p.dport < m.DstPort.Lo || p.dport > m.DstPort.Hi):
		return false
	case m.VLAN != 0 && p.vlan != m.VLAN:
		return false
	case m.DSCP != nil && *m.DSCP != p.dscp:
		return false
	}
	return true
}

// maxCandidates bounds the search for one flow's packet.
const maxCandidates = 50000

// derivePacket finds a packet that r matches and no rule evaluated before
// it (lower precedence) does; rules is the pacer's rules in evaluation
// order.
func derivePacket(r *offload.Rule, rules []*offload.Rule) (packet, bool) {
	m := &r.Match
	var earlier []*model.Match
	for _, o := range rules {
		if o.Precedence < r.Precedence && o.Match.Overlaps(m) {
			earlier = append(earlier, &o.Match)
		}
	}
	srcs := addrCandidates(m.Src, "10.99.0.1", "198.19.0.1", "192.0.2.1", "100.64.0.1")
	dsts := addrCandidates(m.Dst, "198.18.0.2", "198.51.100.2", "203.0.113.2", "100.64.1.2")
	if m.Family() == 6 {
		// Documentation (2001:db8::/32) and ULA addresses; a prefix of
		// the match overrides them.
		srcs = addrCandidates(m.Src, "2001:db8:99::1", "fd00:99::1", "2001:db8:ffff::1")
		dsts = addrCandidates(m.Dst, "2001:db8:18::2", "fd00:18::2", "2001:db8:fffe::2")
	}
	protos := []model.Protocol{m.Protocol}
	if m.Protocol == 0 {
		protos = []model.Protocol{model.UDP, model.TCP}
	}
	sports := portCandidates(m.SrcPort, 49152, 50001, 61000, 1024, 33000)
	dports := portCandidates(m.DstPort, 9, 33434, 65000, 7, 50002)
	vlans := []uint16{m.VLAN}
	if m.VLAN == 0 {
		vlans = []uint16{0, 4001, 3001}
	}
	dscps := []uint8{0, 1, 7, 13, 33, 63}
	if m.DSCP != nil {
		dscps = []uint8{*m.DSCP}
	}
	n := 0
	for _, vlan := range vlans {
		for _, dscp := range dscps {
			for _, proto := range protos {
				for _, dport := range dports {
					for _, sport := range sports {
						for _, dst := range dsts {
							for _, src := range srcs {
								if n++; n > maxCandidates {
									return packet{}, false
								}
								p := packet{src: src, dst: dst, proto: proto, sport: sport, dport: dport, vlan: vlan, dscp: dscp}
								if !matches(m, p) {
									continue
								}
								taken := false
								for _, e := range earlier {
									if matches(e, p) {
										taken = true
										break
									}
								}
								if !taken {
									return p, true
								}
							}
						}
					}
				}
			}
		}
	}
	return packet{}, false
}

// addrCandidates returns addresses in prefix p (first and last host, the
// middle and a few more), or defaults when p is unset.
func addrCandidates(p model.Prefix, defaults ...string) []netip.Addr {
	if !p.IsValid() {
		out := make([]netip.Addr, len(defaults))
		for i, d := range defaults {
			out[i] = netip.MustParseAddr(d)
		}
		return out
	}
	if p.Addr().Is6() {
		return addr6Candidates(p.Prefix)
	}
	base := p.Masked().Addr().As4()
	u := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	host := uint32(1)<<(32-p.Bits()) - 1
	if p.Bits() == 0 {
		host = ^uint32(0)
	}
	var out []netip.Addr
	seen := map[uint32]bool{}
	for _, off := range []uint32{1, host - 1, host / 2, host / 4, 3 * host / 4, host / 3, 0, host} {
		if off > host || seen[off] {
			continue
		}
		seen[off] = true
		v := u | off
		out = append(out, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return out
}

// addr6Candidates returns addresses in IPv6 prefix p: host parts 1, 2,
// all ones but the last bit, all ones, the top host bit alone, and 0.
func addr6Candidates(p netip.Prefix) []netip.Addr {
	base := p.Masked().Addr().As16()
	hostBits := 128 - p.Bits()
	with := func(set func(i int) bool) netip.Addr {
		a := base
		for i := range hostBits { // bit i counted from the address's end
			if set(i) {
				a[15-i/8] |= 1 << (i % 8)
			}
		}
		return netip.AddrFrom16(a)
	}
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, set := range []func(int) bool{
		func(i int) bool { return i == 0 },
		func(i int) bool { return i == 1 },
		func(i int) bool { return i != 0 },
		func(int) bool { return true },
		func(i int) bool { return i == hostBits-1 },
		func(int) bool { return false },
	} {
		if a := with(set); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// portCandidates returns ports in r (low, high, middle, quarters), or
// defaults when r is unset.
func portCandidates(r model.PortRange, defaults ...uint16) []uint16 {
	if r.IsZero() {
		return defaults
	}
	lo, hi := uint32(r.Lo), uint32(r.Hi)
	var out []uint16
	seen := map[uint32]bool{}
	for _, v := range []uint32{lo, hi, (lo + hi) / 2, lo + (hi-lo)/4, lo + 3*(hi-lo)/4, lo + 1, hi - 1} {
		if v < lo || v > hi || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, uint16(v))
	}
	return out
}
