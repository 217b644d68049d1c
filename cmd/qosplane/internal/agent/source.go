package agent

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/qosplane/qosplane/model"
)

// Source is where the agent's desired state comes from. Sources sit beside
// each other and feed the same reconcile loop: a policy file or directory
// (FileSource, the embedded default) or the Kubernetes API (the fleet
// mode's node source).
type Source interface {
	// Poll returns the desired policy when it changed since the last Poll
	// that returned one or an error, and nil, nil when nothing changed. An
	// error is a desired state the source refuses (the agent keeps the
	// running one and reports the error). force reads at once, skipping any
	// settling the source does.
	Poll(force bool) (*model.Policy, error)
	// Changed, when not nil, signals that Poll has something new (a source
	// that is told of changes); the agent also polls every WatchInterval.
	Changed() <-chan struct{}
	// String names the source for status and logs.
	String() string
}

// FileSource reads a policy file or a directory of policy files, which it
// watches by content: a change is loaded once two polls in a row see the
// same content, so a file caught mid-write is not refused (force loads at
// once). Poll is called from one goroutine.
type FileSource struct {
	Path    string
	seen    bool     // a policy was loaded or refused
	hash    [32]byte // of the files as last loaded or refused
	pending [32]byte // of the files at the last poll
}

// NewFileSource returns the source for path.
func NewFileSource(path string) *FileSource { return &FileSource{Path: path} }

func (s *FileSource) String() string { return s.Path }

// Changed returns nil: files are polled.
func (s *FileSource) Changed() <-chan struct{} { return nil }

// Poll implements Source.
func (s *FileSource) Poll(force bool) (*model.Policy, error) {
	sum, err := hashPolicy(s.Path)
	if err == nil {
		same := s.seen && sum == s.hash
		settling := !force && sum != s.pending
		s.pending = sum
		if same || settling && s.seen {
			return nil, nil
		}
	}
	p, perr := model.Load(s.Path)
	s.seen = true
	if err == nil {
		s.hash = sum
	}
	return p, perr
}

// hashPolicy hashes a policy file or the policy files of a directory.
func hashPolicy(path string) ([32]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return [32]byte{}, err
	}
	files := []string{path}
	if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*"))
		sort.Strings(files)
	}
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // directories and vanished files
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(data))
		h.Write(data)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
