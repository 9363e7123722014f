// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* libcmr: device matching, context and the verbs ops table. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>

#include "cmr.h"
#include "cmr-abi.h"

static int cmr_query_device(struct ibv_context *ibctx,
			    const struct ibv_query_device_ex_input *input,
			    struct ibv_device_attr_ex *attr, size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);
	uint64_t fw;
	int ret;

	ret = ibv_cmd_query_device_any(ibctx, input, attr, attr_size, &resp,
				       &resp_size);
	if (ret)
		return ret;

	fw = resp.base.fw_ver;
	snprintf(attr->orig_attr.fw_ver, sizeof(attr->orig_attr.fw_ver),
		 "%u.%u.%u", (unsigned int)(fw >> 32) & 0xffff,
		 (unsigned int)(fw >> 16) & 0xffff, (unsigned int)fw & 0xffff);
	return 0;
}

static int cmr_query_port(struct ibv_context *ibctx, uint8_t port,
			  struct ibv_port_attr *attr)
{
	struct ibv_query_port cmd;

	return ibv_cmd_query_port(ibctx, port, attr, &cmd, sizeof(cmd));
}

static struct ibv_pd *cmr_alloc_pd(struct ibv_context *ibctx)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct ibv_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;
	ret = ibv_cmd_alloc_pd(ibctx, pd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	return pd;
}

static int cmr_dealloc_pd(struct ibv_pd *pd)
{
	int ret;

	ret = ibv_cmd_dealloc_pd(pd);
	if (!ret)
		free(pd);
	return ret;
}

static void cmr_free_context(struct ibv_context *ibctx)
{
	struct cmr_context *ctx = to_cmr_ctx(ibctx);

	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}

static const struct verbs_context_ops cmr_ctx_ops = {
	.alloc_pd = cmr_alloc_pd,
	.dealloc_pd = cmr_dealloc_pd,
	.free_context = cmr_free_context,
	.query_device_ex = cmr_query_device,
	.query_port = cmr_query_port,
};

static struct verbs_context *cmr_alloc_context(struct ibv_device *ibdev,
					       int cmd_fd, void *private_data)
{
	struct cmr_cmd_get_context_resp resp = {};
	struct ibv_get_context cmd = {};
	struct cmr_context *ctx;

	ctx = verbs_init_and_alloc_context(ibdev, cmd_fd, ctx, vctx,
					   RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;

	if (ibv_cmd_get_context(&ctx->vctx, &cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp))) {
		verbs_uninit_context(&ctx->vctx);
		free(ctx);
		return NULL;
	}
	ctx->max_inline_data = resp.max_inline_data;
	verbs_set_ops(&ctx->vctx, &cmr_ctx_ops);
	return &ctx->vctx;
}

static struct verbs_device *cmr_device_alloc(struct verbs_sysfs_dev *sysfs_dev)
{
	struct cmr_device *dev;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	return &dev->vdev;
}

static void cmr_device_free(struct verbs_device *vdev)
{
	free(container_of(vdev, struct cmr_device, vdev));
}

/* cmr.ko registers as RDMA_DRIVER_UNKNOWN: match devices by name. */
static const struct verbs_match_ent cmr_match_table[] = {
	VERBS_NAME_MATCH("cmr", NULL),
	{},
};

static const struct verbs_device_ops cmr_dev_ops = {
	.name = "cmr",
	.match_min_abi_version = CMR_ABI_VERSION,
	.match_max_abi_version = CMR_ABI_VERSION,
	.match_table = cmr_match_table,
	.alloc_device = cmr_device_alloc,
	.uninit_device = cmr_device_free,
	.alloc_context = cmr_alloc_context,
};

PROVIDER_DRIVER(cmr, cmr_dev_ops);
