package offload

import "errors"

// ErrRefused is wrapped by a driver's Apply error when the device refused
// to offload something the plan placed in hardware (the kernel answered
// EOPNOTSUPP, or a switch rejected a leaf). Callers re-plan the target onto
// the software pacer when they see it (errors.Is).
var ErrRefused = errors.New("the device refused the offload")
