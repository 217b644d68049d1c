package offload

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/qosplane/qosplane/model"
)

// HTBCaps describe a NIC's offloaded HTB (tc qdisc ... htb offload, Linux
// 5.12+): a tree of classes with a rate (minimum) and a ceil (maximum) each,
// scheduled by the device.
type HTBCaps struct {
	// MaxLeaves is the most leaf classes (each takes a QoS send queue);
	// zero = no limit.
	MaxLeaves int `yaml:"max-leaves" json:"max_leaves,omitempty"`
	// CeilGranularity: the device holds a class's ceil as a multiple of it,
	// rounded down (mlx5: Mbit/s); zero = 1 bit/s.
	CeilGranularity model.Rate `yaml:"ceil-granularity" json:"ceil_granularity,omitempty"`
	// SharePercent: the device holds a class's rate as a whole percent
	// (1-100) of its parent's ceil (mlx5's bw_share), not as a rate.
	SharePercent bool `yaml:"share-percent" json:"share_percent,omitempty"`
}

// HTBHandle is the major number of qosplane's root HTB qdisc (5152:). It is
// in the plan because the classes' skb priorities are its classids.
const HTBHandle = 0x5152

// htbTopMinor is the minor of the class under the qdisc that holds the link
// rate; the policy's classes are its children.
const htbTopMinor = 1

// HTBPlan is a NIC's offloaded HTB tree: a top class at the link rate and a
// leaf class per policy class. Rates are bit/s as the device holds them
// (after the profile's rounding); the driver sends bytes/s.
type HTBPlan struct {
	// Handle is the qdisc's major number; a class's id is Handle:Minor,
	// and skb priority Handle<<16|Minor sends a packet to it.
	Handle uint16 `json:"handle"`
	// Default is the class unclassified traffic goes to (the qdisc's
	// defcls): the lowest-priority class.
	Default string `json:"default"`
	// Rate is the top class's rate and ceil: the link.
	Rate    model.Rate `json:"rate"`
	Classes []HTBClass `json:"classes"`
	Where   Where      `json:"where"`
	// Why says why the compiler chose HTB over mqprio.
	Why string `json:"why"`
}

// HTBClass is one leaf class: the policy class it carries, its minor
// number, rate (minimum) and ceil (maximum) in bit/s and its burst in bytes.
type HTBClass struct {
	Class string     `json:"class"`
	Minor uint16     `json:"minor"`
	Rate  model.Rate `json:"rate"`
	Ceil  model.Rate `json:"ceil"`
	Burst model.Size `json:"burst"`
	// Share is the rate as the device holds it, in percent of the top
	// class's ceil, when the profile says so (HTBCaps.SharePercent).
	Share uint8 `json:"share,omitempty"`
}

// ClassID returns the class's skb priority / classid (Handle:Minor).
func (h *HTBPlan) ClassID(minor uint16) uint32 { return uint32(h.Handle)<<16 | uint32(minor) }

// Class returns the leaf that carries policy class name, or nil.
func (h *HTBPlan) Class(name string) *HTBClass {
	for i := range h.Classes {
		if h.Classes[i].Class == name {
			return &h.Classes[i]
		}
	}
	return nil
}

// htbChoice says whether the target's classes go to offloaded HTB rather
// than mqprio: the profile offers it and a class has a minimum rate mqprio
// cannot carry or borrows. The reason is the plan's Why, or the note that
// says why not.
func (cc *compiler) htbChoice() (use bool, reason string) {
	c := cc.caps
	if c.HTB == nil {
		return false, ""
	}
	var minRates, borrows []string
	for _, cl := range cc.classes {
		if cl.Rate == 0 {
			continue
		}
		if cl.NonConforming == model.Borrow {
			borrows = append(borrows, cl.Name)
		}
		if !c.MinRate || cl.NonConforming == model.Borrow {
			minRates = append(minRates, cl.Name)
		}
	}
	if len(minRates) == 0 {
		return false, fmt.Sprintf("%s offers HTB offload, but no class has a minimum rate or borrows: mqprio keeps strict priority between TCs (offloaded HTB takes no prio)", c.Profile)
	}
	for _, cl := range cc.classes {
		if cl.PFC || cl.RoCE {
			return false, fmt.Sprintf("HTB offload not used: class %s needs DCB (PFC or RoCE), whose ETS schedules mqprio's TCs; HTB's leaves are outside them", cl.Name)
		}
	}
	if cc.tp.Capacity == 0 {
		return false, "HTB offload not used: its top class needs the link rate (no capacity given or probed)"
	}
	if roundDown(cc.tp.Capacity, c.HTB.CeilGranularity) == 0 {
		return false, fmt.Sprintf("HTB offload not used: the link rate %v is below %s's ceil granularity %v", cc.tp.Capacity, c.Profile, c.HTB.CeilGranularity)
	}
	if c.HTB.MaxLeaves > 0 && len(cc.classes) > c.HTB.MaxLeaves {
		return false, fmt.Sprintf("HTB offload not used: %d classes, %s takes %d leaf classes", len(cc.classes), c.Profile, c.HTB.MaxLeaves)
	}
	why := fmt.Sprintf("class%s %s ha%s a minimum rate", plural(minRates, "", "es"), strings.Join(minRates, ", "), plural(minRates, "s", "ve"))
	if len(borrows) > 0 {
		why += fmt.Sprintf(" (%s borrow%s up to %s ceil)", strings.Join(borrows, ", "), plural(borrows, "s", ""), plural(borrows, "its", "their"))
	}
	if c.MinRate {
		why += ": mqprio's TC shaper cannot lend unused rate between TCs"
	} else {
		why += fmt.Sprintf(": %s's mqprio channel mode takes max rates only", c.Profile)
	}
	return true, why + "; offloaded HTB holds rate (min) and ceil (max) per class in hardware"
}

func plural(l []string, one, many string) string {
	if len(l) == 1 {
		return one
	}
	return many
}

// compileHTB plans the classes as leaves of an offloaded HTB tree. The
// kernel's offloaded HTB refuses prio, quantum, overhead and mpu on its
// classes (sch_htb.c htb_change_class), so strict priority between classes
// is not enforced in hardware: the plan says so. Egress rules pick a class
// with skbedit priority Handle:Minor (htb_classify), as mqprio's do with a
// TC's priority; received traffic has no TC to be steered to.
func (cc *compiler) compileHTB(why string) {
	tp, c := cc.tp, cc.caps
	h := &HTBPlan{Handle: HTBHandle, Where: Where{Placement: Hardware}, Why: why}
	g := c.HTB.CeilGranularity
	h.Rate = roundDown(tp.Capacity, g)
	if h.Rate != tp.Capacity {
		cc.notef("htb: link rate %v rounded down to %v (%s ceil granularity %v)", tp.Capacity, h.Rate, c.Profile, g)
	}
	sorted := slices.Clone(cc.classes)
	slices.SortStableFunc(sorted, func(a, b *model.Class) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	h.Default = sorted[0].Name
	minors := htbMinors(cc.classes)
	levels := map[uint8]bool{}
	for _, cl := range cc.classes {
		levels[cl.Priority] = true
		cp := cc.classPlan(cl)
		hc := HTBClass{Class: cl.Name, Minor: minors[cl.Name], Burst: cl.Bucket}
		hc.Rate, hc.Ceil = cl.Rate, htbCeil(cl, h.Rate)
		if hc.Rate == 0 {
			hc.Rate = max(g, 1)
			cc.notef("class %s has no rate: an HTB class needs one, it gets %v", cl.Name, hc.Rate)
		}
		if r := roundDown(hc.Ceil, g); r != hc.Ceil {
			cc.notef("class %s: ceil %v rounded down to %v (%s ceil granularity %v)", cl.Name, hc.Ceil, max(r, g), c.Profile, g)
			hc.Ceil = max(r, g)
		}
		if hc.Ceil > h.Rate {
			cc.notef("class %s: ceil %v above the link, %v", cl.Name, hc.Ceil, h.Rate)
			hc.Ceil = h.Rate
		}
		hc.Rate = min(hc.Rate, hc.Ceil)
		if hc.Burst == 0 {
			hc.Burst = cl.MaxSDU
		}
		if c.HTB.SharePercent {
			pct := uint64(hc.Rate) * 100 / uint64(h.Rate)
			hc.Share = uint8(min(max(pct, 1), 100))
			if held := model.Rate(uint64(h.Rate) / 100 * uint64(hc.Share)); held != hc.Rate {
				cc.notef("class %s: rate %v is held as %d%% of the link's %v (%v) by %s", cl.Name, hc.Rate, hc.Share, h.Rate, held, c.Profile)
			}
		}
		cp.SkbPriority = h.ClassID(hc.Minor)
		tp.Classes = append(tp.Classes, cp)
		h.Classes = append(h.Classes, hc)
	}
	if len(levels) > 1 {
		cc.notef("offloaded HTB takes no prio (sch_htb.c htb_change_class refuses it): the classes' %d priority levels are not enforced in hardware, their rates and ceils are", len(levels))
	}
	tp.HTB = h
	for i := range tp.Classes {
		cc.placeClass(&tp.Classes[i])
	}
	cc.nicRules()
}

// htbCeil is the most a class may send: its rate when shaped or discarding
// above it, its peak (or the link) when it borrows or has no rate.
func htbCeil(cl *model.Class, link model.Rate) model.Rate {
	switch {
	case cl.Rate == 0:
		return link
	case cl.NonConforming == model.Borrow && cl.Peak != 0:
		return cl.Peak
	case cl.NonConforming == model.Borrow:
		return link
	}
	return cl.Rate
}

func roundDown(r, g model.Rate) model.Rate {
	if g <= 1 {
		return r
	}
	return r / g * g
}

// htbMinors gives each class a minor number from a hash of its name
// (0x10-0xfff0, the next free one on a collision, in name order), so that a
// class keeps its classid, and its rules their skb priority, when other
// classes come and go.
func htbMinors(classes []*model.Class) map[string]uint16 {
	names := make([]string, len(classes))
	for i, cl := range classes {
		names[i] = cl.Name
	}
	slices.Sort(names)
	out := make(map[string]uint16, len(names))
	used := map[uint16]bool{}
	const lo, span = 0x10, 0xfff0 - 0x10
	for _, n := range names {
		h := fnv.New32a()
		h.Write([]byte(n))
		m := uint16(lo + h.Sum32()%span)
		for used[m] {
			m = uint16(lo + (uint32(m)-lo+1)%span)
		}
		used[m] = true
		out[n] = m
	}
	return out
}
