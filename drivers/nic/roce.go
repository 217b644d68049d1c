package nic

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/Mellanox/rdmamap"

	"github.com/qosplane/qosplane/offload"
)

// roceFiles returns the default_roce_tos files of the interface's RDMA
// device: <configfs>/rdma_cm/<dev>/ports/<port>/default_roce_tos. The
// rdma_cm/<dev> group is created (mkdir) when missing, which is how
// configfs makes the kernel populate its ports.
func (d *Driver) roceFiles() ([]string, error) {
	dev := d.rdmaDev
	if dev == "" {
		var err error
		if dev, err = rdmamap.GetRdmaDeviceForNetdevice(d.dev.Interface); err != nil {
			return nil, fmt.Errorf("RDMA device of %s: %w", d.dev.Interface, err)
		}
	}
	group := filepath.Join(d.configfs, "rdma_cm", dev)
	if !fileExists(group) {
		if err := os.Mkdir(group, 0o755); err != nil {
			return nil, fmt.Errorf("configfs rdma_cm group for %s: %w", dev, err)
		}
	}
	ports, err := os.ReadDir(filepath.Join(group, "ports"))
	if err != nil {
		return nil, fmt.Errorf("configfs rdma_cm ports of %s: %w", dev, err)
	}
	var out []string
	for _, p := range ports {
		out = append(out, filepath.Join(group, "ports", p.Name(), "default_roce_tos"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("configfs rdma_cm/%s has no ports", dev)
	}
	slices.Sort(out)
	return out, nil
}

func (d *Driver) writeTOS(path string, value string) error {
	d.c.writes.Add(1)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readTOS(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// roceIntact reports whether every port's default ToS is r's.
func (d *Driver) roceIntact(r offload.RoCE) bool {
	files, err := d.roceFilesNoCreate()
	if err != nil || len(files) == 0 {
		return false
	}
	for _, f := range files {
		v, err := readTOS(f)
		if err != nil || v != strconv.Itoa(int(r.TOS)) {
			return false
		}
	}
	return true
}

// roceFilesNoCreate lists the files without creating the configfs group
// (Current must not write).
func (d *Driver) roceFilesNoCreate() ([]string, error) {
	dev := d.rdmaDev
	if dev == "" {
		var err error
		if dev, err = rdmamap.GetRdmaDeviceForNetdevice(d.dev.Interface); err != nil {
			return nil, err
		}
	}
	matches, err := filepath.Glob(filepath.Join(d.configfs, "rdma_cm", dev, "ports", "*", "default_roce_tos"))
	if err != nil {
		return nil, err
	}
	slices.Sort(matches)
	return matches, nil
}

// roceStep sets (or, for a delete, restores) the default ToS on every port.
func (d *Driver) roceStep(ns *state, op offload.Op) ([]step, error) {
	files, err := d.roceFiles()
	if err != nil {
		return nil, err
	}
	if ns.PrevRoCE == nil {
		ns.PrevRoCE = make(map[string]string)
	}
	var steps []step
	for _, f := range files {
		old, err := readTOS(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		if _, ok := ns.PrevRoCE[f]; !ok {
			ns.PrevRoCE[f] = old
		}
		var val string
		switch op.Kind {
		case offload.Add, offload.Change:
			if op.NewRoCE == nil {
				return nil, errors.New("roce op without a value")
			}
			if op.NewRoCE.TOS&3 != 0 {
				return nil, fmt.Errorf("RoCE ToS %#x has ECN bits set", op.NewRoCE.TOS)
			}
			val = strconv.Itoa(int(op.NewRoCE.TOS))
		case offload.Delete:
			val = ns.PrevRoCE[f]
		}
		steps = append(steps, step{desc: fmt.Sprintf("%s RoCE default ToS %s in %s", op.Kind, val, f),
			do:   func() error { return d.writeTOS(f, val) },
			undo: func() error { return d.writeTOS(f, old) }})
	}
	switch op.Kind {
	case offload.Add, offload.Change:
		ns.RoCE = []offload.RoCE{*op.NewRoCE}
	case offload.Delete:
		ns.RoCE, ns.PrevRoCE = nil, nil
	}
	return steps, nil
}
