package offload

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/qosplane/qosplane/model"
)

// WriteText prints the plan for people: per target, where each class and
// rule runs and why, the queue layout, and the notes.
func (p *Plan) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("policy %s\n", p.Policy)
	for _, tp := range p.Targets {
		ew.printf("\n")
		tp.writeText(ew)
	}
	return ew.err
}

func (tp *TargetPlan) writeText(ew *errWriter) {
	ew.printf("target %s (%s, profile %s", tp.Target, tp.Kind, tp.Profile)
	if tp.Capacity != 0 {
		ew.printf(", capacity %v", tp.Capacity)
	}
	ew.printf(")\n")
	if tp.Pacer != nil {
		ew.printf("  pacer: %s on %s", tp.Pacer.Mode, tp.Pacer.Interface)
		if tp.Pacer.Peer != "" {
			ew.printf(" -> %s", tp.Pacer.Peer)
		}
		ew.printf(", port rate %v\n", tp.Pacer.PortRate)
		if sl := tp.Pacer.SlowLink; sl != nil {
			ew.printf("  slow link: port rate < %v and class %s bounds delay to %v: best-effort frames <= %v (%v at the port rate), TCP MSS clamped to %d (IPv4) / %d (IPv6), IPv4 datagrams without DF fragmented\n",
				sl.Below, sl.Class, sl.Latency, sl.Frame, serialisation(sl.Frame, tp.Pacer.PortRate), sl.MSS4, sl.MSS6)
		}
	}
	if q := tp.Queues; q != nil {
		ew.printf("  queues: mqprio channel mode, %d TCs, prio->tc %v\n", q.NumTC, q.PrioTC)
		for _, tc := range q.TCs {
			ew.printf("    tc %d: queues %d@%d min %s max %s  [%s]\n", tc.Index, tc.Count, tc.Offset,
				rateOrDash(tc.MinRate), rateOrDash(tc.MaxRate), strings.Join(tc.Classes, ", "))
		}
	}
	if h := tp.HTB; h != nil {
		ew.printf("  queues: root htb %x: offload, %s, default class %s; top class %x:%x rate = ceil %v\n", h.Handle, h.Where, h.Default, h.Handle, htbTopMinor, h.Rate)
		ew.printf("    why htb: %s\n", h.Why)
		for _, c := range h.Classes {
			ew.printf("    class %x:%x parent %x:%x rate %v ceil %v burst %v", h.Handle, c.Minor, h.Handle, htbTopMinor, c.Rate, c.Ceil, c.Burst)
			if c.Share != 0 {
				ew.printf(" (device: rate as %d%% of the top class's ceil)", c.Share)
			}
			ew.printf("  [%s]\n", c.Class)
		}
	}
	ew.printf("  classes:\n")
	tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "    NAME\tSERVICE\tPRIO\tWEIGHT\tRATE\tPEAK\tBUCKET\tMODE\tMARK\tNON-CONF\tTC/QUEUE\tWHERE\n")
	for _, c := range tp.Classes {
		where := c.Queue
		if tp.Kind == model.NIC {
			where = fmt.Sprint(c.TC)
		}
		if h := tp.HTB; h != nil {
			if hc := h.Class(c.Name); hc != nil {
				where = fmt.Sprintf("htb %x:%x", h.Handle, hc.Minor)
			}
		}
		fmt.Fprintf(tw, "    %s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\tdscp %d pcp %d\tdscp %d pcp %d\t%s\t%s\n",
			c.Name, c.Service, c.Priority, c.Weight, rateOrDash(c.Rate), rateOrDash(c.Peak), sizeOrDash(c.Bucket),
			c.NonConforming, c.Mark.DSCP, c.Mark.PCP, c.MarkNonConforming.DSCP, c.MarkNonConforming.PCP, where, c.Where)
	}
	tw.Flush()
	if len(tp.Rules) > 0 {
		ew.printf("  rules (evaluation order):\n")
		tw = tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "    PREC\tID\tMATCH\tACTIONS\tWHERE\n")
		for _, r := range tp.Rules {
			fmt.Fprintf(tw, "    %d\t%s\t%s\t%s\t%s\n", r.Precedence, r.ID, MatchString(&r.Match), actionsString(r.Actions, r.Class), r.Where)
		}
		tw.Flush()
	}
	if d := tp.DCB; d != nil {
		ew.printf("  dcb: prio->tc %v strict %v ets %v pfc %v app %v\n", d.PrioTC, d.Strict, d.Bandwidth, d.PFC, d.App)
	}
	for _, r := range tp.RoCE {
		ew.printf("  roce: class %s default tos %#02x\n", r.Class, r.TOS)
	}
	if sp := tp.SRIOV; sp != nil {
		sp.writeText(ew)
	}
	for _, n := range tp.Notes {
		ew.printf("  note: %s\n", n)
	}
	h, s, pc, u := tp.Placements()
	ew.printf("  summary: %d hardware, %d software, %d pacer, %d unsupported", h, s, pc, u)
	if n := tp.SocketRules(); n > 0 {
		ew.printf(", %d socket", n)
	}
	ew.printf("\n")
}

// Placements counts the target's classes and rules by placement.
func (tp *TargetPlan) Placements() (hardware, software, pacer, unsupported int) {
	count := func(p Placement) {
		switch p {
		case Hardware:
			hardware++
		case Software:
			software++
		case Pacer:
			pacer++
		case Unsupported:
			unsupported++
		}
	}
	for _, c := range tp.Classes {
		count(c.Where.Placement)
	}
	for _, r := range tp.Rules {
		count(r.Where.Placement)
	}
	if tp.SRIOV != nil {
		for _, v := range tp.SRIOV.VFs {
			count(v.Where.Placement)
		}
	}
	return
}

// writeText prints the SR-IOV mode, the rate groups and one line per VF:
// what goes to hardware, with min/max in bit/s as rounded.
func (sp *SRIOVPlan) writeText(ew *errWriter) {
	ew.printf("  sriov: %s mode, %d VFs, %s\n", sp.Mode, len(sp.VFs), sp.Where)
	for _, g := range sp.Groups {
		ew.printf("    group %s: min %s max %s\n", g.Name, rateOrDash(g.Min), rateOrDash(g.Max))
	}
	tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "    VF\tCLASS\tMIN\tMAX\tGROUP\tVLAN/QOS\tTRUST\tWHERE\n")
	for _, v := range sp.VFs {
		vlan, trust, class, group := "-", "-", v.Class, v.Group
		if v.VLAN != 0 {
			vlan = fmt.Sprintf("%d/%d", v.VLAN, v.QoS)
		}
		if v.Trust != nil {
			trust = fmt.Sprint(*v.Trust)
		}
		if class == "" {
			class = "-"
		}
		if group == "" {
			group = "-"
		}
		fmt.Fprintf(tw, "    %d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.VF, class, rateOrDash(v.Min), rateOrDash(v.Max), group, vlan, trust, v.Where)
	}
	tw.Flush()
}

// SocketRules counts the target's rules placed on sockets (cgroup flows).
func (tp *TargetPlan) SocketRules() int {
	n := 0
	for _, r := range tp.Rules {
		if r.Where.Placement == Socket {
			n++
		}
	}
	return n
}

func (w Where) String() string {
	if w.Reason == "" {
		return string(w.Placement)
	}
	return string(w.Placement) + " (" + w.Reason + ")"
}

// MatchString renders a match compactly, e.g. "udp 10.0.0.0/24 -> :4791".
func MatchString(m *model.Match) string {
	var parts []string
	if m.Cgroup != "" {
		parts = append(parts, "cgroup "+m.Cgroup)
	}
	if m.Interface != "" {
		parts = append(parts, "dev "+m.Interface)
	}
	if m.VLAN != 0 {
		parts = append(parts, fmt.Sprintf("vlan %d", m.VLAN))
	}
	if m.DSCP != nil {
		parts = append(parts, fmt.Sprintf("dscp %d", *m.DSCP))
	}
	if m.Protocol != 0 {
		parts = append(parts, m.Protocol.String())
	}
	end := func(p model.Prefix, r model.PortRange) string {
		s := "*"
		if p.IsValid() {
			s = p.String()
		}
		if !r.IsZero() {
			s += ":" + r.String()
		}
		return s
	}
	if m.Src.IsValid() || m.Dst.IsValid() || !m.SrcPort.IsZero() || !m.DstPort.IsZero() {
		parts = append(parts, end(m.Src, m.SrcPort)+" -> "+end(m.Dst, m.DstPort))
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " ")
}

func actionsString(as []Action, class string) string {
	var parts []string
	for _, a := range as {
		switch a.Kind {
		case SetPriority:
			if a.Priority > 0xffff {
				parts = append(parts, fmt.Sprintf("priority %x:%x", a.Priority>>16, a.Priority&0xffff))
			} else {
				parts = append(parts, fmt.Sprintf("priority %d", a.Priority))
			}
		case SteerTC:
			parts = append(parts, fmt.Sprintf("hw_tc %d", a.TC))
		case SteerQueue:
			parts = append(parts, fmt.Sprintf("ntuple queue %d (tc %d)", a.Queue, a.TC))
		case SetDSCP:
			parts = append(parts, fmt.Sprintf("dscp %d", a.DSCP))
		case SetPCP:
			parts = append(parts, fmt.Sprintf("pcp %d", a.PCP))
		case SetClass:
			parts = append(parts, "class "+class)
		case Police:
			s := fmt.Sprintf("police %v burst %v", a.Rate, a.Burst)
			if a.Peak != 0 {
				s += fmt.Sprintf(" peak %v", a.Peak)
			}
			if e := a.Exceed; e != nil {
				if e.Drop {
					s += " exceed drop"
				} else {
					s += fmt.Sprintf(" exceed dscp %d pcp %d prio %d", e.DSCP, e.PCP, e.DemotePriority)
				}
			}
			if a.Shared != "" {
				s += " shared " + a.Shared
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func rateOrDash(r model.Rate) string {
	if r == 0 {
		return "-"
	}
	return r.String()
}

func sizeOrDash(s model.Size) string {
	if s == 0 {
		return "-"
	}
	return s.String()
}

// errWriter keeps the first write error so printing code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
