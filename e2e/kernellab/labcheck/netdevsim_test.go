package labcheck

import (
	"strconv"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/e2e/kernellab/labtest"
	"github.com/qosplane/qosplane/e2e/kernellab/nsim"
)

// netdevsim (built from the lab kernel's own source) makes a device, takes
// VFs up to its default maximum and refuses more, goes to switchdev mode,
// and shows a VF's devlink rate set by iproute2 in its debugfs, in Mbit/s.
func TestNetdevsimVFsAndDevlinkRate(t *testing.T) {
	d := labtest.NeedNetdevsim(t, 1, 1)
	dl := labtest.DevlinkPath()
	if err := d.SetVFs(nsim.DefaultMaxVFs + 1); err == nil {
		t.Fatalf("sriov_numvfs %d accepted; want refused (max_vfs %d)", nsim.DefaultMaxVFs+1, nsim.DefaultMaxVFs)
	}
	if err := d.SetVFs(nsim.DefaultMaxVFs); err != nil {
		t.Fatal(err)
	}
	labtest.Run(t, dl, "dev", "eswitch", "set", d.Handle(), "mode", "switchdev")
	out := labtest.Run(t, dl, "port", "function", "rate", "show")
	for vf := 0; vf < nsim.DefaultMaxVFs; vf++ {
		leaf := d.Handle() + "/" + strconv.Itoa(nsim.VFPortBase+vf)
		if !strings.Contains(out, leaf+": type leaf") {
			t.Errorf("devlink port function rate show: no leaf %s:\n%s", leaf, out)
		}
	}
	labtest.Run(t, dl, "port", "function", "rate", "set", d.Handle()+"/129", "tx_share", "20mbit", "tx_max", "300mbit")
	labtest.Run(t, dl, "port", "function", "rate", "add", d.Handle()+"/g1", "tx_max", "1000mbit")
	labtest.Run(t, dl, "port", "function", "rate", "set", d.Handle()+"/129", "parent", "g1")
	r, err := d.ReadRates()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Leaves[1], (nsim.Rate{TxShareMbit: 20, TxMaxMbit: 300, Parent: "g1"}); got != want {
		t.Errorf("VF 1 in debugfs = %+v, want %+v", got, want)
	}
	if got, want := r.Nodes["g1"], (nsim.Rate{TxMaxMbit: 1000}); got != want {
		t.Errorf("node g1 in debugfs = %+v, want %+v", got, want)
	}
	if len(r.Leaves) != nsim.DefaultMaxVFs || len(r.Nodes) != 1 {
		t.Errorf("debugfs rates = %+v, want %d leaves and 1 node", r, nsim.DefaultMaxVFs)
	}
}
