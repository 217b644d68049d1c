package model

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// File is one policy document and its name for messages.
type File struct {
	Name string
	Data []byte
}

// LoadDir reads every .yaml, .yml and .json file in dir, in name order, and
// merges them into one policy (see ParseFiles).
func LoadDir(dir string) (*Policy, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read policy directory: %w", err)
	}
	var files []File
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		// Kubernetes ConfigMap volumes hold ..data links and dot files.
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read policy: %w", err)
		}
		files = append(files, File{Name: path, Data: data})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("policy directory %s holds no .yaml, .yml or .json file", dir)
	}
	return ParseFiles(filepath.Base(filepath.Clean(dir)), files)
}

// Load reads a policy file, or every policy file of a directory.
func Load(path string) (*Policy, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	if st.IsDir() {
		return LoadDir(path)
	}
	return LoadFile(path)
}

// fileSep joins a file name to a top-level field path of a later merged
// file whose path the first file already holds (e.g. "marking.x").
const fileSep = "\x00"

var topIndex = regexp.MustCompile(`^(classes|flows|targets)\[(\d+)\]`)

// ParseFiles merges several policy documents into one: their classes, flows
// and targets are concatenated and validated together (a flow may name a
// class of another file). A name defined in two files, or a marking field
// set differently in two files, is refused with both places. The merged
// policy is named after the files' common name, or name when they differ.
// Errors name the file each problem is in.
func ParseFiles(name string, files []File) (*Policy, error) {
	if len(files) == 1 {
		return Parse(files[0].Name, files[0].Data)
	}
	merged := &Policy{File: name}
	r := newReporter(name)
	r.files = make(map[string]string)
	var names []string
	for _, f := range files {
		part := &Policy{}
		fr := newReporter(f.Name)
		if err := decodeInto(fr, f.Data, part); err != nil {
			return nil, err
		}
		offsets := map[string]int{"classes": len(merged.Classes), "flows": len(merged.Flows), "targets": len(merged.Targets)}
		for path, pos := range fr.pos {
			np := path
			if m := topIndex.FindStringSubmatch(path); m != nil {
				i, _ := strconv.Atoi(m[2])
				np = fmt.Sprintf("%s[%d]%s", m[1], i+offsets[m[1]], path[len(m[0]):])
			}
			if _, clash := r.pos[np]; clash && !topIndex.MatchString(np) {
				np = f.Name + fileSep + np // a top-level field of a later file
			}
			r.pos[np] = pos
			r.files[np] = f.Name
			if fr.failed[path] {
				r.failed[np] = true
			}
		}
		r.errs = append(r.errs, fr.errs...)
		mergeMarking(&merged.Marking, &part.Marking, f.Name, r)
		merged.Classes = append(merged.Classes, part.Classes...)
		merged.Flows = append(merged.Flows, part.Flows...)
		merged.Targets = append(merged.Targets, part.Targets...)
		if part.Name != "" && !slices.Contains(names, part.Name) {
			names = append(names, part.Name)
		}
	}
	merged.Name = name
	if len(names) == 1 {
		merged.Name = names[0]
	}
	merged.pos = r.pos
	applyDefaults(merged, r)
	validate(merged, r)
	if err := r.errs.Err(); err != nil {
		return nil, err
	}
	return merged, nil
}

// mergeMarking takes each marking field from the first file that sets it
// and refuses a later file that sets it differently.
func mergeMarking(dst, src *Marking, file string, r *reporter) {
	pairs := []struct {
		name     string
		dst, src *Mark
	}{
		{"best-effort", &dst.BestEffort, &src.BestEffort}, {"controlled-load", &dst.ControlledLoad, &src.ControlledLoad},
		{"guaranteed", &dst.Guaranteed, &src.Guaranteed}, {"network-control", &dst.NetworkControl, &src.NetworkControl},
		{"qualitative", &dst.Qualitative, &src.Qualitative}, {"non-conforming", &dst.NonConforming, &src.NonConforming},
	}
	for _, p := range pairs {
		for _, f := range []struct {
			name     string
			dst, src **uint8
		}{{"dscp", &p.dst.DSCP, &p.src.DSCP}, {"pcp", &p.dst.PCP, &p.src.PCP}} {
			if *f.src == nil {
				continue
			}
			if *f.dst != nil && **f.dst != **f.src {
				path := file + fileSep + "marking." + p.name + "." + f.name
				r.errorf(path, "%d differs from %d set by an earlier file", **f.src, **f.dst)
				continue
			}
			*f.dst = *f.src
		}
	}
}
