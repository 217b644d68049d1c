package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Mount returns the cgroup2 mount point from /proc/self/mountinfo: the
// unified hierarchy, whether the host runs it alone (/sys/fs/cgroup) or in
// hybrid mode (/sys/fs/cgroup/unified).
func Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("cgroup2 mount: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, after := strings.Fields(pre), strings.Fields(post)
		if len(fields) >= 5 && len(after) >= 1 && after[0] == "cgroup2" && fields[3] == "/" {
			return unescapeMount(fields[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("cgroup2 mount: %w", err)
	}
	return "", errors.New("cgroup2 mount: no cgroup2 file system is mounted")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pattern is a cgroup match: slash-separated segments relative to the
// cgroup2 mount, each a path.Match pattern. It matches cgroups at exactly
// len(segs) levels below the mount (and, through the programs' ancestry
// walk, everything under them).
type pattern struct {
	segs []string
}

func parsePattern(s string) (pattern, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "/"), "/")
	if s == "" {
		return pattern{}, errors.New("empty cgroup path")
	}
	segs := strings.Split(s, "/")
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return pattern{}, fmt.Errorf("cgroup path %q has an empty, . or .. segment", s)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return pattern{}, fmt.Errorf("cgroup path %q: bad glob %q", s, seg)
		}
	}
	return pattern{segs: segs}, nil
}

func (p pattern) depth() int { return len(p.segs) }

// fixed is the longest prefix of segments without glob characters.
func (p pattern) fixed() []string {
	for i, seg := range p.segs {
		if strings.ContainsAny(seg, `*?[\`) {
			return p.segs[:i]
		}
	}
	return p.segs
}

// resolve lists the existing cgroups p matches, as paths relative to root.
func (p pattern) resolve(root string) ([]string, error) {
	fixed := p.fixed()
	base := path.Join(fixed...)
	if len(fixed) == len(p.segs) {
		if st, err := os.Stat(filepath.Join(root, base)); err != nil || !st.IsDir() {
			return nil, nil // not (yet) there
		}
		return []string{base}, nil
	}
	var out []string
	var walk func(rel string, i int) error
	walk = func(rel string, i int) error {
		if i == len(p.segs) {
			out = append(out, rel)
			return nil
		}
		ents, err := os.ReadDir(filepath.Join(root, rel))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return fmt.Errorf("cgroup %s: %w", rel, err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			if ok, _ := path.Match(p.segs[i], e.Name()); ok {
				if err := walk(path.Join(rel, e.Name()), i+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(base, len(fixed))
}

// cgroupID is the id the kernel reports for the cgroup at dir
// (bpf_get_current_ancestor_cgroup_id): on 64-bit hosts, the inode
// number of its cgroup2 directory.
func cgroupID(dir string) (uint64, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("cgroup id: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("cgroup id of %s: no inode", dir)
	}
	return sys.Ino, nil
}

// commonRoot is the deepest cgroup (relative to the mount, "" for the
// mount itself) strictly above every cgroup the patterns can match: where
// the programs attach. Never a matched cgroup itself, so that a unit
// stopped and started again (its cgroup removed and made anew) stays
// covered.
func commonRoot(ps []pattern) string {
	if len(ps) == 0 {
		return ""
	}
	parent := func(p pattern) []string {
		f := p.fixed()
		if len(f) == p.depth() {
			f = f[:len(f)-1]
		}
		return f
	}
	common := parent(ps[0])
	for _, p := range ps[1:] {
		f := parent(p)
		n := 0
		for n < len(common) && n < len(f) && common[n] == f[n] {
			n++
		}
		common = common[:n]
	}
	return path.Join(common...)
}
