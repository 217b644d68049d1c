// Package veth holds the end-to-end scenarios of the software pacer in the
// three-namespace veth lab (package e2e/vethlab), each measured against the
// kernel's own shapers (HTB, TBF) in the same run. Results are logged as
// lines starting with "RESULT" (see run.sh and bench.sh).
package veth

import (
	"os"
	"testing"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

func TestMain(m *testing.M) {
	vethlab.RoleMain() // the pacer process re-executes this binary
	os.Exit(m.Run())
}
