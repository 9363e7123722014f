#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Compute backends are visible and selectable: compute_backends names the
# driver serving each algorithm; pinning AES-GCM to another kernel crypto
# API implementation (aes-fixed-time, from aes_ti) moves the device's
# work there and back, and the output stays right (checked by an
# OpenSSL-based reader); an unknown driver is refused; an empty value
# restores the crypto API's own choice.
set -eu -o pipefail
fail() { echo "FAIL: $*"; exit 1; }
bin=$CMR_BUILD/bin
ref=$(dirname "$0")/../lib/cmr_crypt_ref.py
sys=/sys/class/infiniband/cmr0/compute_backends
param=/sys/module/cmr/parameters/gcm_aes_driver
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

for alg in memcpy deflate lz4 zstd aes-gcm aes-xts sha256 hmac-sha256 crc32 crc32c; do
	grep -q "^$alg ." $sys || fail "compute_backends lacks $alg: $(cat $sys)"
done
gcm() { awk '$1 == "aes-gcm" { print $2 }' $sys; }
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
