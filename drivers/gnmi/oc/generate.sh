#!/bin/sh
# generate.sh regenerates oc.go, the ygot Go structs for openconfig-qos,
# openconfig-interfaces and openconfig-if-ethernet from openconfig/public
# v5.9.0. The YANG files come from the Go module proxy (a plain download:
# openconfig/public is not a dependency of the module). Output is byte for
# byte reproducible: the generator is pinned and is given paths relative to
# the download, so the header names no local directory.
#
# Usage: drivers/gnmi/oc/generate.sh          (rewrites oc.go)
#        drivers/gnmi/oc/generate.sh -check   (fails if oc.go is stale)
set -eu

PUBLIC=github.com/openconfig/public@v5.9.0+incompatible
GENERATOR=github.com/openconfig/ygot/generator@v0.36.0

here=$(cd "$(dirname "$0")" && pwd)
dir=$(cd "$here" && go mod download -json "$PUBLIC" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir/release/models" ]; then
	echo "generate.sh: could not download $PUBLIC" >&2
	exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# go install pkg@version builds the pinned generator outside the module.
(cd "$out" && GOBIN="$out" GOFLAGS= go install "$GENERATOR")

(cd "$dir" && "$out/generator" \
	-path=release/models,third_party/ietf \
	-output_file="$out/oc.go" \
	-package_name=oc \
	-generate_fakeroot -fakeroot_name=device \
	-compress_paths \
	-exclude_modules=ietf-interfaces \
	-generate_getters \
	-generate_append \
	-generate_delete \
	-generate_simple_unions \
	release/models/qos/openconfig-qos.yang \
	release/models/interfaces/openconfig-interfaces.yang \
	release/models/interfaces/openconfig-if-ethernet.yang)
# The generator names its own source file by absolute path: drop the
# module cache directory so that the output does not depend on it.
modcache=$(go env GOMODCACHE)
sed "s#$modcache/##g" "$out/oc.go" >"$out/oc.go.tmp"
gofmt "$out/oc.go.tmp" >"$out/oc.go"

if [ "${1:-}" = "-check" ]; then
	if ! cmp -s "$out/oc.go" "$here/oc.go"; then
		echo "generate.sh: drivers/gnmi/oc/oc.go is stale; run drivers/gnmi/oc/generate.sh" >&2
		diff -u "$here/oc.go" "$out/oc.go" | head -40 >&2 || true
		exit 1
	fi
	echo "generate.sh: oc.go is up to date"
	exit 0
fi
cp "$out/oc.go" "$here/oc.go"
