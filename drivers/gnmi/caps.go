package gnmi

import (
	"fmt"
	"slices"

	"github.com/qosplane/qosplane/offload"
)

// defaultProfile is used when a plan names no profile.
const defaultProfile = "openconfig-switch"

// switchCaps returns what the switch accepts: the plan's Switch section
// (filled by the compiler), or, for a plan without one, the switch profile
// the plan names (a built-in name or a profile file).
func switchCaps(tp *offload.TargetPlan) (*offload.SwitchCaps, error) {
	if tp.Switch != nil {
		return tp.Switch, nil
	}
	name := tp.Profile
	if name == "" {
		name = defaultProfile
	}
	c, err := offload.LoadProfile(name)
	if err != nil {
		return nil, err
	}
	if c.Kind != "switch" || c.Switch == nil {
		return nil, fmt.Errorf("profile %q is of kind %q, not a switch profile", name, c.Kind)
	}
	return c.Switch, nil
}

func hasCondition(sc *offload.SwitchCaps, name string) bool {
	return slices.Contains(sc.Conditions, name)
}

func hasRemark(sc *offload.SwitchCaps, name string) bool { return slices.Contains(sc.Remark, name) }
