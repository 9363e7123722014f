/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* libcmr: uverbs commands carrying cmr's driver-private data. */
#ifndef CMR_PROVIDER_ABI_H
#define CMR_PROVIDER_ABI_H

#include <infiniband/kern-abi.h>
#include <rdma/cmr-abi.h>
#include <kernel-abi/cmr-abi.h>

DECLARE_DRV_CMD(cmr_cmd_get_context, IB_USER_VERBS_CMD_GET_CONTEXT,
		cmr_alloc_ucontext_cmd, cmr_alloc_ucontext_resp_ex);
DECLARE_DRV_CMD(cmr_cmd_create_ah, IB_USER_VERBS_CMD_CREATE_AH,
		empty, cmr_create_ah_resp);
DECLARE_DRV_CMD(cmr_cmd_create_cq_ex, IB_USER_VERBS_EX_CMD_CREATE_CQ,
		empty, cmr_create_cq_resp);
DECLARE_DRV_CMD(cmr_cmd_resize_cq, IB_USER_VERBS_CMD_RESIZE_CQ,
		empty, cmr_resize_cq_resp);
DECLARE_DRV_CMD(cmr_cmd_create_qp_ex, IB_USER_VERBS_EX_CMD_CREATE_QP,
		cmr_create_qp_cmd, cmr_create_qp_resp);
DECLARE_DRV_CMD(cmr_cmd_create_srq, IB_USER_VERBS_CMD_CREATE_SRQ,
		empty, cmr_create_srq_resp);
DECLARE_DRV_CMD(cmr_cmd_modify_srq, IB_USER_VERBS_CMD_MODIFY_SRQ,
		cmr_modify_srq_cmd, empty);

#endif /* CMR_PROVIDER_ABI_H */
