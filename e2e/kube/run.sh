#!/usr/bin/env bash
# run.sh: run the Kubernetes e2e lab's tests.
#
#   bash e2e/kube/run.sh [GO TEST FLAGS...]     e.g. -run TestLab
#
# Builds kube-apiserver and etcd (tools/build.sh: cached outside the clone,
# a no-op once built), exports KUBEBUILDER_ASSETS and QOSPLANE_KUBE_REQUIRED=1
# (a test that cannot find the binaries fails instead of skipping), and runs
# `go test -count=1 -v ./e2e/kube/... ./cmd/qosplane/` (the lab's tests
# and the fleet mode's TestFleet*) from the repository root. Prints how
# long the tools and the tests took; exits with go test's status.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
command -v go >/dev/null 2>&1 || PATH=/usr/local/go/bin:$PATH

log() { printf 'kube-e2e: %s\n' "$*" >&2; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(date +%s.%N)
KUBEBUILDER_ASSETS=$(bash "$here/tools/build.sh" | tail -n1)
[ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] || {
	log "error: tools/build.sh did not leave binaries in '$KUBEBUILDER_ASSETS'"
	exit 1
}
export KUBEBUILDER_ASSETS
export QOSPLANE_KUBE_REQUIRED=1
tools=$(since "$t0")
log "tools ready in $tools s: $KUBEBUILDER_ASSETS"

t1=$(date +%s.%N)
rc=0
# Every test of the lab's packages, then the fleet mode's tests in
# cmd/qosplane that need the lab (TestFleet*: node agents against the real
# apiserver; TestController: the controller, its lease and the switches);
# a later -run in the arguments overrides both filters.
(cd "$repo" && go test -count=1 -v ./e2e/kube/... "$@") || rc=$?
(cd "$repo" && go test -count=1 -v ./cmd/qosplane/ -run '^(TestFleet|TestController$)' "$@") || rc=$?
log "tools $tools s, tests $(since "$t1") s, total $(since "$t0") s (go test exit $rc)"
exit "$rc"
