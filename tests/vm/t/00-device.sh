#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# cmr0 is registered, matched by libcmr, and its port is ACTIVE.
set -eu -o pipefail
fail() { echo "$*"; exit 1; }

ibv_devices | tee /dev/stderr | grep -qw cmr0 || fail "ibv_devices does not list cmr0"
info=$(ibv_devinfo -v -d cmr0) || fail "ibv_devinfo -d cmr0 failed"
echo "$info"
grep -q 'state:[[:space:]]*PORT_ACTIVE' <<<"$info" || fail "port not ACTIVE"
grep -q 'link_layer:[[:space:]]*InfiniBand' <<<"$info" || fail "link layer not InfiniBand"
[ -d /sys/class/infiniband/cmr0 ] || fail "no sysfs node"
[ -e /dev/infiniband/uverbs0 ] || fail "no uverbs char device"
rdma dev show cmr0 | grep -q cmr0 || fail "rdma dev does not show cmr0"
