package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// ctlStore is a watched cache of one resource: list, then watch from the
// list's resourceVersion, and list again whenever the watch ends (an
// apiserver restart, an expired resourceVersion). Every change calls
// onChange. Objects handed out are shared: callers must not modify them.
type ctlStore struct {
	name     string
	ri       dynamic.ResourceInterface
	onChange func()

	mu     sync.RWMutex
	items  map[string]*unstructured.Unstructured // by namespace/name
	synced chan struct{}
	once   sync.Once
}

func newCtlStore(name string, ri dynamic.ResourceInterface, onChange func()) *ctlStore {
	return &ctlStore{name: name, ri: ri, onChange: onChange, items: map[string]*unstructured.Unstructured{}, synced: make(chan struct{})}
}

func ctlStoreKey(u *unstructured.Unstructured) string { return u.GetNamespace() + "/" + u.GetName() }

// run lists and watches until ctx is done, waiting a second after a
// failure.
func (s *ctlStore) run(ctx context.Context, log *slog.Logger) {
	for ctx.Err() == nil {
		if err := s.listWatch(ctx); err != nil && ctx.Err() == nil {
			log.Debug("watch ended; listing again", "resource", s.name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *ctlStore) listWatch(ctx context.Context) error {
	l, err := s.ri.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s: %w", s.name, err)
	}
	items := make(map[string]*unstructured.Unstructured, len(l.Items))
	for i := range l.Items {
		items[ctlStoreKey(&l.Items[i])] = &l.Items[i]
	}
	s.mu.Lock()
	s.items = items
	s.mu.Unlock()
	s.once.Do(func() { close(s.synced) })
	s.onChange()
	w, err := s.ri.Watch(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion(), AllowWatchBookmarks: true})
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.name, err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			s.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(s.items, ctlStoreKey(u))
			} else {
				s.items[ctlStoreKey(u)] = u
			}
			s.mu.Unlock()
			s.onChange()
		case watch.Error:
			return fmt.Errorf("watch %s: %v", s.name, ev.Object)
		}
	}
	return fmt.Errorf("watch %s closed", s.name)
}

func (s *ctlStore) waitSynced(ctx context.Context) error {
	select {
	case <-s.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// list returns the cached objects.
func (s *ctlStore) list() []*unstructured.Unstructured {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*unstructured.Unstructured, 0, len(s.items))
	for _, u := range s.items {
		out = append(out, u)
	}
	return out
}

// get returns the object namespace/name ("" namespace for cluster-scoped).
func (s *ctlStore) get(namespace, name string) (*unstructured.Unstructured, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.items[namespace+"/"+name]
	return u, ok
}

// put stores u as the newest version of its object (after a write).
func (s *ctlStore) put(u *unstructured.Unstructured) {
	s.mu.Lock()
	s.items[ctlStoreKey(u)] = u
	s.mu.Unlock()
}
