package cgroup

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// settle is how long the watcher waits after a cgroup appears before it
// rescans, so that a burst (a pod's cgroups) costs one rescan.
const settle = 20 * time.Millisecond

// watcher follows the cgroup tree with inotify: every directory on the way
// to a rule's cgroups (those whose names match the pattern's leading
// segments) is watched for subdirectories created, moved in or removed,
// and each such event rescans the driver. Cgroups under an entry need no
// event: the programs walk the ancestry, so a matched cgroup's subtree is
// covered the moment it is created.
type watcher struct {
	d    *Driver
	f    *os.File
	fd   int // f's descriptor; f.Fd() would make it blocking
	mu   sync.Mutex
	wds  map[string]int // watched directory -> watch descriptor
	done chan struct{}
}

func newWatcher(d *Driver) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("cgroup: inotify: %w", err)
	}
	// A non-blocking descriptor goes through Go's poller: Close wakes Read.
	w := &watcher{d: d, f: os.NewFile(uintptr(fd), "inotify"), fd: fd, wds: map[string]int{}, done: make(chan struct{})}
	go w.run()
	return w, nil
}

// refresh watches the directories the driver's patterns lead through. The
// caller holds d.mu (it reads d.pats).
func (w *watcher) refresh() {
	want := map[string]bool{}
	for _, p := range w.d.pats {
		cur := []string{""}
		for i := 0; ; i++ {
			for _, rel := range cur {
				want[rel] = true
			}
			if i >= p.depth()-1 {
				break
			}
			var next []string
			for _, rel := range cur {
				ents, err := os.ReadDir(filepath.Join(w.d.root, rel))
				if err != nil {
					continue
				}
				for _, e := range ents {
					if ok, _ := path.Match(p.segs[i], e.Name()); ok && e.IsDir() {
						next = append(next, path.Join(rel, e.Name()))
					}
				}
			}
			cur = next
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for rel, wd := range w.wds {
		if !want[rel] {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.wds, rel)
		}
	}
	for rel := range want {
		if _, ok := w.wds[rel]; ok {
			continue
		}
		wd, err := unix.InotifyAddWatch(w.fd, filepath.Join(w.d.root, rel),
			unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_ONLYDIR)
		if err != nil {
			continue // gone meanwhile; its parent's event rescans
		}
		w.wds[rel] = wd
	}
}

// run reads events until close. Any event means "the tree changed where a
// rule looks": after settle, rescan and re-watch.
func (w *watcher) run() {
	defer close(w.done)
	buf := make([]byte, 64*1024)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return // closed
		}
		time.Sleep(settle)
		w.d.mu.Lock()
		if w.d.watch != w {
			w.d.mu.Unlock()
			return
		}
		if err := w.d.refresh(); err != nil {
			w.d.log.Warn("cgroup: rescan after a tree change", "err", err)
		}
		w.refresh()
		w.d.mu.Unlock()
	}
}

// close stops the watcher and waits for it.
func (w *watcher) close() {
	w.f.Close()
	<-w.done
}
