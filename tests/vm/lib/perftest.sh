# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Sourced in the VM: run one unmodified perftest server/client pair on
# 127.0.0.1 and print its result row.

perftest_port=${perftest_port:-18600}

# perftest_pair TOOL DEVICE SIZE ITERS [EXTRA ARGS...]
# Prints the client's numeric result row (perftest's own table) on stdout;
# the full output goes to stderr on failure.  Returns non-zero on failure.
# perftest's clock sanity check occasionally fails under emulation
# ("Can't produce a report"), so a pair is retried once.  With
# PERFTEST_PIN=1 the server runs on CPU 0 and the client on CPU 1: two
# busy-polling processes sharing one vCPU measure the scheduler tick.
perftest_pair() {
	local tool=$1 dev=$2 size=$3 iters=$4 try out row
	local pin_server=() pin_client=()
	shift 4
	if [ "${PERFTEST_PIN:-0}" = 1 ]; then
		pin_server=(taskset -c 0)
		pin_client=(taskset -c 1)
	fi
	for try in 1 2; do
		perftest_port=$((perftest_port + 1))
		"${pin_server[@]}" "$tool" -d "$dev" -s "$size" -n "$iters" \
			-p "$perftest_port" -F "$@" > /tmp/perftest-server.out 2>&1 &
		local spid=$!
		# Wait for the server's TCP listener instead of sleeping blindly.
		for _ in $(seq 100); do
			ss -ltn | grep -q ":$perftest_port " && break
			sleep 0.1
		done
		out=$(timeout 120 "${pin_client[@]}" "$tool" -d "$dev" -s "$size" \
			-n "$iters" -p "$perftest_port" -F "$@" 127.0.0.1 2>&1)
		local cst=$?
		wait "$spid"
		local sst=$?
		row=$(awk -v s="$size" '$1 == s && $2 ~ /^[0-9]+$/ { print; exit }' <<<"$out")
		if [ $cst -eq 0 ] && [ $sst -eq 0 ] && [ -n "$row" ]; then
			echo "$row"
			return 0
		fi
		grep -q "Can't produce a report" <<<"$out" && continue
		break
	done
	{
		echo "== $tool -s $size: client status $cst, server status $sst"
		echo "$out"
		echo "== server"
		cat /tmp/perftest-server.out
	} >&2
	return 1
}

# Column of a latency row: t_min 3, t_max 4, t_typical 5, t_avg 6,
# t_stdev 7, 99% 8, 99.9% 9.  Bandwidth row: BW average 4, MsgRate 5.
perftest_col() { awk -v c="$1" '{ print $c }'; }
