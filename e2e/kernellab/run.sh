#!/usr/bin/env bash
# run.sh: run Go test packages inside the kernel lab VM.
#
#   bash e2e/kernellab/run.sh [-bench] PKG...
#
# Steps: fetch the Debian kernel (cached, fetch.sh), build qostestnic and
# netdevsim against its headers (cached by source hash), build each PKG's tests statically
# (CGO_ENABLED=0 go test -c), make the initramfs (mkinitrd.sh), boot QEMU
# (TCG) under a timeout, stream the console to stdout and a log file, and
# check the markers /init prints. Exits non-zero if a build fails, any test
# binary exits non-zero, or a marker is missing (a VM that dies silently).
# A PKG without test files is skipped with a note.
#
# -bench runs `-test.run=^$ -test.bench=. -test.benchmem` instead of tests.
#
# Environment:
#   QOSPLANE_LAB_CACHE    cache dir (default /var/cache/qosplane-lab)
#   QOSPLANE_LAB_TIMEOUT  VM time limit in seconds (default 900)
#   QOSPLANE_LAB_MEM      VM memory in MiB (default 1024)
#   QOSPLANE_LAB_SMP      VM CPUs (default 2)
#   QOSPLANE_LAB_ARGS     extra flags for every test binary (e.g. -test.run=X)
#   QOSPLANE_LAB_REBUILD=1  rebuild the module even if cached
#   QOSPLANE_LAB_KEEP=1   keep the work directory
set -euo pipefail

t_start=$(date +%s.%N)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
CACHE=${QOSPLANE_LAB_CACHE:-/var/cache/qosplane-lab}
export QOSPLANE_LAB_CACHE=$CACHE
TIMEOUT=${QOSPLANE_LAB_TIMEOUT:-900}
MEM=${QOSPLANE_LAB_MEM:-1024}
SMP=${QOSPLANE_LAB_SMP:-2}

log() { printf 'kernellab: %s\n' "$*" >&2; }
die() { printf 'kernellab: error: %s\n' "$*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

bench=0
if [ "${1:-}" = "-bench" ]; then
	bench=1
	shift
fi
[ "$#" -ge 1 ] || die "usage: $0 [-bench] PKG..."

work=$(mktemp -d "${TMPDIR:-/tmp}/qosplane-lab.XXXXXX")
qemu_pid=''
tail_pid=''
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		sleep 1
		kill -9 "$qemu_pid" 2>/dev/null || true
	fi
	if [ -n "$tail_pid" ]; then kill "$tail_pid" 2>/dev/null || true; fi
	if [ "${QOSPLANE_LAB_KEEP:-0}" = 1 ]; then
		log "work dir kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Kernel (cached).
t=$(date +%s.%N)
env_file=$(bash "$here/fetch.sh" | tail -n1)
# shellcheck disable=SC1090
. "$env_file"
log "kernel $KVER ready in $(since "$t") s"

# 2. Modules, each cached by the hash of its sources and the kernel version:
# qostestnic, and netdevsim (the kernel's own test device,
# drivers/net/netdevsim of the same source version) built with everything
# the stock config enables (CONFIG_BPF_SYSCALL, XFRM_OFFLOAD, PSAMPLE=m):
# nothing is disabled; only CONFIG_NETDEVSIM=m is set for Kbuild.
# build_ko NAME SRCDIR [MAKE VAR=VALUE...] sets ko_path to NAME.ko.
build_ko() {
	local name=$1 src=$2 hash t f files=()
	shift 2
	t=$(date +%s.%N)
	[ -f "$src/Makefile" ] || die "missing $src"
	for f in "$src"/*.c "$src"/*.h "$src"/Makefile "$src"/Kbuild; do
		if [ -f "$f" ]; then files+=("$f"); fi
	done
	hash=$(cat "${files[@]}" | sha256sum | cut -c1-16)
	ko_path="$CACHE/$KVER/$name-$hash.ko"
	if [ -s "$ko_path" ] && [ "${QOSPLANE_LAB_REBUILD:-0}" != 1 ]; then
		log "$name cached ($ko_path)"
		return
	fi
	mkdir -p "$work/$name"
	cp "$src"/* "$work/$name/"
	make -s -j"$(nproc)" -C "$KBUILD" M="$work/$name" "$@" modules >"$work/$name.log" 2>&1 || {
		cat "$work/$name.log" >&2
		die "building $name failed"
	}
	grep -E 'warning|error' "$work/$name.log" | grep -v 'BTF' >&2 || true
	cp "$work/$name/$name.ko" "$ko_path.tmp.$$"
	mv "$ko_path.tmp.$$" "$ko_path"
	log "$name built in $(since "$t") s"
}
build_ko qostestnic "$here/qostestnic"
ko=$ko_path
build_ko netdevsim "${SRC:-$CACHE/$KVER/src}/drivers/net/netdevsim" CONFIG_NETDEVSIM=m
nsim_ko=$ko_path

# 3. Test binaries.
t=$(date +%s.%N)
mkdir -p "$work/tests"
names=()
i=0
for pkg in "$@"; do
	dir="$repo/${pkg#./}"
	if [ ! -d "$dir" ]; then
		log "skip $pkg: no such directory"
		continue
	fi
	if ! ls "$dir"/*_test.go >/dev/null 2>&1; then
		log "skip $pkg: no test files"
		continue
	fi
	i=$((i + 1))
	name=$(printf '%02d-%s' "$i" "$(basename "$dir")")
	log "building $pkg -> $name.test"
	(cd "$repo" && CGO_ENABLED=0 go test -c -o "$work/tests/$name.test" "./${pkg#./}") ||
		die "go test -c $pkg failed"
	if [ ! -x "$work/tests/$name.test" ]; then
		log "skip $pkg: go test -c produced no binary"
		continue
	fi
	mkdir -p "$work/tests/$name.work"
	if [ -d "$dir/testdata" ]; then cp -a "$dir/testdata" "$work/tests/$name.work/"; fi
	names+=("$name")
done
[ "${#names[@]}" -ge 1 ] || die "no test package to run"
log "test binaries built in $(since "$t") s"

# 4. Initramfs.
args=${QOSPLANE_LAB_ARGS:-}
if [ "$bench" = 1 ]; then
	args="-test.run=^\$ -test.bench=. -test.benchmem $args"
fi
bins=()
for n in "${names[@]}"; do bins+=("$work/tests/$n.test"); done
bash "$here/mkinitrd.sh" -e "$env_file" -k "$ko" -n "$nsim_ko" -o "$work/initrd.cpio" -a "$args" "${bins[@]}"

# 5. Boot.
mkdir -p "$CACHE/logs"
# Keep the 20 newest console logs.
{ ls -1t "$CACHE"/logs/run-*.log 2>/dev/null || true; } | tail -n +21 | xargs -r rm -f
logf="$CACHE/logs/run-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
log "booting $KVER (TCG, ${MEM} MiB, ${SMP} CPUs, limit ${TIMEOUT} s); console log: $logf"
t_boot=$(date +%s.%N)
: >"$logf"
qemu-system-x86_64 -accel tcg -cpu max -m "$MEM" -smp "$SMP" -nographic -no-reboot \
	-nic none -kernel "$VMLINUZ" -initrd "$work/initrd.cpio" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1" </dev/null >"$logf" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$logf" &
tail_pid=$!
deadline=$(($(date +%s) + TIMEOUT))
timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ "$(date +%s)" -ge "$deadline" ]; then
		timed_out=1
		log "VM still running after ${TIMEOUT} s: killing it"
		kill "$qemu_pid" 2>/dev/null || true
		break
	fi
	sleep 1
done
qemu_rc=0
wait "$qemu_pid" 2>/dev/null || qemu_rc=$?
qemu_pid=''
wait "$tail_pid" 2>/dev/null || true
tail_pid=''
boot_s=$(since "$t_boot")

# 6. Markers.
M='@@QOSPLANE-LAB@@'
console=$(tr -d '\r' <"$logf")
passed=0
failed=0
fail_names=()
# Markers are matched anywhere on a line: the firmware's escape codes can
# precede the first one.
if ! grep -q "$M READY .*qostestnic=ok netdevsim=ok" <<<"$console"; then
	log "FAIL: the lab did not come up (no READY marker with qostestnic=ok netdevsim=ok)"
	failed=$((failed + 1))
	fail_names+=("lab")
fi
for n in "${names[@]}"; do
	if ! grep -q "$M BEGIN $n\$" <<<"$console"; then
		log "FAIL $n: never started (no BEGIN marker)"
		failed=$((failed + 1))
		fail_names+=("$n")
		continue
	fi
	rc=$( (grep -o "$M END $n rc=[0-9]*\$" <<<"$console" || true) | sed "s/.*rc=//" | tail -n1)
	if [ -z "$rc" ]; then
		log "FAIL $n: no END marker (the VM died or timed out while it ran)"
		failed=$((failed + 1))
		fail_names+=("$n")
	elif [ "$rc" != 0 ]; then
		log "FAIL $n: exit code $rc"
		failed=$((failed + 1))
		fail_names+=("$n")
	else
		log "PASS $n"
		passed=$((passed + 1))
	fi
done
if ! grep -q "$M DONE\$" <<<"$console"; then
	log "FAIL: no DONE marker (VM exit code $qemu_rc, timed out: $timed_out)"
	failed=$((failed + 1))
	fail_names+=("vm")
fi
log "boot-to-poweroff ${boot_s} s, total $(since "$t_start") s, console log $logf"
echo "kernellab: $passed passed, $failed failed"
[ "$failed" = 0 ] || exit 1
