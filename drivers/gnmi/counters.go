package gnmi

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/qosplane/qosplane/offload"
)

// Counters reads, with one Subscribe SAMPLE (first sample, up to the sync
// response), the output queue counters (transmit and dropped packets and
// octets), the output scheduler counters (conforming, exceeding and
// violating packets and octets of a class's meter) and the input
// classifier term counters (matched packets and octets) of the plan's
// interfaces, and sums them per class (by queue, or by the scheduler that
// meters the class) and per rule (by classifier family and term id).
// Non-conforming counts are exceeding plus violating. Counts are
// cumulative as the switch reports them.
func (d *Driver) Counters(ctx context.Context) (*offload.Counters, error) {
	t, err := BuildTree(d.plan)
	if err != nil {
		return nil, err
	}
	out := &offload.Counters{Time: time.Now(), Classes: map[string]offload.ClassCounters{}, Rules: map[string]offload.RuleCounters{}}
	var paths []*gpb.Path
	for _, ifname := range t.Interfaces {
		ie := elem("interface", "interface-id", ifname)
		paths = append(paths,
			qosPath(elem("interfaces"), ie, elem("output"), elem("queues"), elem("queue", "name", "*"), elem("state")),
			qosPath(elem("interfaces"), ie, elem("input"), elem("classifiers"), elem("classifier", "type", "*"), elem("terms"), elem("term", "id", "*"), elem("state")),
			qosPath(elem("interfaces"), ie, elem("output"), elem("scheduler-policy"), elem("schedulers"), elem("scheduler", "sequence", "*"), elem("state")))
	}
	if len(paths) == 0 {
		return out, nil
	}
	for _, c := range d.plan.Classes {
		if c.Where.Placement != offload.Unsupported {
			out.Classes[c.Name] = offload.ClassCounters{ConfiguredRate: c.Rate, Where: offload.Hardware}
		}
	}
	err = subscribe(ctx, d.client, gpb.SubscriptionList_STREAM, paths, func(n *gpb.Notification, u *gpb.Update) error {
		p := joinPath(n.GetPrefix(), u.GetPath())
		v, ok := counterValue(u.GetVal())
		if !ok || len(p.Elem) == 0 {
			return nil
		}
		leaf := p.Elem[len(p.Elem)-1].Name
		if q := keyOf(p, "queue", "name"); q != "" {
			class, ok := t.QueueClass[q]
			if !ok {
				return nil
			}
			cc := out.Classes[class]
			switch leaf {
			case "transmit-pkts":
				cc.Packets += v
			case "transmit-octets":
				cc.Bytes += v
			case "dropped-pkts":
				cc.Drops += v
			case "dropped-octets":
				cc.DropBytes += v
			}
			out.Classes[class] = cc
			return nil
		}
		if seq := keyOf(p, "scheduler", "sequence"); seq != "" {
			n, err := strconv.ParseUint(seq, 10, 32)
			class, ok := t.MeterClass[uint32(n)]
			if err != nil || !ok {
				return nil
			}
			cc := out.Classes[class]
			switch leaf {
			case "conforming-pkts":
				cc.ConformingPackets += v
			case "conforming-octets":
				cc.ConformingBytes += v
			case "exceeding-pkts", "violating-pkts":
				cc.NonConformingPackets += v
			case "exceeding-octets", "violating-octets":
				cc.NonConformingBytes += v
			}
			out.Classes[class] = cc
			return nil
		}
		if id := keyOf(p, "term", "id"); id != "" {
			rule, ok := t.TermRule[t.Classifiers[keyOf(p, "classifier", "type")]+"/"+id]
			if !ok {
				return nil
			}
			rc := out.Rules[rule]
			rc.Where = offload.Hardware
			switch leaf {
			case "matched-packets":
				rc.Packets += v
				rc.HardwarePackets += v
			case "matched-octets":
				rc.Bytes += v
				rc.HardwareBytes += v
			}
			out.Rules[rule] = rc
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("target %q: counters: %w", d.plan.Target, err)
	}
	return out, nil
}

// keyOf returns the value of key in the last element of p named name.
func keyOf(p *gpb.Path, name, key string) string {
	for i := len(p.Elem) - 1; i >= 0; i-- {
		if p.Elem[i].Name == name {
			return p.Elem[i].Key[key]
		}
	}
	return ""
}

// counterValue reads an unsigned counter from a typed value.
func counterValue(v *gpb.TypedValue) (uint64, bool) {
	switch x := v.GetValue().(type) {
	case *gpb.TypedValue_UintVal:
		return x.UintVal, true
	case *gpb.TypedValue_IntVal:
		if x.IntVal >= 0 {
			return uint64(x.IntVal), true
		}
	case *gpb.TypedValue_JsonIetfVal:
		return jsonCounter(x.JsonIetfVal)
	case *gpb.TypedValue_JsonVal:
		return jsonCounter(x.JsonVal)
	}
	return 0, false
}

// jsonCounter reads a JSON counter: RFC 7951 writes 64-bit integers as
// strings ("123"), plain JSON as numbers.
func jsonCounter(b []byte) (uint64, bool) {
	n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(string(b)), `"`), 10, 64)
	return n, err == nil
}
