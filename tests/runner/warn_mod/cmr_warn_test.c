// SPDX-License-Identifier: GPL-2.0
/* Test module for tests/runner/kernel-warn.sh: WARNs once on load. */
#include <linux/module.h>

static int __init cmr_warn_test_init(void)
{
	WARN(1, "cmr_warn_test: deliberate warning\n");
	return 0;
}

static void __exit cmr_warn_test_exit(void)
{
}

module_init(cmr_warn_test_init);
module_exit(cmr_warn_test_exit);
MODULE_LICENSE("GPL");
