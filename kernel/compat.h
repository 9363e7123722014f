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

/* 6.12 moved <asm/unaligned.h> to <linux/unaligned.h>. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * Since 6.11 (dd6d7f8574d7) ib_device_ops.create_cq gets the whole
 * uverbs attribute bundle (NULL for kernel CQs) instead of its driver
 * udata: cmr_create_cq() takes either and asks for the udata here.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define cmr_create_cq_arg uverbs_attr_bundle
#define cmr_create_cq_udata(attrs) ((attrs) ? &(attrs)->driver_udata : NULL)
#else
#define cmr_create_cq_arg ib_udata
#define cmr_create_cq_udata(udata) (udata)
#endif

/* Since 6.3 vma->vm_flags is set through vm_flags_set() only. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define cmr_vm_flags_set vm_flags_set
#else
#include <linux/mm.h>
static inline void cmr_vm_flags_set(struct vm_area_struct *vma,
				    vm_flags_t flags)
{
	vma->vm_flags |= flags;
}
#endif

#endif /* CMR_COMPAT_H */
