package gnmi

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/ygot/ygot"

	"github.com/qosplane/qosplane/drivers/gnmi/oc"
)

// subtree is one owned unit of /qos that the driver replaces or deletes as
// a whole: a classifier, a forwarding group, a queue, the scheduler policy,
// or one binding of an interface (an input classifier of one family, the
// output scheduler-policy, one output queue). Bindings are units of their
// own so that a foreign binding on the same interface survives.
type subtree struct {
	path *gpb.Path // without origin
	node ygot.GoStruct
}

func elem(name string, kv ...string) *gpb.PathElem {
	e := &gpb.PathElem{Name: name}
	if len(kv) == 2 {
		e.Key = map[string]string{kv[0]: kv[1]}
	}
	return e
}

func qosPath(elems ...*gpb.PathElem) *gpb.Path {
	return &gpb.Path{Elem: append([]*gpb.PathElem{elem("qos")}, elems...)}
}

// pathString renders a path as /a/b[k=v]; it is the units' map key and
// what messages show.
func pathString(p *gpb.Path) string {
	var b strings.Builder
	for _, e := range p.Elem {
		b.WriteByte('/')
		b.WriteString(e.Name)
		for _, k := range slices.Sorted(maps.Keys(e.Key)) {
			fmt.Fprintf(&b, "[%s=%s]", k, e.Key[k])
		}
	}
	return b.String()
}

// ownedSubtrees returns the owner's units found in qos, keyed by path.
// A unit is owned when its name (or, for a binding, the name it binds)
// carries the owner prefix.
func ownedSubtrees(qos *oc.Qos, owner string) map[string]subtree {
	out := make(map[string]subtree)
	if qos == nil {
		return out
	}
	add := func(node ygot.GoStruct, elems ...*gpb.PathElem) {
		p := qosPath(elems...)
		out[pathString(p)] = subtree{path: p, node: node}
	}
	for name, c := range qos.Classifier {
		if owned(owner, name) {
			add(c, elem("classifiers"), elem("classifier", "name", name))
		}
	}
	for name, g := range qos.ForwardingGroup {
		if owned(owner, name) {
			add(g, elem("forwarding-groups"), elem("forwarding-group", "name", name))
		}
	}
	for name, q := range qos.Queue {
		if owned(owner, name) {
			add(q, elem("queues"), elem("queue", "name", name))
		}
	}
	for name, s := range qos.SchedulerPolicy {
		if owned(owner, name) {
			add(s, elem("scheduler-policies"), elem("scheduler-policy", "name", name))
		}
	}
	for id, in := range qos.Interface {
		ie := elem("interface", "interface-id", id)
		if in.Input != nil {
			for typ, c := range in.Input.Classifier {
				if c.Name != nil && owned(owner, *c.Name) {
					add(c, elem("interfaces"), ie, elem("input"), elem("classifiers"), elem("classifier", "type", typ.String()))
				}
			}
		}
		if out := in.Output; out != nil {
			if sp := out.SchedulerPolicy; sp != nil && sp.Name != nil && owned(owner, *sp.Name) {
				add(sp, elem("interfaces"), ie, elem("output"), elem("scheduler-policy"))
			}
			for name, q := range out.Queue {
				if owned(owner, name) {
					add(q, elem("interfaces"), ie, elem("output"), elem("queues"), elem("queue", "name", name))
				}
			}
		}
	}
	return out
}

// canonical is a unit's comparable form: its JSON_IETF with sorted keys.
func canonical(node ygot.GoStruct) (string, error) {
	m, err := ygot.ConstructIETFJSON(node, &ygot.RFC7951JSONConfig{AppendModuleName: true})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// change is what a sync must do: units to delete and to replace.
type change struct {
	Delete  []*gpb.Path
	Replace []*gpb.Update
}

// empty reports whether the device already holds what is wanted.
func (c *change) empty() bool { return len(c.Delete) == 0 && len(c.Replace) == 0 }

// paths lists the change's paths for messages: "-path" deleted, "~path"
// replaced.
func (c *change) paths() []string {
	var out []string
	for _, p := range c.Delete {
		out = append(out, "-"+pathString(p))
	}
	for _, u := range c.Replace {
		out = append(out, "~"+pathString(u.Path))
	}
	return out
}

// diffSubtrees computes the change taking cur to want: owned units
// present but unwanted are deleted, wanted units missing or different are
// replaced. Units are visited in path order, so requests are
// deterministic.
func diffSubtrees(cur, want map[string]subtree) (*change, error) {
	ch := &change{}
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := want[k]; !ok {
			ch.Delete = append(ch.Delete, cur[k].path)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w := want[k]
		wj, err := canonical(w.node)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if c, ok := cur[k]; ok {
			cj, err := canonical(c.node)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if cj == wj {
				continue
			}
		}
		tv, err := ygot.EncodeTypedValue(w.node, gpb.Encoding_JSON_IETF)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		ch.Replace = append(ch.Replace, &gpb.Update{Path: w.path, Val: tv})
	}
	return ch, nil
}

// collapseInterfaces turns the deletes of every owned binding of an
// interface entry that holds nothing else into one delete of the entry,
// so that no empty /qos/interfaces/interface[id] is left behind. An entry
// that still holds foreign bindings, or gets owned ones replaced, keeps
// its per-binding deletes.
func collapseInterfaces(cur *oc.Qos, owner string, ch *change) error {
	if cur == nil {
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(cur.Interface)) {
		p := qosPath(elem("interfaces"), elem("interface", "interface-id", id))
		prefix := pathString(p) + "/"
		inside := func(q *gpb.Path) bool { return strings.HasPrefix(pathString(q), prefix) }
		if !slices.ContainsFunc(ch.Delete, inside) || slices.ContainsFunc(ch.Replace, func(u *gpb.Update) bool { return inside(u.Path) }) {
			continue
		}
		cp, err := ygot.DeepCopy(cur.Interface[id])
		if err != nil {
			return err
		}
		rest := cp.(*oc.Qos_Interface)
		rest.InterfaceId = nil
		if in := rest.Input; in != nil {
			maps.DeleteFunc(in.Classifier, func(_ oc.E_OpenconfigQos_Input_Classifier_Type, c *oc.Qos_Interface_Input_Classifier) bool {
				return c.Name != nil && owned(owner, *c.Name)
			})
		}
		if out := rest.Output; out != nil {
			if sp := out.SchedulerPolicy; sp != nil && sp.Name != nil && owned(owner, *sp.Name) {
				out.SchedulerPolicy = nil
			}
			maps.DeleteFunc(out.Queue, func(name string, _ *oc.Qos_Interface_Output_Queue) bool { return owned(owner, name) })
		}
		ygot.PruneEmptyBranches(rest)
		j, err := canonical(rest)
		if err != nil {
			return err
		}
		if j != "{}" {
			continue
		}
		ch.Delete = slices.DeleteFunc(ch.Delete, inside)
		ch.Delete = append(ch.Delete, p)
	}
	return nil
}
