package kube

import (
	"regexp"
	"strings"
)

// fieldPath rewrites a model path into the object's field path: the field
// path recorded for it, or for its nearest recorded parent followed by the
// rest in camelCase.
func (d *document) fieldPath(path string) string {
	for p := path; ; {
		if f, ok := d.paths[p]; ok {
			rest := path[len(p):]
			if p == "" && rest != "" {
				rest = "." + rest
			}
			return f + camel(rest)
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			p = ""
		} else {
			p = p[:i]
		}
	}
}

// camelNames are the file names whose json name is not their plain
// camelCase.
var camelNames = map[string]string{"max-sdu": "maxSDU"}

// camel rewrites each kebab-case name of a path in camelCase, as the
// Kubernetes API names fields: ".min-policed" -> ".minPoliced".
func camel(path string) string {
	if !strings.Contains(path, "-") {
		return path
	}
	parts := strings.Split(path, ".")
	for i, part := range parts {
		name, index, _ := strings.Cut(part, "[")
		if c, ok := camelNames[name]; ok {
			name = c
		} else {
			words := strings.Split(name, "-")
			for j := 1; j < len(words); j++ {
				if words[j] != "" {
					words[j] = strings.ToUpper(words[j][:1]) + words[j][1:]
				}
			}
			name = strings.Join(words, "")
		}
		if index != "" {
			name += "[" + index
		}
		parts[i] = name
	}
	return strings.Join(parts, ".")
}

// modelRef is how model messages name another element: "already defined
// at classes[0]", "(flows[3])".
var modelRef = regexp.MustCompile(`\b(classes|flows|targets)\[[0-9]+\]`)

// messageNames are the file field names model messages use that differ in
// the object.
var messageNames = strings.NewReplacer("max-sdu", "maxSDU")

// message rewrites the model paths and field names in a model message into
// the object's: "flow \"b\" can match the same packets as flow \"a\"
// (flows[0])" -> "... (spec.flows[0])".
func (d *document) message(msg string) string {
	msg = modelRef.ReplaceAllStringFunc(msg, d.fieldPath)
	return messageNames.Replace(msg)
}
