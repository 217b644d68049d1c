package model

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeStrict reads a YAML or JSON document (JSON is read as YAML 1.2 flow
// style) into v, a pointer to a struct whose fields carry `yaml` tags.
//
// Unlike yaml.Unmarshal it refuses unknown and duplicate fields, checks
// integer fields against a `range:"lo-hi"` tag, and reports every problem at
// once with file, line, column and field path. It returns the position of
// every field it set, keyed by path ("classes[2].peak"); callers use it to
// place later validation errors and to tell a field set to its zero value
// from one left out. On field errors it still returns the positions (and v
// holds what decoded), so callers can add their own checks to the list; on
// a syntax error the positions are nil.
func DecodeStrict(file string, data []byte, v any) (map[string]Pos, error) {
	r := newReporter(file)
	if err := decodeInto(r, data, v); err != nil {
		return nil, err
	}
	return r.pos, r.errs.Err()
}

// decodeInto decodes data into v, collecting field errors in r. It returns
// an error only when the document cannot be read at all (YAML syntax).

func decodeInto(r *reporter, data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return ErrorList{yamlSyntaxError(r.file, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return ErrorList{{File: r.file, Msg: "empty document"}}
	}
	root := doc.Content[0]
	r.pos[""] = Pos{root.Line, root.Column}
	d := decoder{r: r}
	d.value(root, reflect.ValueOf(v).Elem(), "", "")
	return nil
}

// yamlSyntaxError turns yaml.v3's "yaml: line N: msg" into a positioned Error.
func yamlSyntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ":"); ok {
			if line, err := strconv.Atoi(n); err == nil {
				e.Pos = Pos{Line: line}
				e.Msg = strings.TrimSpace(after)
			}
		}
	}
	return e
}

type decoder struct {
	r *reporter
	// nodes counts the nodes visited, aliases expanded; depth is the
	// current nesting. Both are bounded so that an alias bomb or a
	// self-referencing alias fails fast instead of hanging.
	nodes, depth int
	tooBig       bool
}

// Bounds on what one policy document may expand to.
const (
	maxNodes = 1 << 20
	maxDepth = 64
)

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) value(n *yaml.Node, v reflect.Value, path, rangeTag string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	d.depth++
	if d.nodes > maxNodes || d.depth > maxDepth {
		if !d.tooBig {
			d.tooBig = true
			d.r.decodeErrorf(path, "document too large or too deeply nested (aliases expanded): at most %d values and %d levels", maxNodes, maxDepth)
		}
		d.depth--
		return
	}
	d.decode(n, v, path, rangeTag)
	d.depth--
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path, rangeTag string) {
	d.r.pos[path] = Pos{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an explicit null leaves the zero value
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path, rangeTag)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			d.r.decodeErrorf(path, "expected a single value, found a %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.r.decodeErrorf(path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.object(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.r.decodeErrorf(path, "expected a list, found a %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i), rangeTag)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.r.decodeErrorf(path, "expected a string, found a %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.r.decodeErrorf(path, "expected true or false, found %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.integer(n, v, path, rangeTag)
	default:
		panic(fmt.Sprintf("model: cannot decode into %s", v.Type()))
	}
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path, rangeTag string) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.r.decodeErrorf(path, "expected a whole number, found %q", n.Value)
		return
	}
	i, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil {
		d.r.decodeErrorf(path, "%q is not a whole number in range", n.Value)
		return
	}
	lo, hi := int64(0), int64(0)
	switch v.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64:
		lo, hi = 0, int64(uint64(1)<<(v.Type().Bits()-1)-1)*2+1
		if v.Type().Bits() == 64 {
			hi = 1<<63 - 1
		}
	default:
		lo, hi = -1<<(v.Type().Bits()-1), 1<<(v.Type().Bits()-1)-1
	}
	if rangeTag != "" {
		a, b, _ := strings.Cut(rangeTag, "-")
		lo, _ = strconv.ParseInt(a, 10, 64)
		hi, _ = strconv.ParseInt(b, 10, 64)
	}
	if i < lo || i > hi {
		d.r.decodeErrorf(path, "%d is out of range %d-%d", i, lo, hi)
		return
	}
	if v.CanUint() {
		v.SetUint(uint64(i))
	} else {
		v.SetInt(i)
	}
}

func (d *decoder) object(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.r.decodeErrorf(path, "expected an object with fields, found a %s", kindName(n))
		return
	}
	fields := structFields(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := k.Value
		if path != "" {
			fp = path + "." + k.Value
		}
		if seen[k.Value] {
			d.r.pos[fp+"#dup"] = Pos{k.Line, k.Column}
			d.r.decodeErrorf(fp+"#dup", "field %q appears twice", k.Value)
			continue
		}
		seen[k.Value] = true
		f, ok := fields[k.Value]
		if !ok {
			d.r.pos[fp] = Pos{k.Line, k.Column}
			d.r.decodeErrorf(fp, "unknown field%s", suggest(k.Value, fields))
			continue
		}
		d.value(val, v.FieldByIndex(f.Index), fp, f.Tag.Get("range"))
	}
}

// structFields maps yaml names to fields, following embedded structs.
func structFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField)
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = f
	}
	return out
}

// suggest names the known field closest to an unknown one, if any is close.
func suggest(name string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for k := range fields {
		if dd := editDistance(name, k); dd < bestD || dd == bestD && best != "" && k < best {
			best, bestD = k, dd
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return fmt.Sprintf("value %q", n.Value)
	}
}
