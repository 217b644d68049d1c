package v1alpha1

import "fmt"

// Add adds o's counts to c.
func (c *PlacementCounts) Add(o PlacementCounts) {
	c.Hardware += o.Hardware
	c.Software += o.Software
	c.Pacer += o.Pacer
	c.Unsupported += o.Unsupported
}

// Least returns the least capable placement with a non-zero count
// (unsupported, then pacer, software, hardware), or "" when every count is
// zero. It is what TargetResult.Placement holds.
func (c PlacementCounts) Least() Placement {
	switch {
	case c.Unsupported > 0:
		return PlacementUnsupported
	case c.Pacer > 0:
		return PlacementPacer
	case c.Software > 0:
		return PlacementSoftware
	case c.Hardware > 0:
		return PlacementHardware
	}
	return ""
}

// String is the form NodeSummary.Placement holds, e.g. "hardware 14,
// software 2, pacer 0, unsupported 1".
func (c PlacementCounts) String() string {
	return fmt.Sprintf("hardware %d, software %d, pacer %d, unsupported %d", c.Hardware, c.Software, c.Pacer, c.Unsupported)
}
