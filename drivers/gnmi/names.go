package gnmi

import (
	"fmt"
	"strings"

	"github.com/qosplane/qosplane/offload"
)

// sep joins an owner and the name of a class or classifier. Policy names
// may not contain it nor end in "-" (package model), so one owner's prefix
// never matches another owner's names ("qosplane-a--" is not a prefix of
// "qosplane-a-b--voice").
const sep = "--"

// owned reports whether name belongs to owner: it is owner itself or
// starts with owner + sep.
func owned(owner, name string) bool {
	return name == owner || strings.HasPrefix(name, owner+sep)
}

// policyName is the scheduler policy qosplane installs for a plan.
func policyName(tp *offload.TargetPlan) string { return tp.Owner }

// groupName is the forwarding group of a class.
func groupName(tp *offload.TargetPlan, class string) string { return tp.Owner + sep + class }

// queueName is the output queue of a class: the plan's Queue when it
// carries the owner prefix, else "<owner>--<Queue or class name>".
func queueName(tp *offload.TargetPlan, c *offload.ClassPlan) string {
	q := c.Queue
	if q == "" {
		q = c.Name
	}
	if owned(tp.Owner, q) {
		return q
	}
	return tp.Owner + sep + q
}

// termID is the id of a rule's term. openconfig terms are keyed, not
// ordered, and switches evaluate them in key order, so the id leads with the
// zero-padded precedence: terms sort in precedence order, and adding a rule
// renames no other term.
func termID(r *offload.Rule) string {
	return fmt.Sprintf("%05d-%s", r.Precedence, r.Flow)
}
