#!/usr/bin/env bash
# mkinitrd.sh: build the kernel lab's initramfs (an uncompressed newc cpio,
# which the kernel unpacks faster under TCG than a gzip one).
#
#   mkinitrd.sh -e ENV -k qostestnic.ko -n netdevsim.ko -o OUT.cpio [-a "ARGS"] [BIN.test ...]
#
# ENV is fetch.sh's current.env (KVER, MODDIR). Each BIN.test is copied to
# /tests/; a directory BIN.work next to it, if present, becomes the test's
# working directory (a package's testdata/ goes there). ARGS are extra flags
# for every test binary. Contents: busybox, /init, iproute2's ip/tc/dcb and
# ethtool with their shared libraries, the tc/veth/vlan modules with their
# dependencies plus qostestnic and netdevsim (with psample; depmod'ed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
env_file='' ko='' nsim='' out='' args=''
while getopts 'e:k:n:o:a:' opt; do
	case $opt in
	e) env_file=$OPTARG ;;
	k) ko=$OPTARG ;;
	n) nsim=$OPTARG ;;
	o) out=$OPTARG ;;
	a) args=$OPTARG ;;
	*) echo "usage: $0 -e ENV -k KO -n NSIM_KO -o OUT [-a ARGS] [BIN.test...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$env_file" ] && [ -n "$ko" ] && [ -n "$nsim" ] && [ -n "$out" ] || {
	echo "usage: $0 -e ENV -k KO -n NSIM_KO -o OUT [-a ARGS] [BIN.test...]" >&2
	exit 2
}
# shellcheck disable=SC1090
. "$env_file"
: "${KVER:?}" "${MODDIR:?}"

# Modules the lab loads (in this order); dependencies are added.
MODULES=(crc32c_generic libcrc32c veth dummy ifb 8021q
	sch_ingress sch_mqprio sch_htb sch_tbf sch_ets sch_prio sch_fq
	cls_flower cls_u32 cls_matchall cls_basic cls_bpf
	act_gact act_mirred act_skbedit act_pedit act_vlan act_police act_csum
	psample)

stage=$(mktemp -d "${TMPDIR:-/tmp}/qosplane-initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc/qosplane-lab,tests,lib/modules/"$KVER"/extra,var,root}

cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$here/init" "$stage/init"

# iproute2 and ethtool with their libraries and the loader.
copy_with_libs() {
	local bin=$1 lib
	install -D -m 0755 "$bin" "$stage$bin"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		[ -e "$stage$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$stage$lib"
	done
}
for b in /usr/sbin/tc /usr/sbin/ip /usr/sbin/dcb /usr/sbin/ethtool /usr/sbin/devlink; do
	if [ -x "$b" ]; then copy_with_libs "$b"; fi
done
[ -x "$stage/usr/sbin/tc" ] && [ -x "$stage/usr/sbin/ip" ] || {
	echo "mkinitrd: iproute2's tc and ip are required (apt-get install iproute2)" >&2
	exit 1
}

# Kernel modules and their dependencies.
declare -A seen=()
mods_list=()
find_ko() { # name -> path of its .ko under MODDIR (- and _ are equivalent)
	local n=$1 alt=${1//_/-}
	find "$MODDIR/kernel" \( -name "$n.ko" -o -name "$alt.ko" \) -print -quit
}
add_mod() {
	local name=$1 f dep
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	f=$(find_ko "$name")
	if [ -z "$f" ]; then
		if grep -qE "/(${name}|${name//_/-})\.ko\$" "$MODDIR/modules.builtin" 2>/dev/null; then
			return 0
		fi
		echo "mkinitrd: warning: module $name not found" >&2
		return 0
	fi
	for dep in $(modinfo -F depends "$f" | tr ',' ' '); do
		add_mod "$dep"
	done
	install -D -m 0644 "$f" "$stage/lib/modules/$KVER/${f#"$MODDIR/"}"
}
for m in "${MODULES[@]}"; do
	add_mod "$m"
	[ -z "$(find_ko "$m")" ] || mods_list+=("$m")
done
cp "$MODDIR"/modules.builtin* "$MODDIR"/modules.order "$stage/lib/modules/$KVER/" 2>/dev/null || true
install -m 0644 "$ko" "$stage/lib/modules/$KVER/extra/qostestnic.ko"
install -m 0644 "$nsim" "$stage/lib/modules/$KVER/extra/netdevsim.ko"
depmod -b "$stage" "$KVER" 2>/dev/null
printf '%s\n' "${mods_list[@]}" >"$stage/etc/qosplane-lab/modules"
printf '%s\n' "$args" >"$stage/etc/qosplane-lab/args"

for bin in "$@"; do
	base=$(basename "$bin")
	install -m 0755 "$bin" "$stage/tests/$base"
	work="${bin%.test}.work"
	if [ -d "$work" ]; then
		cp -a "$work" "$stage/tests/${base%.test}.work"
	fi
done

(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitrd: $out ($(du -h "$out" | cut -f1))" >&2
