/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cmr: the only place for kernel version tests.  cmr targets Debian
 * bookworm's 6.1; differences to other kernels are absorbed here.
 */
#ifndef CMR_COMPAT_H
#define CMR_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "cmr needs Linux 6.1 or later"
#endif

#endif /* CMR_COMPAT_H */
