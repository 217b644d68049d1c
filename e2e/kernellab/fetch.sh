#!/usr/bin/env bash
# fetch.sh: get the kernel lab's host tools and the Debian kernel it boots.
#
# Resolves the current kernel ABI from `apt-cache depends linux-image-amd64`,
# downloads exactly that linux-image, its linux-headers-<ABI>-amd64 and their
# -common / linux-kbuild dependencies with `apt-get download`, and unpacks them
# with `dpkg-deb -x` into one root under the cache:
#
#   $QOSPLANE_LAB_CACHE/               (default /var/cache/qosplane-lab)
#     debs/*.deb                       downloaded packages
#     <KVER>/root/                     unpacked tree (boot/, lib/modules/, usr/src/)
#     <KVER>/.done-<pkg>               one stamp per unpacked package
#     <KVER>/src/                      from linux-source-<X.Y> (same version as the
#                                      image): drivers/net/netdevsim and its selftests
#     current.env                      KVER=..., ROOT=..., VMLINUZ=..., KBUILD=..., SRC=...
#
# Idempotent: a package already downloaded or unpacked is skipped. Prints the
# path of current.env as its last line. Needs root for apt.
set -euo pipefail

CACHE=${QOSPLANE_LAB_CACHE:-/var/cache/qosplane-lab}
HOST_PKGS=(qemu-system-x86 busybox-static cpio kmod gcc make iproute2 xz-utils)

log() { printf 'fetch: %s\n' "$*" >&2; }
die() { printf 'fetch: error: %s\n' "$*" >&2; exit 1; }

apt_updated=0
apt_update_once() {
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		apt-get update -qq >&2 || die "apt-get update failed"
		apt_updated=1
	fi
}

# 1. Host tools.
missing=()
for p in "${HOST_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt_update_once
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
fi

# 2. Resolve the ABI: linux-image-amd64 depends on linux-image-<KVER>.
resolve_image() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 ~ /Depends:/ && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
img=$(resolve_image)
if [ -z "$img" ]; then
	apt_update_once
	img=$(resolve_image)
fi
[ -n "$img" ] || die "cannot resolve the kernel ABI from 'apt-cache depends linux-image-amd64'"
KVER=${img#linux-image-}
hdr="linux-headers-$KVER"
# The headers package pulls linux-headers-<ABI>-common and linux-kbuild-<X.Y>.
mapfile -t hdr_deps < <(apt-cache depends "$hdr" 2>/dev/null |
	awk '$1 ~ /Depends:/ && ($2 ~ /^linux-headers-.*-common/ || $2 ~ /^linux-kbuild-/) { print $2 }' | sort -u)
[ "${#hdr_deps[@]}" -ge 1 ] || die "cannot resolve the dependencies of $hdr"
PKGS=("$img" "$hdr" "${hdr_deps[@]}")
log "kernel $KVER: ${PKGS[*]}"

DEBS="$CACHE/debs"
ROOT="$CACHE/$KVER/root"
mkdir -p "$DEBS" "$ROOT"
# apt downloads as user _apt when it can write the target directory.
chown _apt "$DEBS" 2>/dev/null || true

# 3. Download what is not cached. The file name of a package is
# <name>_<version>_<arch>.deb; the candidate version decides which.
deb_of() { # pkg -> expected .deb path (epoch ':' is encoded as %3a)
	local v
	v=$(apt-cache policy "$1" | awk '/Candidate:/ { print $2; exit }')
	[ -n "$v" ] && [ "$v" != "(none)" ] || return 1
	printf '%s/%s_%s_%s.deb\n' "$DEBS" "$1" "${v//:/%3a}" "$(dpkg --print-architecture)"
}
for p in "${PKGS[@]}"; do
	if [ -e "$CACHE/$KVER/.done-$p" ]; then
		continue # unpacked already
	fi
	f=$(deb_of "$p") || die "no candidate version for $p"
	# Packages for all architectures are named *_all.deb.
	alt=${f%_*.deb}_all.deb
	if [ -s "$f" ] || [ -s "$alt" ]; then
		log "cached $(basename "$f")"
		continue
	fi
	log "downloading $p"
	(cd "$DEBS" && apt-get download -qq "$p" >&2) || {
		apt_update_once
		(cd "$DEBS" && apt-get download -qq "$p" >&2) || die "apt-get download $p failed"
	}
done

# 4. Unpack each package once.
for p in "${PKGS[@]}"; do
	stamp="$CACHE/$KVER/.done-$p"
	[ -e "$stamp" ] && continue
	f=$(ls -t "$DEBS/${p}"_*.deb 2>/dev/null | head -n1)
	[ -n "$f" ] || die "no .deb for $p in $DEBS"
	log "unpacking $(basename "$f")"
	dpkg-deb -x "$f" "$ROOT" || die "dpkg-deb -x $f failed"
	touch "$stamp"
done

VMLINUZ="$ROOT/boot/vmlinuz-$KVER"
KBUILD="$ROOT/usr/src/linux-headers-$KVER"
[ -f "$VMLINUZ" ] || die "missing $VMLINUZ after unpacking"
[ -f "$KBUILD/Makefile" ] || die "missing $KBUILD/Makefile after unpacking"
[ -d "$ROOT/lib/modules/$KVER/kernel" ] || die "missing $ROOT/lib/modules/$KVER/kernel"
# The headers' Makefile includes the -common tree by its absolute /usr/src
# path: point it into the cache instead (idempotent).
sed -i "s|^include /usr/src/|include $ROOT/usr/src/|" "$KBUILD/Makefile"

# The kernel was built with a specific gcc (e.g. gcc-12): modules must be too.
kcc=$(sed -n 's/^CC = .*)\(gcc-[0-9][0-9]*\)$/\1/p' "$KBUILD/.kernelvariables" 2>/dev/null | head -n1)
if [ -n "$kcc" ] && ! command -v "$kcc" >/dev/null 2>&1; then
	apt_update_once
	log "installing $kcc (the kernel's compiler)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$kcc" >&2 ||
		die "apt-get install $kcc failed"
fi

# 5. netdevsim's source: Debian's kernel does not build it (# CONFIG_NETDEVSIM
# is not set), so run.sh builds it out of tree. linux-source-<X.Y> must be the
# image's exact version (the headers and the module must match); only the
# driver and its selftests are taken from the tarball.
SRC="$CACHE/$KVER/src"
src_stamp="$CACHE/$KVER/.done-netdevsim-src"
if [ ! -e "$src_stamp" ]; then
	img_ver=$(apt-cache policy "$img" | awk '/Candidate:/ { print $2; exit }')
	spkg="linux-source-$(printf '%s' "$KVER" | cut -d. -f1,2)"
	sver=$(apt-cache policy "$spkg" | awk '/Candidate:/ { print $2; exit }')
	if [ -z "$sver" ] || [ "$sver" = "(none)" ]; then
		apt_update_once
		sver=$(apt-cache policy "$spkg" | awk '/Candidate:/ { print $2; exit }')
	fi
	[ -n "$sver" ] && [ "$sver" = "$img_ver" ] ||
		die "$spkg candidate '$sver' is not the kernel's version '$img_ver'"
	sdeb="$DEBS/${spkg}_${sver//:/%3a}_all.deb"
	if [ ! -s "$sdeb" ]; then
		log "downloading $spkg $sver"
		(cd "$DEBS" && apt-get download -qq "$spkg=$sver" >&2) || die "apt-get download $spkg failed"
	fi
	log "extracting netdevsim from $(basename "$sdeb")"
	rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
	dpkg-deb --fsys-tarfile "$sdeb" | tar -xO "./usr/src/$spkg.tar.xz" |
		tar -xJ -C "$SRC.tmp" --strip-components=1 \
			"$spkg/drivers/net/netdevsim" \
			"$spkg/tools/testing/selftests/drivers/net/netdevsim" ||
		die "extracting netdevsim from $sdeb failed"
	rm -rf "$SRC" && mv "$SRC.tmp" "$SRC"
	touch "$src_stamp"
fi
[ -f "$SRC/drivers/net/netdevsim/Makefile" ] || die "missing $SRC/drivers/net/netdevsim"

env_file="$CACHE/current.env"
cat >"$env_file.tmp" <<EOF
KVER=$KVER
ROOT=$ROOT
VMLINUZ=$VMLINUZ
KBUILD=$KBUILD
MODDIR=$ROOT/lib/modules/$KVER
SRC=$SRC
EOF
mv "$env_file.tmp" "$env_file"
echo "$env_file"
