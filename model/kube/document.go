package kube

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// document builds the policy-file form of a QoSPolicy as a YAML node tree
// and records, for every field it writes, the object's field path it came
// from, keyed by the model's path ("classes[1].peak" ->
// "spec.classes[1].peak").
type document struct {
	root  *yaml.Node
	paths map[string]string
}

func newDocument() (*document, *object) {
	d := &document{paths: map[string]string{"": "spec"}}
	d.root = &yaml.Node{Kind: yaml.MappingNode}
	return d, &object{d: d, node: d.root, field: "spec"}
}

// object is one YAML mapping of the document at a model path (file) that
// stands for an object field path (field).
type object struct {
	d           *document
	node        *yaml.Node
	file, field string
}

// list is one YAML sequence of the document.
type list struct {
	d           *document
	node        *yaml.Node
	file, field string
}

// join appends a key to a model or field path.
func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// add appends key: v to o, recording that the model's path for key came
// from the object's field path field (absolute).
func (o *object) add(key, field string, v *yaml.Node) {
	o.node.Content = append(o.node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	o.d.paths[join(o.file, key)] = field
}

// str writes key: v when v is not empty; name is the object's json name
// relative to o's field.
func (o *object) str(key, name, v string) {
	if v != "" {
		o.add(key, join(o.field, name), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	}
}

// strAt writes key: v when v is not empty, recording the absolute field
// path field: for model fields that have no object field of their own.
func (o *object) strAt(key, field, v string) {
	if v != "" {
		o.add(key, field, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	}
}

// num writes key: *v when v is set.
func (o *object) num(key, name string, v *int32) {
	if v != nil {
		o.add(key, join(o.field, name), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(int64(*v), 10)})
	}
}

// flag writes key: true when v is true; false is every flag's default.
func (o *object) flag(key, name string, v bool) {
	if v {
		o.add(key, join(o.field, name), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
}

// obj writes key: {} and returns it, standing for the object field name.
func (o *object) obj(key, name string) *object {
	return o.objAt(key, join(o.field, name))
}

// objAt is obj with an absolute field path.
func (o *object) objAt(key, field string) *object {
	n := &yaml.Node{Kind: yaml.MappingNode}
	o.add(key, field, n)
	return &object{d: o.d, node: n, file: join(o.file, key), field: field}
}

// seq writes key: [] and returns it, standing for the object field name.
func (o *object) seq(key, name string) *list {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	field := join(o.field, name)
	o.add(key, field, n)
	return &list{d: o.d, node: n, file: join(o.file, key), field: field}
}

// strs writes key: [v...] when vs is not empty.
func strs[S ~string](o *object, key, name string, vs []S) {
	if len(vs) == 0 {
		return
	}
	l := o.seq(key, name)
	for i, v := range vs {
		l.node.Content = append(l.node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(v)})
		l.d.paths[fmt.Sprintf("%s[%d]", l.file, len(l.node.Content)-1)] = fmt.Sprintf("%s[%d]", l.field, i)
	}
}

// item appends a mapping to l that stands for the object field path field
// (absolute: targets come from two lists of the object).
func (l *list) item(field string) *object {
	n := &yaml.Node{Kind: yaml.MappingNode}
	l.node.Content = append(l.node.Content, n)
	file := fmt.Sprintf("%s[%d]", l.file, len(l.node.Content)-1)
	l.d.paths[file] = field
	return &object{d: l.d, node: n, file: file, field: field}
}

// index is the field path of l's element i.
func (l *list) index(i int) string { return fmt.Sprintf("%s[%d]", l.field, i) }

// bytes renders the document.
func (d *document) bytes() ([]byte, error) {
	out, err := yaml.Marshal(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{d.root}})
	if err != nil {
		return nil, fmt.Errorf("render policy document: %w", err)
	}
	return out, nil
}
