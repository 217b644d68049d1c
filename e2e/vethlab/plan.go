package vethlab

import (
	"fmt"
	"os"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// CompilePolicy reads a policy file and compiles its first target with the
// capability profile "none" (no hardware: every class on the pacer). The
// policy's target should name PacerIn as interface and PacerOut as peer.
func CompilePolicy(path string) (*offload.TargetPlan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return CompilePolicyText(path, data)
}

// CompilePolicyText is CompilePolicy on a policy held in memory; file names
// it in messages.
func CompilePolicyText(file string, data []byte) (*offload.TargetPlan, error) {
	p, err := model.Parse(file, data)
	if err != nil {
		return nil, err
	}
	plan, err := offload.Compile(p, func(*model.Target) (*offload.Capabilities, error) {
		return offload.LoadProfile("none")
	})
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", file, err)
	}
	if len(plan.Targets) == 0 {
		return nil, fmt.Errorf("compile %s: no targets", file)
	}
	tp := plan.Targets[0]
	if tp.Pacer == nil {
		return nil, fmt.Errorf("compile %s: target %q has no pacer plan", file, tp.Target)
	}
	return tp, nil
}
