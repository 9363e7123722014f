/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* libcmr: uverbs commands carrying cmr's driver-private data. */
#ifndef CMR_PROVIDER_ABI_H
#define CMR_PROVIDER_ABI_H

#include <infiniband/kern-abi.h>
#include <rdma/cmr-abi.h>
#include <kernel-abi/cmr-abi.h>

DECLARE_DRV_CMD(cmr_cmd_get_context, IB_USER_VERBS_CMD_GET_CONTEXT,
		empty, cmr_alloc_ucontext_resp);

#endif /* CMR_PROVIDER_ABI_H */
