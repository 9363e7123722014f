#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Compute backends are visible and selectable: compute_backends names the
# driver serving each algorithm; pinning AES-GCM to another kernel crypto
# API implementation (aes-fixed-time, from aes_ti) moves the device's
# work there and back, and the output stays right (checked by an
# OpenSSL-based reader); an unknown driver is refused; an empty value
# restores the crypto API's own choice.  A driver that goes away (its
# module unloaded, autoloading off) leaves its algorithm unserved:
# compute_backends says so and a WR of it completes with a local QP
# operation error and CMRDV_ERR_UNSUPPORTED, until the module is back.
set -eu -o pipefail
fail() { echo "FAIL: $*"; exit 1; }
bin=$CMR_BUILD/bin
ref=$(dirname "$0")/../lib/cmr_crypt_ref.py
sys=/sys/class/infiniband/cmr0/compute_backends
param=/sys/module/cmr/parameters/gcm_aes_driver
w=$(mktemp -d)
modprobe_path=$(cat /proc/sys/kernel/modprobe)
trap 'echo "$modprobe_path" > /proc/sys/kernel/modprobe; rm -rf "$w"' EXIT

for alg in memcpy deflate lz4 zstd aes-gcm aes-xts sha256 hmac-sha256 crc32 crc32c; do
	grep -q "^$alg ." $sys || fail "compute_backends lacks $alg: $(cat $sys)"
done
# The driver compute_backends names for algorithm $1.
backend() { awk -v a="$1" '$1 == a { print $2 }' $sys; }
gcm() { backend aes-gcm; }
default=$(gcm)

head -c 300000 /dev/urandom > "$w/plain"
head -c 32 /dev/urandom > "$w/key"
roundtrip() {
	"$bin/cmr-crypt" -e -k "$w/key" "$w/plain" "$w/enc"
	python3 "$ref" -d "$w/key" "$w/enc" "$w/dec"
	cmp "$w/dec" "$w/plain" || fail "wrong ciphertext from $(gcm)"
}

modprobe aes_ti
want='gcm_base(ctr(aes-fixed-time),ghash-generic)'
echo "$want" > $param || fail "cannot pin $want"
[ "$(cat $param)" = "$want" ] || fail "parameter reads $(cat $param)"
roundtrip
[ "$(gcm)" = "$want" ] || fail "compute_backends says $(gcm), not $want"

if echo no-such-driver > $param 2>/dev/null; then
	fail "an unknown driver was accepted"
fi
[ "$(cat $param)" = "$want" ] || fail "a refused value changed the parameter"

echo "$default" > $param
roundtrip
[ "$(gcm)" = "$default" ] || fail "pinned $default, got $(gcm)"

# Empty: whichever gcm(aes) the crypto API ranks first.
echo > $param
[ -z "$(cat $param)" ] || fail "parameter not cleared"
roundtrip
awk -F' *: ' -v d="$(gcm)" '$1 == "driver" && $2 == d { f = 1 } END { exit !f }' /proc/crypto ||
	fail "compute_backends names $(gcm), unknown to /proc/crypto"
echo "backends ok: $default, $want, $default, then the default: $(gcm)"

crc32_wr() { "$bin/cmr-perf" -a crc32 -s 64 -n 1 2>&1; }
mod=crc32_generic
if ! modinfo -F filename $mod | grep -q '\.ko'; then
	echo "note: $mod is built into $(uname -r): its going away is not tested"
	exit 0
fi
echo /nonexistent > /proc/sys/kernel/modprobe
if grep -q "^$mod " /proc/modules; then
	rmmod $mod || fail "cannot unload $mod: $(grep "^$mod " /proc/modules)"
fi
grep -q '^name *: crc32$' /proc/crypto &&
	fail "another crc32 driver is left: $(grep -A2 '^name *: crc32$' /proc/crypto)"
[ "$(backend crc32)" = unavailable ] || fail "without $mod compute_backends says crc32 $(backend crc32)"
if out=$(crc32_wr); then
	fail "a CRC32 WR succeeded with no crc32 driver: $out"
fi
grep -q "WR failed: local QP operation error: unsupported" <<<"$out" ||
	fail "a CRC32 WR with no crc32 driver: $out"
echo "$modprobe_path" > /proc/sys/kernel/modprobe
modprobe $mod
[ "$(backend crc32)" = crc32-generic ] || fail "with $mod back compute_backends says crc32 $(backend crc32)"
out=$(crc32_wr) || fail "a CRC32 WR with $mod back: $out"
echo "a driver that goes away ok: without $mod crc32 is unavailable and its WRs unsupported; served again with it"
