package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// watchStore is a list-then-watch cache of one resource (cluster-scoped,
// or one namespace of a namespaced one), as an informer keeps one; the
// node agent's and the controller's caches are both watchStores: it lists once, then follows a watch from the
// list's resourceVersion, re-watching from the last version it saw when the
// watch ends (apiserver restart, timeout) and listing again only when that
// version is gone (410). It never polls and has no periodic resync. While
// the apiserver is unreachable it keeps its objects. onChange is called
// after every change of the cached objects (not for bookmarks, nor for a
// relist that finds what was cached). Objects handed out are shared:
// callers must not modify them.
//
// (client-go's tools/cache is not used: it pulls a module this one does
// not require.)
type watchStore struct {
	name     string // the resource, for logs and errors
	res      dynamic.ResourceInterface
	opts     metav1.ListOptions // label and field selectors
	onChange func()
	log      *slog.Logger

	mu     sync.Mutex
	objs   map[string]*unstructured.Unstructured // by storeKey
	synced chan struct{}                         // closed by the first list
}

func newWatchStore(name string, res dynamic.ResourceInterface, opts metav1.ListOptions, onChange func(), log *slog.Logger) *watchStore {
	return &watchStore{name: name, res: res, opts: opts, onChange: onChange, log: log,
		objs: map[string]*unstructured.Unstructured{}, synced: make(chan struct{})}
}

// storeKey is an object's key in the cache: namespace/name ("/name" for a
// cluster-scoped object).
func storeKey(namespace, name string) string { return namespace + "/" + name }

func keyOf(u *unstructured.Unstructured) string { return storeKey(u.GetNamespace(), u.GetName()) }

// waitSynced waits for the first list, or for ctx.
func (s *watchStore) waitSynced(ctx context.Context) error {
	select {
	case <-s.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// get returns the cached object namespace/name ("" namespace for a
// cluster-scoped one).
func (s *watchStore) get(namespace, name string) (*unstructured.Unstructured, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.objs[storeKey(namespace, name)]
	return u, ok
}

// put stores u as the newest version of its object (after a write of
// ours, before the watch brings it).
func (s *watchStore) put(u *unstructured.Unstructured) {
	s.mu.Lock()
	s.objs[keyOf(u)] = u
	s.mu.Unlock()
}

// list returns the cached objects.
func (s *watchStore) list() []*unstructured.Unstructured {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*unstructured.Unstructured, 0, len(s.objs))
	for _, o := range s.objs {
		out = append(out, o)
	}
	return out
}

// run lists and watches until ctx ends. Failures back off from 500 ms to
// 30 s.
func (s *watchStore) run(ctx context.Context) {
	backoff := 500 * time.Millisecond
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			var err error
			if rv, err = s.relist(ctx); err != nil {
				s.log.Debug("list failed; keeping the cached objects", "resource", s.name, "err", err)
				rv = ""
				sleepCtx(ctx, backoff)
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
		}
		next, err := s.follow(ctx, rv)
		switch {
		case apierrors.IsGone(err) || apierrors.IsResourceExpired(err):
			rv = "" // too old: list again
		case err != nil:
			s.log.Debug("watch failed; keeping the cached objects", "resource", s.name, "err", err)
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 30*time.Second)
		default:
			backoff = 500 * time.Millisecond
		}
		if next != "" {
			rv = next
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// relist replaces the cache with a fresh list and returns its version.
func (s *watchStore) relist(ctx context.Context) (string, error) {
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	l, err := s.res.List(lctx, s.opts)
	if err != nil {
		return "", err
	}
	objs := make(map[string]*unstructured.Unstructured, len(l.Items))
	for i := range l.Items {
		objs[keyOf(&l.Items[i])] = &l.Items[i]
	}
	s.mu.Lock()
	changed := len(objs) != len(s.objs)
	for key, o := range objs {
		if old, ok := s.objs[key]; !ok || old.GetResourceVersion() != o.GetResourceVersion() {
			changed = true
		}
	}
	s.objs = objs
	s.mu.Unlock()
	select {
	case <-s.synced:
	default:
		close(s.synced)
		changed = true
	}
	if changed {
		s.onChange()
	}
	return l.GetResourceVersion(), nil
}

// follow watches from rv until the watch ends; it returns the last version
// seen ("" for none) and the error that ended it (nil: closed normally).
func (s *watchStore) follow(ctx context.Context, rv string) (string, error) {
	opts := s.opts
	opts.ResourceVersion = rv
	opts.AllowWatchBookmarks = true
	w, err := s.res.Watch(ctx, opts)
	if err != nil {
		return "", err
	}
	defer w.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return last, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return last, nil
			}
			if ev.Type == watch.Error {
				return last, apierrors.FromObject(ev.Object)
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				return last, fmt.Errorf("watch %s: unexpected %T", s.name, ev.Object)
			}
			last = u.GetResourceVersion()
			s.mu.Lock()
			switch ev.Type {
			case watch.Added, watch.Modified:
				s.objs[keyOf(u)] = u
			case watch.Deleted:
				delete(s.objs, keyOf(u))
			}
			s.mu.Unlock()
			if ev.Type != watch.Bookmark {
				s.onChange()
			}
		}
	}
}
