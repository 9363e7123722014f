/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* libcmr: provider objects and their converters. */
#ifndef CMR_PROVIDER_H
#define CMR_PROVIDER_H

#include <infiniband/driver.h>

struct cmr_device {
	struct verbs_device vdev;
};

struct cmr_context {
	struct verbs_context vctx;
	uint32_t max_inline_data;
};

static inline struct cmr_context *to_cmr_ctx(struct ibv_context *ibctx)
{
	return container_of(ibctx, struct cmr_context, vctx.context);
}

#endif /* CMR_PROVIDER_H */
