# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Paths and versions shared by every script; sourced, never run.
#
# Overridable from the environment:
#   CMR_BUILD      build output (default: <top>/build)
#   CMR_CACHE      downloads kept across clean clones (default: /var/cache/cmr)
#   KVER           kernel release to build for and boot (default: what
#                  Debian's linux-image-amd64 points at, resolved once)
#   KDIR           kbuild tree of that kernel (default: /usr/src/linux-headers-$KVER)
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

# The kernel release is resolved once per build tree so that the module,
# the headers and the VM image never disagree.
if [ -z "${KVER:-}" ]; then
	if [ -s "$CMR_BUILD/kver" ]; then
		KVER=$(cat "$CMR_BUILD/kver")
	else
		cmr_kver() {
			apt-cache depends linux-image-amd64 2>/dev/null |
				sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n1
		}
		KVER=$(cmr_kver)
		# A fresh machine may have no package lists yet.
		[ -n "$KVER" ] || { apt-get update -qq && KVER=$(cmr_kver); }
		[ -n "$KVER" ] || { echo "cannot resolve linux-image-amd64" >&2; exit 1; }
		echo "$KVER" > "$CMR_BUILD/kver"
	fi
fi
KDIR=${KDIR:-/usr/src/linux-headers-$KVER}
KIMAGE_DIR=$CMR_BUILD/kernel-$KVER
RDMA_CORE_DIR=${RDMA_CORE_SRC:-$CMR_BUILD/rdma-core-$RDMA_CORE_VER}
RDMA_BUILD=$RDMA_CORE_DIR/build
export CMR_TOP CMR_BUILD CMR_CACHE KVER KDIR KIMAGE_DIR RDMA_CORE_DIR RDMA_BUILD
