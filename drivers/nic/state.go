package nic

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// DefaultStateDir is where the driver keeps what it must remember across
// restarts: the root qdisc it replaced, and the plan objects it installed
// (keyed by the fingerprints stored in the device's tc cookies).
const DefaultStateDir = "/run/qosplane"

// savedQdisc is a root qdisc as it was before qosplane replaced it.
type savedQdisc struct {
	Kind   string `json:"kind"`
	Handle uint32 `json:"handle"`
	// Options is the raw TCA_OPTIONS payload from the dump.
	Options []byte `json:"options,omitempty"`
	// Default: the kernel's own default root (handle 0: mq, pfifo_fast,
	// noqueue, fq_codel); deleting ours brings it back.
	Default bool `json:"default"`
}

// filterRef locates one installed flower filter.
type filterRef struct {
	Dev    string  `json:"dev"`
	Hook   tc.Hook `json:"hook"`
	Pref   uint16  `json:"pref"`
	Handle uint32  `json:"handle"`
	Family int     `json:"family"`
}

// ruleState is one installed rule: the plan's rule, its fingerprint and
// the filters that carry it.
type ruleState struct {
	Rule        offload.Rule `json:"rule"`
	Fingerprint string       `json:"fingerprint"`
	Filters     []filterRef  `json:"filters"`
	// Ntuple: the ethtool ntuple locations that carry the rule (ntuple.go).
	Ntuple []uint32 `json:"ntuple,omitempty"`
}

// state is the driver's state file for one owner and interface.
type state struct {
	Owner     string `json:"owner"`
	Interface string `json:"interface"`

	PrevRoot *savedQdisc `json:"prev_root,omitempty"`
	// Clsact lists the devices where qosplane added the clsact qdisc.
	Clsact []string `json:"clsact,omitempty"`
	// HWTCOffload: qosplane turned hw-tc-offload on (per device).
	HWTCOffload []string `json:"hw_tc_offload,omitempty"`
	// NtupleOn: qosplane turned rx-ntuple-filter on (per device).
	NtupleOn []string `json:"ntuple_on,omitempty"`

	Queues *offload.QueueLayout `json:"queues,omitempty"`
	// HTB is the offloaded HTB tree qosplane installed as the root
	// (instead of Queues).
	HTB     *offload.HTBPlan      `json:"htb,omitempty"`
	Classes []offload.ClassPlan   `json:"classes,omitempty"`
	Rules   map[string]*ruleState `json:"rules,omitempty"`
	DCB     *offload.DCB          `json:"dcb,omitempty"`
	RoCE    []offload.RoCE        `json:"roce,omitempty"`
	// PrevRoCE holds the default_roce_tos files' contents before qosplane
	// wrote them, by path.
	PrevRoCE map[string]string `json:"prev_roce,omitempty"`
	// PrevDCB is the IEEE attributes (raw DCB_ATTR_IEEE payload) before
	// qosplane set its own.
	PrevDCB []byte `json:"prev_dcb,omitempty"`
	// SRIOV is the VF QoS and rate groups qosplane installed.
	SRIOV *sriovState `json:"sriov,omitempty"`
}

func statePath(dir, owner, iface string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '/' || r == 0 {
				return '_'
			}
			return r
		}, s)
	}
	return filepath.Join(dir, "nic-"+clean(owner)+"@"+clean(iface)+".json")
}

func loadState(path, owner, iface string) (*state, error) {
	st := &state{Owner: owner, Interface: iface}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return st, nil
}

// save writes the state atomically (temporary file and rename).
func (st *state) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// clone returns a copy whose maps and slices Apply can change without
// touching st (plan objects inside are values and are not modified).
func (st *state) clone() *state {
	c := *st
	c.Clsact = slices.Clone(st.Clsact)
	c.HWTCOffload = slices.Clone(st.HWTCOffload)
	c.NtupleOn = slices.Clone(st.NtupleOn)
	c.Classes = slices.Clone(st.Classes)
	c.RoCE = slices.Clone(st.RoCE)
	c.PrevRoCE = maps.Clone(st.PrevRoCE)
	c.Rules = make(map[string]*ruleState, len(st.Rules))
	for id, rs := range st.Rules {
		r := *rs
		r.Filters = slices.Clone(rs.Filters)
		r.Ntuple = slices.Clone(rs.Ntuple)
		c.Rules[id] = &r
	}
	if st.SRIOV != nil {
		s := *st.SRIOV
		s.Groups, s.VFs, s.Prev = maps.Clone(st.SRIOV.Groups), maps.Clone(st.SRIOV.VFs), maps.Clone(st.SRIOV.Prev)
		c.SRIOV = &s
	}
	return &c
}

// checkOps makes sure the objects ops add read back from their JSON form
// (plan objects with invalid enum values, such as an empty service type,
// do not), so that the state Apply saves can be loaded after a restart.
func checkOps(ops []offload.Op) error {
	for _, op := range ops {
		var v, back any
		switch {
		case op.NewRule != nil:
			v, back = op.NewRule, new(offload.Rule)
		case op.NewClass != nil:
			v, back = op.NewClass, new(offload.ClassPlan)
		case op.NewQueues != nil:
			v, back = op.NewQueues, new(offload.QueueLayout)
		case op.NewHTB != nil:
			v, back = op.NewHTB, new(offload.HTBPlan)
		case op.NewDCB != nil:
			v, back = op.NewDCB, new(offload.DCB)
		case op.NewRoCE != nil:
			v, back = op.NewRoCE, new(offload.RoCE)
		default:
			continue
		}
		b, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(b, back)
		}
		if err != nil {
			return fmt.Errorf("%s %s %q does not survive the state file: %w", op.Kind, op.Object, op.ID, err)
		}
	}
	return nil
}
