#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# A module that WARNs makes the run fail even though the command
# succeeded, and the runner prints the WARN.
set -u -o pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/env.sh"
src=$top/tests/runner/warn_mod
bld=$CMR_BUILD/warn_mod
mkdir -p "$bld"
cp "$src/Kbuild" "$src/cmr_warn_test.c" "$bld/"
make -s -C "$KDIR" M="$bld" modules > /dev/null 2>&1 || { echo "cannot build"; exit 1; }

out=$("$top/tests/vm/run" insmod "$bld/cmr_warn_test.ko" 2>&1)
st=$?
echo "$out"
[ $st -ne 0 ] || { echo "a WARN did not fail the run"; exit 1; }
grep -q 'cmr_warn_test_init' <<<"$out" || { echo "the WARN was not shown"; exit 1; }
