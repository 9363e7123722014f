#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The examples on real data, checked by independent tools: cmr-zip's output
# is read by gunzip and cmr-zip reads gzip's; cmr-crypt's files are read by
# an OpenSSL-based reference of the format and vice versa, and tampering is
# detected.
set -eu -o pipefail
fail() { echo "FAIL: $*"; exit 1; }
bin=$CMR_BUILD/bin
ref=$(dirname "$0")/../lib/cmr_crypt_ref.py
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

# A mixed corpus: text, binaries, random bytes; ~6 MB, not chunk-aligned.
cat /usr/share/common-licenses/* /usr/include/*.h > "$w/text" 2>/dev/null || true
{ head -c 3000000 "$w/text"
  head -c 2000000 /usr/bin/bash
  head -c 1000003 /dev/urandom; } > "$w/corpus"

cp "$w/corpus" "$w/a"
"$bin/cmr-zip" -v "$w/a" 2> "$w/progress"
[ ! -e "$w/a" ] && [ -s "$w/a.gz" ] || fail "cmr-zip did not replace a by a.gz"
grep -q '100%' "$w/progress" || fail "no progress report"
gunzip -t "$w/a.gz" || fail "gunzip rejects cmr-zip's output"
gunzip -c "$w/a.gz" | cmp - "$w/corpus" || fail "gunzip output differs"

gzip -9 -c "$w/corpus" > "$w/b.gz"
"$bin/cmr-zip" -d -k "$w/b.gz"
cmp "$w/b" "$w/corpus" || fail "cmr-zip -d misreads gzip's output"
# Several gzip members, through a pipe.
{ gzip -c "$w/corpus"; echo tail | gzip -c; } | "$bin/cmr-zip" -d > "$w/c"
{ cat "$w/corpus"; echo tail; } | cmp - "$w/c" || fail "multi-member via stdin"
: | "$bin/cmr-zip" | gunzip -c | cmp - /dev/null || fail "empty input"
for lvl in 1 9; do
	"$bin/cmr-zip" -$lvl -c "$w/corpus" | gunzip -c | cmp - "$w/corpus" ||
		fail "level $lvl"
done
# Output far larger than the device's max_compute_size per WR: 24 MB of
# zeros is ~24 KB of gzip, which cmr-zip must feed in small enough chunks.
head -c 24000000 /dev/zero > "$w/zeros"
gzip -9 -c "$w/zeros" > "$w/zeros.gz"
"$bin/cmr-zip" -d -c "$w/zeros.gz" | cmp - "$w/zeros" || fail "1000:1 expansion"
head -c 1000 "$w/a.gz" > "$w/trunc.gz"
if "$bin/cmr-zip" -d -c "$w/trunc.gz" > /dev/null 2>&1; then
	fail "a truncated file was accepted"
fi

head -c 32 /dev/urandom > "$w/key"
"$bin/cmr-crypt" -e -k "$w/key" "$w/corpus" "$w/enc"
python3 "$ref" -d "$w/key" "$w/enc" "$w/dec-ref" || fail "reference cannot decrypt"
cmp "$w/dec-ref" "$w/corpus" || fail "reference decryption differs"
python3 "$ref" -e "$w/key" "$w/corpus" "$w/enc-ref"
"$bin/cmr-crypt" -d -k "$w/key" "$w/enc-ref" "$w/dec"
cmp "$w/dec" "$w/corpus" || fail "cmr-crypt cannot decrypt the reference's file"
# Flip one bit in the middle: authentication must fail, output empty.
cp "$w/enc" "$w/bad"
printf '\x01' | dd of="$w/bad" bs=1 seek=100000 conv=notrunc status=none
if "$bin/cmr-crypt" -d -k "$w/key" "$w/bad" "$w/out" 2> "$w/err"; then
	fail "a tampered file decrypted"
fi
grep -q 'authentication failed' "$w/err" || fail "wrong error: $(cat "$w/err")"
[ ! -s "$w/out" ] || fail "plaintext of a tampered file was written"
# Truncation at a chunk boundary is caught by the last-chunk flag.
head -c $((32 + 65552)) "$w/enc" > "$w/short"
if "$bin/cmr-crypt" -d -k "$w/key" "$w/short" "$w/out" 2>/dev/null; then
	fail "a truncated file decrypted"
fi
echo "examples ok"
