package verify

import (
	"os"
	"testing"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestMain lets the lab re-execute the test binary as its pacer process.
func TestMain(m *testing.M) {
	vethlab.RoleMain()
	os.Exit(m.Run())
}
