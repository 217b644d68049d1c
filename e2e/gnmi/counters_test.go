package gnmi_test

import (
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
)

func uintVal(v uint64) *gpb.TypedValue {
	return &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: v}}
}

// TestCounters: queue and term counters injected as operational state
// (gnmi-mode=state) are read back with Subscribe SAMPLE and summed per
// class over both interfaces (queues, and the scheduler metering the
// class), and per rule.
func TestCounters(t *testing.T) {
	tg, tp, d, ctx := labApplied(t)

	c := tg.client(t)
	queue := func(ifname, q, leaf string, v uint64) *gpb.Update {
		return &gpb.Update{Path: qp(el("interfaces"), el("interface", "interface-id", ifname), el("output"), el("queues"),
			el("queue", "name", q), el("state"), el(leaf)), Val: uintVal(v)}
	}
	term := func(ifname, typ, id, leaf string, v uint64) *gpb.Update {
		return &gpb.Update{Path: qp(el("interfaces"), el("interface", "interface-id", ifname), el("input"), el("classifiers"),
			el("classifier", "type", typ), el("terms"), el("term", "id", id), el("state"), el(leaf)), Val: uintVal(v)}
	}
	sched := func(ifname string, seq, leaf string, v uint64) *gpb.Update {
		return &gpb.Update{Path: qp(el("interfaces"), el("interface", "interface-id", ifname), el("output"), el("scheduler-policy"),
			el("schedulers"), el("scheduler", "sequence", seq), el("state"), el(leaf)), Val: uintVal(v)}
	}
	setState(t, c,
		// Scheduler 1 meters video (two-rate-three-color).
		sched("Ethernet1", "1", "conforming-pkts", 900),
		sched("Ethernet1", "1", "exceeding-pkts", 60),
		sched("Ethernet2", "1", "violating-pkts", 40),
		sched("Ethernet2", "1", "violating-octets", 60_000),
		queue("Ethernet1", "qosplane-lab--voice", "transmit-pkts", 1000),
		queue("Ethernet2", "qosplane-lab--voice", "transmit-pkts", 234),
		queue("Ethernet1", "qosplane-lab--voice", "transmit-octets", 1_500_000),
		queue("Ethernet1", "qosplane-lab--scavenger", "dropped-pkts", 77),
		queue("Ethernet2", "qosplane-lab--scavenger", "dropped-octets", 9000),
		term("Ethernet1", "IPV4", "00010-sip", "matched-packets", 555),
		term("Ethernet2", "IPV4", "00010-sip", "matched-packets", 5),
		term("Ethernet1", "IPV6", "00040-backup6", "matched-octets", 4242),
	)
	got, err := d.Counters(ctx)
	mustf(t, err, "counters")
	voice, scav := got.Classes["voice"], got.Classes["scavenger"]
	if voice.Packets != 1234 || voice.Bytes != 1_500_000 {
		t.Errorf("voice = %+v, want 1234 packets, 1500000 bytes", voice)
	}
	if scav.Drops != 77 || scav.DropBytes != 9000 {
		t.Errorf("scavenger = %+v, want 77 drops, 9000 drop bytes", scav)
	}
	if voice.ConfiguredRate != 10_000_000 {
		t.Errorf("voice configured rate = %d", voice.ConfiguredRate)
	}
	if v := got.Classes["video"]; v.ConformingPackets != 900 || v.NonConformingPackets != 100 || v.NonConformingBytes != 60_000 {
		t.Errorf("video meter = %+v, want 900 conforming, 100 non-conforming packets, 60000 bytes", v)
	}
	sip := got.Rules["sip/classifier/qosplane-lab--ipv4"]
	if sip.Packets != 560 || sip.HardwarePackets != 560 {
		t.Errorf("sip rule = %+v, want 560 packets", sip)
	}
	if b := got.Rules["backup6/classifier/qosplane-lab--ipv6"].Bytes; b != 4242 {
		t.Errorf("backup6 bytes = %d, want 4242", b)
	}
	// State injection is not configuration: a sync still sends nothing.
	res, err := d.Sync(ctx, tp)
	mustf(t, err, "sync")
	if res.Changed {
		t.Errorf("counters made the driver see drift: %v", res.Paths)
	}
}
