#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The runner returns the command's exit status and runs it in the caller's
# directory with its arguments intact.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
run=$top/tests/vm/run

"$run" false
st=$?
[ $st -ne 0 ] || { echo "'run false' exited 0"; exit 1; }

cd "$top/kernel"
out=$("$run" sh -c 'pwd; echo "$1|$2"; exit 7' sh 'a b' '$c')
st=$?
[ $st -eq 7 ] || { echo "expected status 7, got $st"; exit 1; }
grep -qx "$top/kernel" <<<"$out" || { echo "wrong directory: $out"; exit 1; }
grep -qxF 'a b|$c' <<<"$out" || { echo "arguments mangled: $out"; exit 1; }
