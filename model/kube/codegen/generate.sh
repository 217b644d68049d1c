#!/bin/sh
# generate.sh regenerates, with controller-gen (sigs.k8s.io/controller-tools,
# pinned in this directory's go.mod), from the Go types of
# model/kube/v1alpha1:
#
#   model/kube/v1alpha1/zz_generated.deepcopy.go      the DeepCopy methods
#   cmd/qosplane/deploy/crds/qosplane.io_*.yaml       the CustomResourceDefinitions
#
# controller-gen is built from this tools module (its own go.mod, so that
# controller-tools' dependencies stay out of the main module) and run from
# the repository root, where it loads the API package with the main
# module's dependencies. Output is byte for byte reproducible.
#
# Usage: model/kube/codegen/generate.sh          (rewrites the files)
#        model/kube/codegen/generate.sh -check   (fails if any is stale)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
command -v go >/dev/null 2>&1 || PATH=/usr/local/go/bin:$PATH

api=model/kube/v1alpha1
crds=cmd/qosplane/deploy/crds

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

(cd "$here" && go build -o "$out/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen)

mkdir -p "$out/object" "$out/crds"
(cd "$repo" && "$out/controller-gen" \
	object \
	crd:crdVersions=v1 \
	paths="./$api/..." \
	output:object:dir="$out/object" \
	output:crd:dir="$out/crds")

if [ "${1:-}" = "-check" ]; then
	stale=0
	check() { # check GENERATED COMMITTED
		if ! cmp -s "$1" "$2"; then
			echo "generate.sh: ${2#"$repo"/} is stale; run model/kube/codegen/generate.sh" >&2
			diff -u "$2" "$1" 2>&1 | head -40 >&2 || true
			stale=1
		fi
	}
	check "$out/object/zz_generated.deepcopy.go" "$repo/$api/zz_generated.deepcopy.go"
	for f in "$out"/crds/*.yaml; do
		check "$f" "$repo/$crds/$(basename "$f")"
	done
	for f in "$repo/$crds"/*.yaml; do
		[ -e "$f" ] || continue
		[ -e "$out/crds/$(basename "$f")" ] || {
			echo "generate.sh: ${f#"$repo"/} is not generated from any type; remove it" >&2
			stale=1
		}
	done
	[ "$stale" = 0 ] || exit 1
	echo "generate.sh: deepcopy and CRDs are up to date"
	exit 0
fi

mkdir -p "$repo/$crds"
cp "$out/object/zz_generated.deepcopy.go" "$repo/$api/zz_generated.deepcopy.go"
rm -f "$repo/$crds"/qosplane.io_*.yaml
cp "$out"/crds/*.yaml "$repo/$crds/"
