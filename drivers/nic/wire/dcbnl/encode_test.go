package dcbnl

import (
	"strings"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/wiretest"
	"github.com/qosplane/qosplane/offload"
)

func zeros(n int) string { return strings.Repeat("00", n) }

func TestDCBSetBytes(t *testing.T) {
	wiretest.LittleEndian(t)
	d := &offload.DCB{
		PrioTC:    [8]uint8{0, 0, 0, 1, 2, 0, 0, 0},
		Strict:    []int{2},
		Bandwidth: [8]uint8{60, 40},
		MaxRate:   [8]uint64{1: 10_000_000_000},
		PFC:       []uint8{3},
		App:       []offload.DSCPPrio{{DSCP: 26, Priority: 3}, {DSCP: 46, Priority: 5}},
	}
	got, err := EncodeSet("qtn0", d)
	if err != nil {
		t.Fatal(err)
	}
	want := wiretest.Hex(t, `
		00 14 0000                 # struct dcbmsg: AF_UNSPEC, DCB_CMD_IEEE_SET (20), pad
		0900 0100 7174 6e30 00 000000 # DCB_ATTR_IFNAME "qtn0\0"
		2801 0d00                  # DCB_ATTR_IEEE (13), 296 bytes
		3f00 0100                  #  DCB_ATTR_IEEE_ETS, struct ieee_ets (59 bytes)
		00 00 00                   #   willing, ets_cap, cbs
		3c28 0000 0000 0000        #   tc_tx_bw: 60%, 40%
		3c28 0000 0000 0000        #   tc_rx_bw
		0202 0002 0202 0202        #   tc_tsa: ETS, ETS, strict (TC 2), ETS...
		0000 0001 0200 0000        #   prio_tc
		`+zeros(24)+`              #   reco_*
		00                         #   pad to 4
		8c00 0200                  #  DCB_ATTR_IEEE_PFC, struct ieee_pfc (136 bytes)
		00 08 00 00 0000 0000      #   pfc_cap, pfc_en (priority 3), mbc, pad, delay, pad
		`+zeros(128)+`             #   requests[8], indications[8]
		4400 0700                  #  DCB_ATTR_IEEE_MAXRATE, u64[8] kbit/s
		0000000000000000 8096980000000000 `+zeros(48)+` # TC 1: 10 Gbit/s = 10000000 kbit/s
		1400 0300                  #  DCB_ATTR_IEEE_APP_TABLE
		0800 0100 05 03 1a00       #   DCB_ATTR_IEEE_APP: selector DSCP, priority 3, DSCP 26
		0800 0100 05 05 2e00       #   DSCP 46 -> priority 5
	`)
	wiretest.DiffBytes(t, "dcb set", got, want)
}

func TestDCBRefusesBadInput(t *testing.T) {
	for name, d := range map[string]*offload.DCB{
		"ets sum":       {Bandwidth: [8]uint8{50, 40}},
		"strict share":  {Strict: []int{0}, Bandwidth: [8]uint8{100}},
		"pfc prio":      {Bandwidth: [8]uint8{100}, PFC: []uint8{8}},
		"prio tc range": {Bandwidth: [8]uint8{100}, PrioTC: [8]uint8{9}},
		"app dscp":      {Bandwidth: [8]uint8{100}, App: []offload.DSCPPrio{{DSCP: 64}}},
	} {
		if _, err := EncodeSet("x", d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDCBDelAppsBytes(t *testing.T) {
	wiretest.LittleEndian(t)
	got := EncodeDelApps("q", []offload.DSCPPrio{{DSCP: 46, Priority: 5}})
	wiretest.DiffBytes(t, "dcb del", got, wiretest.Hex(t, `
		00 1b 0000            # DCB_CMD_IEEE_DEL (27)
		0600 0100 7100 0000   # IFNAME "q\0"
		1000 0d00             # DCB_ATTR_IEEE
		0c00 0300             #  APP_TABLE
		0800 0100 05 05 2e00  #   DSCP 46 -> 5
	`))
}
