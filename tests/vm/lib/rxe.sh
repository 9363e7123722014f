# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Sourced in the VM: bring up soft-RoCE (rxe0) on a veth pair, the
# comparison device.  rxe needs crc32_generic loaded first.
rxe_up() {
	[ -e /sys/class/infiniband/rxe0 ] && return 0
	modprobe crc32_generic && modprobe rdma_rxe || return 1
	ip link add v0 type veth peer name v1 &&
	ip link set v0 up && ip link set v1 up &&
	ip addr add 192.168.77.1/24 dev v0 &&
	rdma link add rxe0 type rxe netdev v0 || return 1
	# Wait for the GID table to settle.
	for _ in $(seq 50); do
		ibv_devinfo -d rxe0 2>/dev/null | grep -q PORT_ACTIVE && return 0
		sleep 0.1
	done
	return 1
}
