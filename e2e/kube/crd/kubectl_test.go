package crd_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/qosplane/qosplane/e2e/kube/kubelab"
)

// kubectl is kubelab's Kubectl bound to one lab's admin kubeconfig.
type kubectl struct {
	*kubelab.Kubectl
	kubeconfig string
}

// run runs kubectl with args, stdin piped in when not empty.
func (k *kubectl) run(stdin string, args ...string) (stdout, stderr string, err error) {
	return k.Run(k.kubeconfig, stdin, args...)
}

// must runs kubectl and fails the test when it fails.
func (k *kubectl) must(stdin string, args ...string) string {
	return k.Must(k.kubeconfig, stdin, args...)
}

// apply applies manifest and returns kubectl's error with its stderr.
func (k *kubectl) apply(manifest string) error {
	_, errOut, err := k.run(manifest, "apply", "-f", "-")
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut))
	}
	return nil
}

// errNotRefused is what refusal checks report for an accepted object.
var errNotRefused = errors.New("the apiserver accepted it")
