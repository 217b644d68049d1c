package model

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a place in a policy file: 1-based line and column.
type Pos struct {
	Line, Col int
}

// Error is one problem in a policy file. Its text names the file, line,
// column and field path: "policy.yaml:14:9: classes[2].peak: 50Mbit is below
// rate 100Mbit".
type Error struct {
	File string
	Pos  Pos
	Path string // field path, e.g. "classes[2].peak"; empty for the whole file
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Pos.Line)
		if e.Pos.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Pos.Col)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one file, in file order. Validation
// reports all of them at once rather than stopping at the first.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns l sorted by position as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	slices.SortStableFunc(l, func(a, b *Error) int {
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Pos.Line, b.Pos.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Pos.Col, b.Pos.Col)
	})
	return l
}

// reporter collects errors for one file and places them by field path.
type reporter struct {
	file string
	pos  map[string]Pos // field path -> position of its value
	errs ErrorList
	// failed holds the paths that did not decode; later checks on them
	// or below them are not reported, so one typo gives one error.
	failed map[string]bool
	// files maps a path to the file it came from when a policy was merged
	// from several files; nil for one file.
	files map[string]string
}

func newReporter(file string) *reporter {
	return &reporter{file: file, pos: make(map[string]Pos), failed: make(map[string]bool)}
}

// failedAt reports whether path or one of its parents failed to decode.
func (r *reporter) failedAt(path string) bool {
	for p := path; ; {
		if r.failed[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// failedUnder reports whether anything at or below prefix failed to decode.
func (r *reporter) failedUnder(prefix string) bool {
	for p := range r.failed {
		if p == prefix || strings.HasPrefix(p, prefix+".") || strings.HasPrefix(p, prefix+"[") {
			return true
		}
	}
	return false
}

// at returns the position of path, or of its nearest recorded parent when the
// field itself is absent (a missing required field is reported at its object).
func (r *reporter) at(path string) Pos {
	for p := path; ; {
		if pos, ok := r.pos[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return r.pos[""]
		}
		p = p[:i]
	}
}

// fileAt returns the file the field at path came from.
func (r *reporter) fileAt(path string) string {
	if r.files == nil {
		return r.file
	}
	for p := path; ; {
		if f, ok := r.files[p]; ok {
			return f
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return r.file
		}
		p = p[:i]
	}
}

// has reports whether the file set the field at path.
func (r *reporter) has(path string) bool {
	_, ok := r.pos[path]
	return ok
}

func (r *reporter) errorf(path, format string, args ...any) {
	if r.failedAt(path) {
		return
	}
	r.add(path, format, args...)
}

// maxErrors bounds how many errors one file reports.
const maxErrors = 200

// decodeErrorf records a decoding error at path and marks the path failed.
func (r *reporter) decodeErrorf(path, format string, args ...any) {
	r.failed[path] = true
	r.add(path, format, args...)
}

// add appends an error, up to maxErrors and a last one saying so.
func (r *reporter) add(path, format string, args ...any) {
	file, pos := r.fileAt(path), r.at(path)
	if _, field, ok := strings.Cut(path, fileSep); ok {
		path = field
	}
	switch {
	case len(r.errs) < maxErrors:
		r.errs = append(r.errs, &Error{File: file, Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
	case len(r.errs) == maxErrors:
		r.errs = append(r.errs, &Error{File: file, Pos: pos, Path: path, Msg: "too many errors; stopping"})
	}
}
