#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The examples on real data, checked by independent tools: cmr-zip's output
# is read by gunzip and cmr-zip reads gzip's, also from pipes and FIFOs;
# cmr-crypt's files are read by an OpenSSL-based reference of the format
# and vice versa, also through pipes; tampering or a wrong key is detected
# and leaves no output, or the old one.  cmr-perf's inverse mode runs and
# its bandwidth is in perftest's MiB/s.
set -eu -o pipefail
fail() { echo "FAIL: $*"; exit 1; }
bin=$CMR_BUILD/bin
ref=$(dirname "$0")/../lib/cmr_crypt_ref.py
w=$(mktemp -d)
# Also stops a FIFO's writer that nobody came to read.
trap 'kill $(jobs -p) 2>/dev/null || :; rm -rf "$w"' EXIT

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
# A pipe or FIFO named as FILE has st_size 0: it is read to its end all the
# same.  (/proc/self/fd, as the VM's /dev has no stdin or fd links.)
cat "$w/corpus" | "$bin/cmr-zip" -c /proc/self/fd/0 | gunzip -c |
	cmp - "$w/corpus" || fail "compressing a pipe named as FILE"
mkfifo "$w/fifo.gz"
gzip -c "$w/corpus" > "$w/fifo.gz" &
"$bin/cmr-zip" -d -c "$w/fifo.gz" | cmp - "$w/corpus" ||
	fail "decompressing a FIFO"
wait $!
# As gzip: -dc takes any name, -d wants .gz; the input's mode carries over
# whatever the umask.
cp "$w/b.gz" "$w/b.data"
"$bin/cmr-zip" -d -c "$w/b.data" | cmp - "$w/corpus" ||
	fail "-dc of a name without .gz"
if "$bin/cmr-zip" -d -k "$w/b.data" 2>/dev/null; then
	fail "-d without -c took a name without .gz"
fi
head -c 100000 "$w/corpus" > "$w/m1"
cp "$w/m1" "$w/m2"
chmod 644 "$w/m1" "$w/m2"
(umask 077; gzip "$w/m1"; "$bin/cmr-zip" "$w/m2")
m1=$(stat -c %a "$w/m1.gz") m2=$(stat -c %a "$w/m2.gz")
[ "$m2" = "$m1" ] || fail "cmr-zip gave mode $m2, gzip $m1"

head -c 32 /dev/urandom > "$w/key"
"$bin/cmr-crypt" -e -k "$w/key" "$w/corpus" "$w/enc"
python3 "$ref" -d "$w/key" "$w/enc" "$w/dec-ref" || fail "reference cannot decrypt"
cmp "$w/dec-ref" "$w/corpus" || fail "reference decryption differs"
python3 "$ref" -e "$w/key" "$w/corpus" "$w/enc-ref"
"$bin/cmr-crypt" -d -k "$w/key" "$w/enc-ref" "$w/dec"
cmp "$w/dec" "$w/corpus" || fail "cmr-crypt cannot decrypt the reference's file"
# Flip one bit in the middle: authentication must fail, output empty.
# (Flip, not set: a byte that already had the value would change nothing.)
cp "$w/enc" "$w/bad"
byte=$(od -An -tu1 -j100000 -N1 "$w/bad")
printf "\\$(printf %03o $((byte ^ 1)))" |
	dd of="$w/bad" bs=1 seek=100000 conv=notrunc status=none
cmp -s "$w/enc" "$w/bad" && fail "the tampering changed nothing"
if "$bin/cmr-crypt" -d -k "$w/key" "$w/bad" "$w/out" 2> "$w/err"; then
	fail "a tampered file decrypted"
fi
grep -q 'authentication failed' "$w/err" || fail "wrong error: $(cat "$w/err")"
[ ! -e "$w/out" ] || fail "a tampered file left an output file"
[ -z "$(find "$w" -name 'out.*')" ] || fail "a temporary file was left"
# A wrong key leaves an existing output as it was, even when it is the input.
head -c 32 /dev/urandom > "$w/key2"
cp "$w/corpus" "$w/keep"
if "$bin/cmr-crypt" -d -k "$w/key2" "$w/enc" "$w/keep" 2>/dev/null; then
	fail "a wrong key decrypted"
fi
cmp "$w/keep" "$w/corpus" || fail "a failed decryption destroyed its output"
cp "$w/enc" "$w/same"
if "$bin/cmr-crypt" -d -k "$w/key2" "$w/same" "$w/same" 2>/dev/null; then
	fail "a wrong key decrypted in place"
fi
cmp "$w/same" "$w/enc" || fail "a failed decryption destroyed its input"
# Standard output, a link to a file, is written through, not replaced.
"$bin/cmr-crypt" -d -k "$w/key" "$w/enc" /proc/self/fd/1 > "$w/stdout" ||
	fail "decrypting to standard output failed"
cmp "$w/stdout" "$w/corpus" || fail "decrypting to standard output"
# Through pipes, which cannot seek: every byte gets through, also when the
# input ends on a chunk boundary (1 MiB).
cat "$w/corpus" |
	"$bin/cmr-crypt" -e -k "$w/key" /proc/self/fd/0 "$w/enc-pipe" ||
	fail "encrypting from a pipe"
python3 "$ref" -d "$w/key" "$w/enc-pipe" "$w/dec-ref-pipe" ||
	fail "reference cannot decrypt what was encrypted from a pipe"
cmp "$w/dec-ref-pipe" "$w/corpus" || fail "encrypting from a pipe lost data"
cat "$w/enc-ref" |
	"$bin/cmr-crypt" -d -k "$w/key" /proc/self/fd/0 "$w/dec-pipe" ||
	fail "decrypting from a pipe"
cmp "$w/dec-pipe" "$w/corpus" || fail "decrypting from a pipe lost data"
head -c 1048576 "$w/corpus" > "$w/mib"
cat "$w/mib" |
	"$bin/cmr-crypt" -e -k "$w/key" /proc/self/fd/0 "$w/enc-mib" ||
	fail "encrypting 1 MiB from a pipe"
python3 "$ref" -d "$w/key" "$w/enc-mib" "$w/dec-mib" ||
	fail "reference cannot decrypt 1 MiB"
cmp "$w/dec-mib" "$w/mib" || fail "encrypting 1 MiB from a pipe lost data"
python3 "$ref" -e "$w/key" "$w/mib" "$w/enc-ref-mib"
"$bin/cmr-crypt" -d -k "$w/key" "$w/enc-ref-mib" "$w/dec-ref-mib" ||
	fail "cmr-crypt cannot decrypt the reference's 1 MiB"
cmp "$w/dec-ref-mib" "$w/mib" || fail "the reference's 1 MiB differs"
# Truncation at a chunk boundary is caught by the last-chunk flag.
head -c $((32 + 65552)) "$w/enc" > "$w/short"
if "$bin/cmr-crypt" -d -k "$w/key" "$w/short" "$w/out" 2>/dev/null; then
	fail "a truncated file decrypted"
fi

# cmr-perf -i feeds each inverse WR the whole forward output, which can be
# longer than the input (GCM's tag, deflate of a few bytes), in its own
# slot; the device's authentication and inflate check it.
for alg in aes-gcm deflate; do
	for args in "-s 8" "-s 65536" "-s 8 -b" "-s 65536 -b"; do
		"$bin/cmr-perf" -a $alg -i $args -n 20 -q 4 > /dev/null ||
			fail "cmr-perf -a $alg -i $args"
	done
done
# Bandwidth in perftest's MiB/s: MsgRate[Mpps] * size / 1.048576.
"$bin/cmr-perf" -a memcpy -s 4096 -n 2000 -b | awk '
	$1 == 4096 { r = $3 / ($4 * 4096 / 1.048576) }
	END { exit !(r > 0.999 && r < 1.001) }' ||
	fail "cmr-perf's bandwidth is not in MiB/s"
echo "examples ok"
