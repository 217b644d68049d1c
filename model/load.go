package model

import (
	"fmt"
	"os"
)

// LoadFile reads, defaults and validates the policy file at path. The error,
// if any, is an ErrorList naming every problem with file, line and column.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Parse reads, defaults and validates a policy from data (YAML or JSON);
// file names it in messages.
func Parse(file string, data []byte) (*Policy, error) {
	p := &Policy{File: file}
	r := newReporter(file)
	if err := decodeInto(r, data, p); err != nil {
		return nil, err
	}
	p.pos = r.pos
	applyDefaults(p, r)
	validate(p, r)
	if err := r.errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// applyDefaults fills every field of every class the file left out, from the
// class's service type and the policy's marking table.
func applyDefaults(p *Policy, r *reporter) {
	for i := range p.Classes {
		c := &p.Classes[i]
		path := fmt.Sprintf("classes[%d]", i)
		if c.Service == "" {
			c.Service = BestEffort
		}
		d := c.Service.Defaults()
		if !r.has(path + ".priority") {
			c.Priority = d.Priority
		}
		if !r.has(path + ".weight") {
			c.Weight = 1
		}
		if c.NonConforming == "" {
			c.NonConforming = d.NonConforming
		}
		if c.MaxSDU == 0 {
			c.MaxSDU = 1518
		}
		if c.Bucket == 0 && c.Rate != 0 {
			c.Bucket = max(2*c.MaxSDU, Size(c.Rate/8/100)) // 10 ms at Rate
		}
		c.Mark = fillMark(c.Mark, p.Marking.forService(c.Service), Mark{DSCP: &d.DSCP, PCP: &d.PCP})
		nc := NonConformingDefault
		c.MarkNonConforming = fillMark(c.MarkNonConforming, p.Marking.NonConforming, Mark{DSCP: &nc.DSCP, PCP: &nc.PCP})
	}
	for i := range p.Flows {
		f := &p.Flows[i]
		if f.Name == "" {
			f.Name = fmt.Sprintf("%s-%d", f.Class, i)
		}
		if f.Direction == "" {
			f.Direction = Egress
		}
	}
	for i := range p.Targets {
		t := &p.Targets[i]
		if t.Kind == NIC && t.Fallback.Mode == "" {
			t.Fallback.Mode = "attach"
		}
		if t.Kind == NIC && t.Fallback.SlowLink == 0 {
			t.Fallback.SlowLink = DefaultSlowLink
		}
		if t.Kind == NIC && t.Fallback.Mode == "bridge" && t.Fallback.OnFailure == "" {
			t.Fallback.OnFailure = "bypass"
		}
		if t.SRIOV != nil && t.SRIOV.Mode == "" {
			t.SRIOV.Mode = SRIOVLegacy
		}
	}
}

// forService returns the policy's marking override for s.
func (m *Marking) forService(s ServiceType) Mark {
	switch s {
	case ControlledLoad:
		return m.ControlledLoad
	case Guaranteed:
		return m.Guaranteed
	case NetworkControl:
		return m.NetworkControl
	case Qualitative:
		return m.Qualitative
	}
	return m.BestEffort
}

// fillMark takes each field from the first layer that sets it.
func fillMark(layers ...Mark) Mark {
	var out Mark
	for _, l := range layers {
		if out.DSCP == nil && l.DSCP != nil {
			v := *l.DSCP
			out.DSCP = &v
		}
		if out.PCP == nil && l.PCP != nil {
			v := *l.PCP
			out.PCP = &v
		}
	}
	return out
}
