// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* libcmr: device matching, context, PD, MR, AH and the verbs ops table. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>

#include "cmr.h"

/*
 * Map one queue described by a create (or resize) response.  The kernel is
 * trusted, but a malformed description would make us index out of the
 * mapping, so check the shape before using it.
 */
int cmr_map_queue(struct ibv_context *ibctx, struct cmr_queue *q,
		  const struct cmr_queue_info *info, uint32_t min_stride)
{
	uint64_t need;
	void *ring;

	if (!info->num_entries || (info->num_entries & (info->num_entries - 1)) ||
	    info->stride < min_stride || (info->stride & (info->stride - 1)))
		return EINVAL;
	need = CMR_RING_ENTRIES_OFFSET +
	       (uint64_t)info->num_entries * info->stride;
	if (info->mmap_size < need || info->mmap_size > SIZE_MAX)
		return EINVAL;

	ring = mmap(NULL, info->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    ibctx->cmd_fd, info->mmap_offset);
	if (ring == MAP_FAILED)
		return errno;

	q->ring = ring;
	q->map_size = info->mmap_size;
	q->mask = info->num_entries - 1;
	q->stride_shift = __builtin_ctz(info->stride);
	q->index = 0;
	q->peer = 0;
	return 0;
}

void cmr_unmap_queue(struct cmr_queue *q)
{
	if (q->map_size)
		munmap(q->ring, q->map_size);
	q->ring = NULL;
	q->map_size = 0;
}

/* Device and port */

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

/* Protection domain */

static struct ibv_pd *cmr_alloc_pd(struct ibv_context *ibctx)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct cmr_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;
	ret = ibv_cmd_alloc_pd(ibctx, &pd->ibpd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	pd->protection = pd;
	return &pd->ibpd;
}

static struct ibv_pd *
cmr_alloc_parent_domain(struct ibv_context *ibctx,
			struct ibv_parent_domain_init_attr *attr)
{
	struct cmr_pd *parent;

	if (ibv_check_alloc_parent_domain(attr))
		return NULL;
	if (!check_comp_mask(attr->comp_mask,
			     IBV_PARENT_DOMAIN_INIT_ATTR_ALLOCATORS |
			     IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT)) {
		errno = EINVAL;
		return NULL;
	}
	/* Parent domains do not nest: wrap the protection domain itself. */
	if (to_cmr_pd(attr->pd)->protection != to_cmr_pd(attr->pd)) {
		errno = EINVAL;
		return NULL;
	}
	parent = calloc(1, sizeof(*parent));
	if (!parent)
		return NULL;
	ibv_initialize_parent_domain(&parent->ibpd, attr->pd);
	parent->protection = to_cmr_pd(attr->pd);
	atomic_fetch_add(&parent->protection->parents, 1);
	parent->td = attr->td;
	if (attr->comp_mask & IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT)
		parent->pd_context = attr->pd_context;
	return &parent->ibpd;
}

static int cmr_dealloc_pd(struct ibv_pd *ibpd)
{
	struct cmr_pd *pd = to_cmr_pd(ibpd);
	int ret;

	if (pd->protection != pd) {	/* a parent domain: nothing in the kernel */
		atomic_fetch_sub(&pd->protection->parents, 1);
		free(pd);
		return 0;
	}
	if (atomic_load(&pd->parents))
		return EBUSY;
	ret = ibv_cmd_dealloc_pd(ibpd);
	if (!ret)
		free(pd);
	return ret;
}

/*
 * Thread domains: the application promises one thread per domain; libcmr's
 * queues take their locks regardless, so a thread domain carries nothing.
 */
static struct ibv_td *cmr_alloc_td(struct ibv_context *ibctx,
				   struct ibv_td_init_attr *attr)
{
	struct ibv_td *td;

	if (attr->comp_mask) {
		errno = EINVAL;
		return NULL;
	}
	td = calloc(1, sizeof(*td));
	if (!td)
		return NULL;
	td->context = ibctx;
	return td;
}

static int cmr_dealloc_td(struct ibv_td *td)
{
	free(td);
	return 0;
}

/* Memory region */

/*
 * Access flags go to the kernel unchanged: IBV_ACCESS_ON_DEMAND, and
 * implicit ODP (addr 0, length SIZE_MAX) is the kernel's to accept or not.
 */
static struct ibv_mr *cmr_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
				 uint64_t hca_va, int access)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct ibv_reg_mr cmd;
	struct verbs_mr *vmr;
	int ret;

	vmr = calloc(1, sizeof(*vmr));
	if (!vmr)
		return NULL;
	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	return &vmr->ibv_mr;
}

static int cmr_rereg_mr(struct verbs_mr *vmr, int flags, struct ibv_pd *pd,
			void *addr, size_t length, int access)
{
	struct ib_uverbs_rereg_mr_resp resp;
	struct ibv_rereg_mr cmd;

	return ibv_cmd_rereg_mr(vmr, flags, addr, length, (uintptr_t)addr,
				access, pd, &cmd, sizeof(cmd), &resp,
				sizeof(resp));
}

static int cmr_dereg_mr(struct verbs_mr *vmr)
{
	int ret;

	ret = ibv_cmd_dereg_mr(vmr);
	if (!ret)
		free(vmr);
	return ret;
}

/* Address handle: the kernel keeps the address, UD WQEs name it by ah_num. */

static struct ibv_ah *cmr_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct cmr_cmd_create_ah_resp resp = {};
	struct cmr_ah *ah;
	int ret;

	ah = calloc(1, sizeof(*ah));
	if (!ah)
		return NULL;
	ret = ibv_cmd_create_ah(pd, &ah->ibah, attr, &resp.ibv_resp,
				sizeof(resp));
	if (ret) {
		free(ah);
		errno = ret;
		return NULL;
	}
	ah->ah_num = resp.ah_num;
	return &ah->ibah;
}

static int cmr_destroy_ah(struct ibv_ah *ibah)
{
	int ret;

	ret = ibv_cmd_destroy_ah(ibah);
	if (!ret)
		free(to_cmr_ah(ibah));
	return ret;
}

/* Context */

static void cmr_free_context(struct ibv_context *ibctx)
{
	struct cmr_context *ctx = to_cmr_ctx(ibctx);

	if (ctx->db_fd >= 0)
		close(ctx->db_fd);
	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}

static const struct verbs_context_ops cmr_ctx_ops = {
	.advise_mr = ibv_cmd_advise_mr,
	.alloc_parent_domain = cmr_alloc_parent_domain,
	.alloc_pd = cmr_alloc_pd,
	.alloc_td = cmr_alloc_td,
	.create_ah = cmr_create_ah,
	.create_cq = cmr_create_cq,
	.create_cq_ex = cmr_create_cq_ex,
	.create_qp = cmr_create_qp,
	.create_qp_ex = cmr_create_qp_ex,
	.create_srq = cmr_create_srq,
	.dealloc_pd = cmr_dealloc_pd,
	.dealloc_td = cmr_dealloc_td,
	.dereg_mr = cmr_dereg_mr,
	.destroy_ah = cmr_destroy_ah,
	.destroy_cq = cmr_destroy_cq,
	.destroy_qp = cmr_destroy_qp,
	.destroy_srq = cmr_destroy_srq,
	.free_context = cmr_free_context,
	.modify_qp = cmr_modify_qp,
	.modify_srq = cmr_modify_srq,
	.poll_cq = cmr_poll_cq,
	.post_recv = cmr_post_recv,
	.post_send = cmr_post_send,
	.post_srq_recv = cmr_post_srq_recv,
	.query_device_ex = cmr_query_device,
	.query_port = cmr_query_port,
	.query_qp = cmr_query_qp,
	.query_srq = cmr_query_srq,
	.reg_mr = cmr_reg_mr,
	.rereg_mr = cmr_rereg_mr,
	.req_notify_cq = ibv_cmd_req_notify_cq,
	.resize_cq = cmr_resize_cq,
};

static struct verbs_context *cmr_alloc_context(struct ibv_device *ibdev,
					       int cmd_fd, void *private_data)
{
	struct cmr_cmd_get_context_resp resp = {};
	struct cmr_cmd_get_context cmd = {};
	struct cmr_context *ctx;
	int ret;

	ctx = verbs_init_and_alloc_context(ibdev, cmd_fd, ctx, vctx,
					   RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;

	cmd.comp_mask = CMR_UCTX_DOORBELL_FD;
	ret = ibv_cmd_get_context(&ctx->vctx, &cmd.ibv_cmd, sizeof(cmd),
				  &resp.ibv_resp, sizeof(resp));
	if (ret) {
		verbs_uninit_context(&ctx->vctx);
		free(ctx);
		errno = ret;
		return NULL;
	}
	ctx->max_inline_data = resp.base.max_inline_data;
	ctx->db_fd = (resp.comp_mask & CMR_UCTX_DOORBELL_FD) ?
		     resp.doorbell_fd : -1;
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

/* The cmrdv_*() entry points take any verbs object: is it one of ours? */
bool is_cmr_dev(struct ibv_device *ibdev)
{
	return verbs_get_device(ibdev)->ops == &cmr_dev_ops;
}

PROVIDER_DRIVER(cmr, cmr_dev_ops);
