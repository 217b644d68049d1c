package kube

import (
	"errors"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// Bounds of QoSPolicyStatus.ValidationErrors, as its schema sets them.
const (
	// MaxStatusErrors is the most validation errors a status holds (the
	// model's 200 and its "too many errors" line).
	MaxStatusErrors = 201
	// maxStatusMessage is the longest message, in bytes.
	maxStatusMessage = 1024
	// maxStatusField is the longest field path, in bytes.
	maxStatusField = 256
)

// StatusErrors turns an error of ToPolicy or ToNodePolicy into the
// status's validationErrors: one per problem with its field path, at most
// MaxStatusErrors, each cut to fit the schema. An error that is not a
// model.ErrorList becomes one entry at "spec". nil gives nil.
func StatusErrors(err error) []v1alpha1.ValidationError {
	if err == nil {
		return nil
	}
	var list model.ErrorList
	if !errors.As(err, &list) {
		return []v1alpha1.ValidationError{{Field: "spec", Message: Truncate(err.Error(), maxStatusMessage)}}
	}
	out := make([]v1alpha1.ValidationError, 0, min(len(list), MaxStatusErrors))
	for _, e := range list[:min(len(list), MaxStatusErrors)] {
		field := e.Path
		if field == "" {
			field = "spec"
		}
		out = append(out, v1alpha1.ValidationError{Field: Truncate(field, maxStatusField), Message: Truncate(e.Msg, maxStatusMessage)})
	}
	return out
}

// Truncate shortens s to at most n bytes (n > 3) without splitting a UTF-8
// sequence, ending it with "..." when it cut: status strings have limits.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("...")
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "..."
}
