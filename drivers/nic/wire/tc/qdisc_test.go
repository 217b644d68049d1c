package tc

import (
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/wiretest"
)

// The options HTB dumps (from the lab's `tc qdisc add ... htb default 12
// r2q 17`) carry version 0x30011; a create request must carry 3.
func TestRequestOptionsHTB(t *testing.T) {
	wiretest.LittleEndian(t)
	dumped := wiretest.Hex(t, `
		1800 0200 11000300 11000000 12000000 00000000 00000000 # TCA_HTB_INIT: version 0x30011, r2q 17, defcls 0x12
		0800 0500 e8030000                                     # TCA_HTB_DIRECT_QLEN 1000
	`)
	want := wiretest.Hex(t, `
		1800 0200 03000000 11000000 12000000 00000000 00000000
		0800 0500 e8030000
	`)
	wiretest.DiffBytes(t, "htb options", RequestOptions("htb", dumped), want)
	if got := RequestOptions("htb", dumped); &got[0] == &dumped[0] {
		t.Fatal("RequestOptions changed the saved options in place")
	}
	wiretest.DiffBytes(t, "other kinds", RequestOptions("fq_codel", dumped), dumped)
}
