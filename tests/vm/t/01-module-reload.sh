#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# num_devices registers that many devices; unload removes them all.
# sq_poll_cpus binds the SQ poller threads; bad lists are refused.
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

# sq_poll_cpus binds the SQ poller threads, round robin over its CPUs.
rmmod cmr
insmod "$ko" sq_poll_threads=3 sq_poll_cpus=0-1
for t in 0 1 2; do
	want=$((t % 2))
	pid=$(pgrep -x "cmr_sqp/$t") || fail "no cmr_sqp/$t"
	got=$(taskset -pc "$pid" | sed 's/.*: //')
	[ "$got" = "$want" ] || fail "cmr_sqp/$t may run on CPUs $got, not $want"
done
rmmod cmr
for bad in x 4096; do
	if insmod "$ko" sq_poll_cpus="$bad" 2>/dev/null; then
		fail "sq_poll_cpus=$bad accepted"
	fi
done
insmod "$ko"
pid=$(pgrep -x cmr_sqp/0) || fail "no cmr_sqp/0"
[ "$(taskset -pc "$pid" | sed 's/.*: //')" = "0,1" ] ||
	fail "an unbound poller is bound: $(taskset -pc "$pid")"
