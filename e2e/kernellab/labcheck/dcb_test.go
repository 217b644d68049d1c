package labcheck

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/qtnstate"
)

const dcbBin = "/usr/sbin/dcb"

func dcb(args ...string) (string, error) { return run(dcbBin, args...) }

// IEEE ETS and the DSCP app table set with iproute2's dcb land in the module;
// an unsupported TSA is refused; fail_nth covers DCB sets too.
func TestDCBEtsAndApp(t *testing.T) {
	requireLab(t)
	if _, err := os.Stat(dcbBin); err != nil {
		if os.Getenv("QOSPLANE_KERNEL_LAB") == "1" {
			t.Fatalf("%s missing in the lab", dcbBin)
		}
		t.Skipf("%s missing", dcbBin)
	}
	const dev = "qtn1"
	if out, err := dcb("ets", "set", "dev", dev, "tc-tsa", "all:ets", "tc-bw", "0:60", "1:40",
		"2:0", "3:0", "4:0", "5:0", "6:0", "7:0", "prio-tc", "0:0", "1:1", "2:1", "3:0", "4:0", "5:1", "6:0", "7:0"); err != nil {
		t.Fatalf("dcb ets set: %v\n%s", err, out)
	}
	s := state(t, dev)
	if s.DCB == nil || s.DCB.ETS == nil {
		t.Fatalf("no ETS in state: %+v", s.DCB)
	}
	if !reflect.DeepEqual(s.DCB.ETS.TcTxBW, []int{60, 40, 0, 0, 0, 0, 0, 0}) ||
		!reflect.DeepEqual(s.DCB.ETS.PrioTC, []int{0, 1, 1, 0, 0, 1, 0, 0}) {
		t.Errorf("ETS = %+v", *s.DCB.ETS)
	}
	// iproute2 itself refuses bandwidths that do not sum to 100; the module
	// refuses a transmission selection algorithm it does not implement.
	// dcbnl reports a driver's refusal inside its reply (DCB_ATTR_IEEE), not
	// as a netlink error, and iproute2 6.1's dcb exits 0 anyway: the module's
	// state is what tells.
	_, _ = dcb("ets", "set", "dev", dev, "tc-tsa", "2:cbs")
	s = state(t, dev)
	wantLastError(t, s, "dcb", "qostestnic: Failed to validate ETS: unsupported TSA")
	if !reflect.DeepEqual(s.DCB.ETS.TcTxBW, []int{60, 40, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("refused ETS changed the state: %+v", *s.DCB.ETS)
	}

	if out, err := dcb("app", "add", "dev", dev, "dscp-prio", "46:5"); err != nil {
		t.Fatalf("dcb app add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = dcb("app", "del", "dev", dev, "dscp-prio", "46:5") })
	if out, _ := dcb("app", "show", "dev", dev); !strings.Contains(out, "46:5") {
		t.Errorf("dcb app show: %q", out)
	}
	apps := state(t, dev).DCB.App
	if len(apps) != 1 || apps[0].Selector != 5 || apps[0].Protocol != 46 || apps[0].Priority != 5 {
		t.Errorf("apps = %+v", apps)
	}

	t.Cleanup(func() { _ = qtnstate.SetFailNth(0) })
	if err := qtnstate.SetFailNth(1); err != nil {
		t.Fatal(err)
	}
	_, _ = dcb("app", "add", "dev", dev, "dscp-prio", "26:3")
	s = state(t, dev)
	wantLastError(t, s, "dcb", "qostestnic: injected failure")
	if len(s.DCB.App) != 1 {
		t.Errorf("failed app add changed the table: %+v", s.DCB.App)
	}
	if out, err := dcb("app", "del", "dev", dev, "dscp-prio", "46:5"); err != nil {
		t.Fatalf("dcb app del: %v\n%s", err, out)
	}
	if apps := state(t, dev).DCB.App; len(apps) != 0 {
		t.Errorf("after del apps = %+v", apps)
	}
}
