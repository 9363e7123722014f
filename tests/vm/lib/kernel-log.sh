# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Sourced on the host (tests/vm/run) and in the VM (tests/debug/guest).
# bad_kernel_log FILE: the lines (grep -n) of a kernel log that report a
# problem: WARN, BUG, oops, KASAN, UBSAN, lockdep, hung task, stall, ...
# With CMR_EXPECT_ALLOC_FAILURES set (fault injection), the allocator's
# own reports of a failed allocation (warn_alloc(): a stack trace) are
# not problems: they are blanked, keeping the line numbers.
bad_kernel_log() {
	if [ -n "${CMR_EXPECT_ALLOC_FAILURES:-}" ]; then
		awk '/(page allocation failure|vmalloc error): / { skip = 1 }
		     !skip { print; next }
		     /<\/TASK>/ { skip = 0 }
		     { print "" }' "$1"
	else
		cat "$1"
	fi | grep -n -E 'WARNING:|BUG:|kernel BUG|Oops|general protection fault|Call Trace|INFO: task .* blocked for more than|possible (circular|recursive) locking|locking correctness validator|UBSAN|KASAN|refcount_t:|list_(add|del) corruption|soft lockup|hard LOCKUP|rcu_sched self-detected stall|rcu: INFO'
}
