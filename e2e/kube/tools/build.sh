#!/usr/bin/env bash
# build.sh: build kube-apiserver and etcd for the Kubernetes e2e lab, cached.
#
#   KUBEBUILDER_ASSETS=$(bash e2e/kube/tools/build.sh | tail -n1)
#
# Builds k8s.io/kubernetes/cmd/kube-apiserver from the wrapper module in
# apiserver/ and go.etcd.io/etcd/server/v3 from the one in etcd/ (two modules
# so that neither binary's dependency versions are raised by the other's; see
# e2e/kube/README.md) into
#
#   $QOSPLANE_KUBE_CACHE/<key>/bin/{kube-apiserver,etcd}
#
# with QOSPLANE_KUBE_CACHE defaulting to /var/cache/qosplane-kube, outside any
# clone. <key> names both versions and hashes everything that decides the
# binaries: the two go.mod/go.sum pairs, this script (its flags) and the Go
# toolchain version. So a changed tools module builds into a new directory and
# never overwrites binaries a running test uses.
#
# Invariants:
#   - The last line on stdout is the bin directory; everything else goes to
#     stderr.
#   - A key's bin directory is used only once its build.info stamp exists,
#     and the stamp is written after both binaries are in place, so a build
#     that was killed is redone rather than half-used.
#   - Builds of one key are serialised with flock(1) on <key>.lock; a second
#     run waits for the first and then finds the stamp. The cached path takes
#     no lock and runs no build (well under a second).
#   - The Go build cache is $QOSPLANE_KUBE_CACHE/gocache, so a rebuild after
#     a tools change is warm. Builds run under nice -n ${QOSPLANE_KUBE_NICE:-19}.
#
# Environment:
#   QOSPLANE_KUBE_CACHE    cache root (default /var/cache/qosplane-kube)
#   QOSPLANE_KUBE_NICE     niceness of the go builds (default 19)
#   QOSPLANE_KUBE_REBUILD=1  rebuild even if the key's binaries exist
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CACHE=${QOSPLANE_KUBE_CACHE:-/var/cache/qosplane-kube}
NICE=${QOSPLANE_KUBE_NICE:-19}

log() { printf 'kube-tools: %s\n' "$*" >&2; }
die() { printf 'kube-tools: error: %s\n' "$*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

command -v go >/dev/null 2>&1 || PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null 2>&1 || die "go not found (looked in PATH and /usr/local/go/bin)"

# required MODDIR MODULE prints the version MODDIR/go.mod requires of MODULE.
required() {
	awk -v m="$2" '
		$1 == "require" && $2 == m { print $3; exit }
		$1 == m && $2 ~ /^v/ { print $2; exit }' "$1/go.mod"
}
kver=$(required "$here/apiserver" k8s.io/kubernetes)
ever=$(required "$here/etcd" go.etcd.io/etcd/server/v3)
[ -n "$kver" ] || die "apiserver/go.mod does not require k8s.io/kubernetes"
[ -n "$ever" ] || die "etcd/go.mod does not require go.etcd.io/etcd/server/v3"
[[ $kver =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || die "unexpected k8s.io/kubernetes version $kver"
kmajor=${BASH_REMATCH[1]}
kminor=${BASH_REMATCH[2]}

gover=$(go env GOVERSION)
hash=$({
	printf '%s\n' "$gover"
	cat "$here/build.sh" \
		"$here/apiserver/go.mod" "$here/apiserver/go.sum" \
		"$here/etcd/go.mod" "$here/etcd/go.sum"
} | sha256sum | cut -c1-12)
key="k8s-$kver-etcd-$ever-$hash"
dir="$CACHE/$key"
bin="$dir/bin"
stamp="$dir/build.info"

cached() { [ -s "$stamp" ] && [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ]; }

if [ "${QOSPLANE_KUBE_REBUILD:-0}" != 1 ] && cached; then
	printf '%s\n' "$bin"
	exit 0
fi

mkdir -p "$dir" "$CACHE/gocache"
exec 9>"$CACHE/$key.lock"
if ! flock -n 9; then
	log "another build of $key is running; waiting for it"
	flock 9
fi
if [ "${QOSPLANE_KUBE_REBUILD:-0}" != 1 ] && cached; then
	log "built by another run meanwhile"
	printf '%s\n' "$bin"
	exit 0
fi
rm -f "$stamp"
mkdir -p "$bin"

export GOCACHE="$CACHE/gocache"
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

# build MODDIR OUT PKG LDFLAGS builds PKG inside MODDIR to $bin/OUT via a
# temporary name, so a killed build never leaves a truncated binary at OUT.
build() {
	local t
	t=$(date +%s.%N)
	log "building $1 ($3) into $bin/$2"
	(cd "$here/$1" && nice -n "$NICE" go build -trimpath -ldflags "$4" -o "$bin/$2.tmp" "$3") ||
		die "go build $3 failed"
	mv -f "$bin/$2.tmp" "$bin/$2"
	log "$2 built in $(since "$t") s ($(du -m "$bin/$2" | cut -f1) MiB)"
	printf '%s_build_seconds=%s\n' "${2//-/_}" "$(since "$t")" >>"$dir/durations.tmp"
}

t0=$(date +%s.%N)
: >"$dir/durations.tmp"
vpkg=k8s.io/component-base/version
build apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver \
	"-s -w -X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=$kmajor -X $vpkg.gitMinor=$kminor -X $vpkg.gitTreeState=clean"
build etcd etcd go.etcd.io/etcd/server/v3 "-s -w"

{
	printf 'key=%s\nkube_apiserver=%s\netcd=%s\ngo=%s\nbuilt=%s\n' \
		"$key" "$kver" "$ever" "$gover" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	cat "$dir/durations.tmp"
} >"$stamp.tmp"
rm -f "$dir/durations.tmp"
mv -f "$stamp.tmp" "$stamp"
log "built $key in $(since "$t0") s"
printf '%s\n' "$bin"
