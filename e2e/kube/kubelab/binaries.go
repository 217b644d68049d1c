package kubelab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that locate the binaries, as envtest reads them.
const (
	EnvAssets    = "KUBEBUILDER_ASSETS"
	EnvAPIServer = "TEST_ASSET_KUBE_APISERVER"
	EnvEtcd      = "TEST_ASSET_ETCD"
	// EnvRequired set to 1 makes a missing binary a test failure, not a
	// skip (e2e/kube/run.sh sets it).
	EnvRequired = "QOSPLANE_KUBE_REQUIRED"
)

// BuildHint says how to get the binaries; error messages end with it.
const BuildHint = "build them with KUBEBUILDER_ASSETS=$(bash e2e/kube/tools/build.sh | tail -n1), or run bash e2e/kube/run.sh"

// Binaries are the absolute paths of the two programs the lab runs.
type Binaries struct {
	APIServer string
	Etcd      string
}

// FindBinaries locates kube-apiserver and etcd: TEST_ASSET_KUBE_APISERVER
// and TEST_ASSET_ETCD when set, else the files of those names in
// KUBEBUILDER_ASSETS. It returns an error naming every missing or
// non-executable binary and how to build them; a nil error means both are
// regular executable files.
func FindBinaries() (Binaries, error) {
	assets := os.Getenv(EnvAssets)
	pick := func(env, name string) (string, error) {
		p := os.Getenv(env)
		if p == "" {
			if assets == "" {
				return "", fmt.Errorf("%s: neither %s nor %s is set", name, env, EnvAssets)
			}
			p = filepath.Join(assets, name)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("%s: %s is not an executable file", name, abs)
		}
		return abs, nil
	}
	var missing []string
	api, err := pick(EnvAPIServer, "kube-apiserver")
	if err != nil {
		missing = append(missing, err.Error())
	}
	etcd, err := pick(EnvEtcd, "etcd")
	if err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) > 0 {
		return Binaries{}, fmt.Errorf("kubelab binaries not available (%s); %s", strings.Join(missing, "; "), BuildHint)
	}
	return Binaries{APIServer: api, Etcd: etcd}, nil
}

// Required reports whether tests must run the lab rather than skip it:
// QOSPLANE_KUBE_REQUIRED=1, which e2e/kube/run.sh (make e2e-kube, part of
// make test) sets after building the binaries. `go test ./...` elsewhere
// skips, saying why.
func Required() bool {
	return os.Getenv(EnvRequired) == "1"
}
