package dcbnl

import (
	"reflect"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/nla"
	"github.com/qosplane/qosplane/offload"
)

// ieeePayload returns the DCB_ATTR_IEEE payload a set of d carries, which
// is what a device holding d answers to DCB_CMD_IEEE_GET.
func ieeePayload(t *testing.T, d *offload.DCB) []byte {
	t.Helper()
	body, err := EncodeSet("qtn0", d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nla.Map(body[4:])
	if err != nil {
		t.Fatal(err)
	}
	return m[AttrIEEE]
}

func TestDCBReadBack(t *testing.T) {
	rec := &offload.DCB{PrioTC: [8]uint8{0, 0, 0, 1, 2}, Strict: []int{2}, Bandwidth: [8]uint8{70, 30},
		MaxRate: [8]uint64{1: 10_000_000_000}, PFC: []uint8{3, 5},
		App: []offload.DSCPPrio{{DSCP: 26, Priority: 3}, {DSCP: 46, Priority: 4}}}
	g, err := ParseIEEE(ieeePayload(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	if !g.Holds(rec) {
		t.Fatal("a device holding the recorded DCB does not match it")
	}
	if got := g.Decode(rec); !reflect.DeepEqual(got, rec) {
		t.Fatalf("decode %+v, want %+v", got, rec)
	}
	drift := *rec
	drift.Bandwidth = [8]uint8{40, 60}
	drift.App = rec.App[1:]
	g, _ = ParseIEEE(ieeePayload(t, &drift))
	if g.Holds(rec) {
		t.Fatal("changed ETS shares and a missing app entry read as the recorded DCB")
	}
	if got := g.Decode(rec); got.Bandwidth != drift.Bandwidth || len(got.App) != 1 {
		t.Fatalf("decode of the drifted device %+v", got)
	}
	// A device that reports no max rates is not compared on them.
	g.maxrate = nil
	g.ets, g.apps = nil, rec.App
	if !g.Holds(rec) {
		t.Fatal("an unreported part made the device differ")
	}
	if apps, _ := PresentApps(ieeePayload(t, &drift), rec.App); !reflect.DeepEqual(apps, drift.App) {
		t.Fatalf("present apps %v, want %v", apps, drift.App)
	}
}
