#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# num_devices registers that many devices; unload removes them all.
set -eu -o pipefail
fail() { echo "$*"; exit 1; }
ko=$CMR_KMOD

rmmod cmr
[ ! -e /sys/class/infiniband/cmr0 ] || fail "cmr0 still present after rmmod"
insmod "$ko" num_devices=3
for d in cmr0 cmr1 cmr2; do
	ibv_devinfo -d $d | grep -q PORT_ACTIVE || fail "$d not usable"
done
rmmod cmr
if insmod "$ko" num_devices=0 2>/dev/null; then
	fail "num_devices=0 accepted"
fi
insmod "$ko"
ibv_devinfo -d cmr0 > /dev/null
