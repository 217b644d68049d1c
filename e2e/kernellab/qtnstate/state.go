// Package qtnstate reads what the kernel lab's test NIC (the qostestnic
// module, e2e/kernellab/qostestnic) holds: the JSON object it publishes at
// /sys/kernel/debug/qostestnic/<ifname>/state. The format is documented in
// e2e/kernellab/README.md.
//
// Units are the kernel's: mqprio rates in bytes/s, DCB max rates in kbit/s,
// police rates in bytes/s, sizes in bytes.
package qtnstate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// DebugfsRoot is where the module publishes its per-netdev state.
const DebugfsRoot = "/sys/kernel/debug/qostestnic"

// FailNthPath is the module parameter that injects a failure into the Nth
// offload operation from the time it is written (0 = off).
const FailNthPath = "/sys/module/qostestnic/parameters/fail_nth"

// State is one netdev's state.
type State struct {
	Ifname      string     `json:"ifname"`
	Profile     string     `json:"profile"` // "mlx5", "ice", "mlx5-switchdev", "ixgbe", "i40e", "bnxt" or "cxgb4"
	Driver      string     `json:"driver"`  // ethtool driver name
	Representor bool       `json:"representor"`
	HwTcOffload bool       `json:"hw_tc_offload"`
	Channels    int        `json:"channels"`
	NumTC       int        `json:"num_tc"` // the netdev's num_tc
	Mqprio      *Mqprio    `json:"mqprio"` // nil: no mqprio offloaded
	Flower      []Rule     `json:"flower"`
	NtupleOn    bool       `json:"ntuple_on"` // NETIF_F_NTUPLE
	Ntuple      []Ntuple   `json:"ntuple"`    // ethtool ntuple rules (ixgbe, cxgb4), by location
	HTB         *HTB       `json:"htb"`       // offloaded HTB (qtn4); nil: none
	DCB         *DCB       `json:"dcb"`       // nil on representors
	LastError   *LastError `json:"last_error"`
	TxqPackets  []uint64   `json:"txq_packets"` // packets sent per tx queue
}

// Mqprio is an offloaded mqprio configuration.
type Mqprio struct {
	NumTC     int      `json:"num_tc"`
	PrioTCMap []int    `json:"prio_tc_map"` // 16 entries
	Count     []int    `json:"count"`       // queues per TC
	Offset    []int    `json:"offset"`      // first queue per TC
	MinRate   []uint64 `json:"min_rate"`    // bytes/s per TC
	MaxRate   []uint64 `json:"max_rate"`    // bytes/s per TC
	Mode      string   `json:"mode"`        // "channel" or "dcb"
	Shaper    string   `json:"shaper"`      // "bw_rlimit" or "dcb"
	Flags     uint32   `json:"flags"`       // TC_MQPRIO_F_* bits
}

// Rule is an offloaded flower rule.
type Rule struct {
	Cookie  string         `json:"cookie"` // hex of the flow_cls_offload cookie
	Prio    uint32         `json:"prio"`   // tc pref
	Chain   uint32         `json:"chain"`
	Dir     string         `json:"dir"`     // "ingress" or "egress"
	Proto   uint16         `json:"proto"`   // filter protocol (ETH_P_*)
	ClassID uint32         `json:"classid"` // flower classid (hw_tc), 0 if none
	Keys    map[string]any `json:"keys"`    // {"ip_proto":{"value":6,"mask":255},...}
	Actions []Action       `json:"actions"`
}

// Ntuple is one ethtool ntuple rule as the device holds it (values masked;
// addresses dotted quads, ports host order).
type Ntuple struct {
	Loc         uint32 `json:"loc"`
	FlowType    string `json:"flow_type"` // "tcp4", "udp4", "sctp4" or "ip4"
	Src         string `json:"src"`
	SrcMask     string `json:"src_mask"`
	Dst         string `json:"dst"`
	DstMask     string `json:"dst_mask"`
	SrcPort     uint16 `json:"src_port"`
	SrcPortMask uint16 `json:"src_port_mask"`
	DstPort     uint16 `json:"dst_port"`
	DstPortMask uint16 `json:"dst_port_mask"`
	Queue       int64  `json:"queue"` // -1: drop
}

// HTB is an offloaded HTB tree as mlx5 holds it.
type HTB struct {
	Handle uint32    `json:"handle"` // qdisc major
	DefCls uint32    `json:"defcls"`
	Nodes  []HTBNode `json:"nodes"`
}

// HTBRoot is the classid (and parent) of the root node
// (TC_HTB_CLASSID_ROOT).
const HTBRoot = 0xffffffff

// HTBNode is one node: the root, an inner class or a leaf with its queue.
type HTBNode struct {
	ClassID      uint32 `json:"classid"` // TC_H_MIN of the class
	Parent       uint32 `json:"parent"`
	QID          int    `json:"qid"`            // tx queue of a leaf, -1 otherwise
	Rate         uint64 `json:"rate"`           // bytes/s
	Ceil         uint64 `json:"ceil"`           // bytes/s
	BwShare      uint32 `json:"bw_share"`       // percent of the ancestor's ceil
	MaxAverageBw uint32 `json:"max_average_bw"` // Mbit/s
}

// Node returns the node of classid, or nil.
func (h *HTB) Node(classid uint32) *HTBNode {
	for i := range h.Nodes {
		if h.Nodes[i].ClassID == classid {
			return &h.Nodes[i]
		}
	}
	return nil
}

// Action is one offloaded action: "id" names it ("hwtc", "pedit",
// "vlan_mangle", "police", "priority", "drop", ...) and the other members are
// its parameters.
type Action map[string]any

// ID is the action's id.
func (a Action) ID() string { s, _ := a["id"].(string); return s }

// Num returns a numeric parameter (JSON numbers decode as float64).
func (a Action) Num(key string) (float64, bool) { v, ok := a[key].(float64); return v, ok }

// DCB is the IEEE DCB state set through dcbnl.
type DCB struct {
	ETS *struct {
		PrioTC []int `json:"prio_tc"`
		TcTSA  []int `json:"tc_tsa"`
		TcTxBW []int `json:"tc_tx_bw"`
	} `json:"ets"`
	MaxRateKbps []uint64 `json:"maxrate_kbps"`
	PFC         *struct {
		PFCEn int `json:"pfc_en"`
		MBC   int `json:"mbc"`
		Delay int `json:"delay"`
	} `json:"pfc"`
	App []struct {
		Selector int `json:"selector"`
		Protocol int `json:"protocol"`
		Priority int `json:"priority"`
	} `json:"app"`
}

// LastError is the last refusal the device made (also for mqprio and DCB,
// where the 6.1 kernel passes no extack to the driver).
type LastError struct {
	Op     string `json:"op"` // "mqprio", "flower" or "dcb"
	Errno  int    `json:"errno"`
	Msg    string `json:"msg"`
	Detail string `json:"detail"`
}

// Available reports whether the module's debugfs tree is present.
func Available() bool {
	_, err := os.Stat(DebugfsRoot)
	return err == nil
}

// Read returns the state of netdev ifname.
func Read(ifname string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(DebugfsRoot, ifname, "state"))
	if err != nil {
		return nil, fmt.Errorf("qostestnic state of %s: %w", ifname, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("qostestnic state of %s: %w", ifname, err)
	}
	return &s, nil
}

// SetFailNth makes the nth offload operation from now fail (0 = off).
func SetFailNth(n int) error {
	if err := os.WriteFile(FailNthPath, []byte(fmt.Sprintf("%d\n", n)), 0o644); err != nil {
		return fmt.Errorf("qostestnic fail_nth: %w", err)
	}
	return nil
}
