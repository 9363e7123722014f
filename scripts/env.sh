# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Paths and versions shared by every script; sourced, never run.
#
# Overridable from the environment:
#   CMR_BUILD      build output (default: <top>/build)
#   CMR_CACHE      downloads kept across clean clones (default: /var/cache/cmr)
#   KVER           kernel release to build for and boot (default: what
#                  Debian's linux-image-amd64 points at, resolved once)
#   KDIR           kbuild tree of that kernel (default: /usr/src/linux-headers-$KVER)
#   CMR_KMOD       the cmr.ko the VM loads (default: kernel/cmr.ko)
#   RDMA_CORE_SRC  an rdma-core source tree to build instead of the 56.1 tarball

CMR_TOP=$(cd "$(dirname "$0")/.." && pwd)
while [ ! -f "$CMR_TOP/scripts/env.sh" ] && [ "$CMR_TOP" != / ]; do
	CMR_TOP=$(dirname "$CMR_TOP")
done
CMR_BUILD=${CMR_BUILD:-$CMR_TOP/build}
CMR_CACHE=${CMR_CACHE:-/var/cache/cmr}
RDMA_CORE_VER=56.1
RDMA_CORE_SHA256=63ce7f2baa7242c2dbc76375dac957c420187dd27f8c5e148efc07971ee522a8
mkdir -p "$CMR_BUILD" "$CMR_CACHE"

# The kernel release a Debian meta package (linux-image-amd64) points at.
cmr_kver_of() {
	for _try in 1 2; do
		_kver=$(apt-cache depends "$1" 2>/dev/null |
			sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n1)
		[ -z "$_kver" ] || { echo "$_kver"; return 0; }
		# A fresh machine may have no package lists yet.
		[ $_try = 2 ] || apt-get update -qq
	done
	echo "cannot resolve $1" >&2
	return 1
}

# Build cmr.ko from the sources in directory $1 (kernel/, or a copy of it
# for another kernel) against $KDIR, and the modules the in-VM tests load
# beside it (tests/kmod) into $CMR_BUILD/test-kmod-$KVER; a warning fails
# the build.
cmr_kbuild() {
	_log=$CMR_BUILD/kbuild-$KVER.log
	_tests=$CMR_BUILD/test-kmod-$KVER
	mkdir -p "$_tests"
	cp -p "$CMR_TOP"/tests/kmod/Kbuild "$CMR_TOP"/tests/kmod/*.c "$_tests/"
	{ make -s -C "$1" KDIR="$KDIR" &&
	  make -s -C "$KDIR" M="$_tests" modules; } >"$_log" 2>&1 ||
		{ cat "$_log" >&2; return 1; }
	if grep -E 'warning:|error:' "$_log" >&2; then
		echo "build: kernel modules must build without warnings" >&2
		return 1
	fi
}

# Copy what cmr.ko is built from (VERSION, kernel/ and include/uapi/, laid
# out as here) into directory $1: kbuild builds an external module in its
# source directory, so another kernel or a package needs its own copy.
cmr_copy_kmod_sources() {
	mkdir -p "$1/kernel" "$1/include"
	cp -p "$CMR_TOP/VERSION" "$1/"
	find "$CMR_TOP/kernel" -maxdepth 1 -type f \
		\( -name '*.[ch]' -o -name Kbuild -o -name Makefile \) \
		! -name '*.mod.c' -exec cp -p {} "$1/kernel/" \;
	cp -pR "$CMR_TOP/include/uapi" "$1/include/"
}

# The kernel release is resolved once per build tree so that the module,
# the headers and the VM image never disagree.
if [ -z "${KVER:-}" ]; then
	if [ -s "$CMR_BUILD/kver" ]; then
		KVER=$(cat "$CMR_BUILD/kver")
	else
		KVER=$(cmr_kver_of linux-image-amd64) || exit 1
		echo "$KVER" > "$CMR_BUILD/kver"
	fi
fi
KDIR=${KDIR:-/usr/src/linux-headers-$KVER}
CMR_KMOD=${CMR_KMOD:-$CMR_TOP/kernel/cmr.ko}
KIMAGE_DIR=$CMR_BUILD/kernel-$KVER
RDMA_CORE_DIR=${RDMA_CORE_SRC:-$CMR_BUILD/rdma-core-$RDMA_CORE_VER}
RDMA_BUILD=$RDMA_CORE_DIR/build
export CMR_TOP CMR_BUILD CMR_CACHE KVER KDIR KIMAGE_DIR RDMA_CORE_DIR RDMA_BUILD
export CMR_KMOD
