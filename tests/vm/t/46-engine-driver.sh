#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# A compression engine's crypto API driver serves the WRs it can with no
# change to applications.  cmr_test_acomp (tests/kmod) stands in for one:
# an asynchronous acomp driver of deflate, lz4 and zstd.  Loaded, it is
# named in compute_backends before the library and takes the one-shot
# compressions at the default level and the LZ4 and zstd decompressions
# (counted by the driver itself), while vmtest_compute's codec part checks
# every WR against zlib, liblz4 and libzstd and provokes each codec's data
# errors; the library still takes DEFLATE decompression, explicit levels
# and streams.  Pinned to the library, or to the crypto API's software
# drivers (which pass the same checks), then unloaded, the driver serves
# nothing more.  Pinned by name, the driver stays loaded until unpinned.
set -eu -o pipefail
fail() { echo "FAIL: $*"; exit 1; }
ko=$CMR_BUILD/test-kmod-$(uname -r)/cmr_test_acomp.ko
sys=/sys/class/infiniband/cmr0/compute_backends
counters=/sys/module/cmr_test_acomp/parameters
[ -f "$ko" ] || { echo "no $ko: scripts/build builds it"; exit 77; }
grep -q '^cmr_test_acomp ' /proc/modules && rmmod cmr_test_acomp
param() { echo "$2" > "/sys/module/cmr/parameters/$1_driver"; }
trap 'for a in deflate lz4 zstd; do param $a ""; done
      rmmod cmr_test_acomp 2>/dev/null || true' EXIT

backend() { awk -v a="$1" '$1 == a { print $2 }' $sys; }
lib() { case $1 in deflate) echo lib/zlib ;; *) echo "lib/$1" ;; esac; }
count() { cat "$counters/$1"; }
libs() {
	for a in deflate lz4 zstd; do
		[ "$(backend $a)" = "$(lib $a)" ] || fail "$1: $(cat $sys)"
	done
}

# No engine on this machine: the crypto API's software compressors are
# the libraries cmr calls itself.
libs "without an engine"

insmod "$ko"
for a in deflate lz4 zstd; do
	[ "$(backend $a)" = "$a-cmr-test,$(lib $a)" ] ||
		fail "compute_backends with the driver loaded: $(cat $sys)"
done

# The crypto API's self-tests of the new driver count too.
declare -A base
for c in $counters/*; do base[${c##*/}]=$(cat "$c"); done
served() { echo $(($(count $1) - ${base[$1]})); }

VT_COMPUTE_CODECS_ONLY=1 "$CMR_BUILD/bin/vmtest_compute"
for c in deflate_compressed lz4_compressed lz4_decompressed \
	 zstd_compressed zstd_decompressed; do
	echo "the driver served $(served $c) WRs: $c"
	[ "$(served $c)" -gt 0 ] || fail "the driver served no WR: $c"
done
# Its software deflate decompresses 2 KiB windows only, as the crypto
# API's does: cmr must not have handed it a DEFLATE decompression.
[ "$(served deflate_decompressed)" = 0 ] || fail "DEFLATE decompression went to the driver"

# Pinned by name, the driver is held: its module stays.
param deflate deflate-cmr-test
[ "$(backend deflate)" = "deflate-cmr-test,lib/zlib" ] || fail "pinned to deflate-cmr-test: $(cat $sys)"
rmmod cmr_test_acomp 2>/dev/null && fail "a pinned driver's module went away"
grep -q '^cmr_test_acomp ' /proc/modules || fail "cmr_test_acomp gone"

# Pinned to the library: the driver sees no more WRs.
param deflate lib/zlib
[ "$(backend deflate)" = lib/zlib ] || fail "pinned to lib/zlib: $(cat $sys)"
before=$(count deflate_compressed)
"$CMR_BUILD/bin/cmr-perf" -a deflate -s 4096 -n 20 > /dev/null
[ "$(count deflate_compressed)" = "$before" ] || fail "pinned to lib/zlib, the driver still served"

# Pinned to the crypto API's software drivers (synchronous, 128 KiB at
# most, DEFLATE with a 2 KiB window): the same checks pass.
for a in deflate lz4 zstd; do
	param $a $a-scomp
	[ "$(backend $a)" = "$a-scomp,$(lib $a)" ] || fail "pinned to $a-scomp: $(cat $sys)"
done
VT_COMPUTE_CODECS_ONLY=1 "$CMR_BUILD/bin/vmtest_compute"
[ "$(count deflate_compressed)" = "$before" ] || fail "pinned to deflate-scomp, the driver still served"

for a in deflate lz4 zstd; do param $a ""; done
"$CMR_BUILD/bin/cmr-perf" -a deflate -s 4096 -n 20 > /dev/null
[ "$(count deflate_compressed)" -gt "$before" ] || fail "back to the default, the driver served nothing"

rmmod cmr_test_acomp || fail "the driver is held after its users closed"
trap - EXIT
libs "with the driver unloaded"
"$CMR_BUILD/bin/cmr-perf" -a zstd -s 4096 -n 5 > /dev/null

# Pinned when cmr.ko loads, the driver is held until cmr.ko goes, also
# when loading fails after the parameters were taken.
insmod "$ko"
trap 'grep -q "^cmr " /proc/modules || insmod "$CMR_KMOD"
      rmmod cmr_test_acomp 2>/dev/null || true' EXIT
rmmod cmr
insmod "$CMR_KMOD" deflate_driver=deflate-cmr-test
[ "$(backend deflate)" = "deflate-cmr-test,lib/zlib" ] || fail "pinned at load: $(cat $sys)"
rmmod cmr_test_acomp 2>/dev/null && fail "a driver pinned at load went away"
rmmod cmr
rmmod cmr_test_acomp || fail "cmr.ko's unload kept its pinned driver"
insmod "$ko"
insmod "$CMR_KMOD" deflate_driver=deflate-cmr-test num_devices=0 2>/dev/null &&
	fail "num_devices=0 accepted"
rmmod cmr_test_acomp || fail "a failed load of cmr.ko kept its pinned driver"
insmod "$CMR_KMOD"
trap - EXIT
echo "engine driver ok"
