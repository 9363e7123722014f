// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libcmr: completion queues.
 *
 * The kernel writes CQEs and publishes ring->producer; we read them and
 * publish ring->consumer.  One lock per CQ orders the threads that poll it
 * (ibv_poll_cq and the start_poll/next_poll/end_poll batch alike).
 * Arming (ibv_req_notify_cq) and completion channels are the kernel's.
 */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ccan/minmax.h>

#include "cmr.h"

static_assert(CMR_CQE_OPCODE_COMPUTE == IBV_WC_DRIVER1,
	      "compute completions must read as IBV_WC_DRIVER1");

enum {
	CMR_CQ_WC_FLAGS = IBV_WC_STANDARD_FLAGS,
	CMR_CQ_COMP_MASK = IBV_CQ_INIT_ATTR_MASK_FLAGS |
			   IBV_CQ_INIT_ATTR_MASK_PD,	/* parent domains */
	CMR_CQ_CREATE_FLAGS = IBV_CREATE_CQ_ATTR_SINGLE_THREADED,
};

/*
 * A successful CRC completion also reports its result as immediate data,
 * in host order (cmrdv.h): the ring holds it as a little-endian u32.
 */
static bool cmr_cqe_has_crc(const struct cmr_cqe *cqe)
{
	return cqe->opcode == CMR_CQE_OPCODE_COMPUTE &&
	       cqe->status == IBV_WC_SUCCESS &&
	       cqe->result_len == sizeof(uint32_t);
}

static __be32 cmr_cqe_imm_data(const struct cmr_cqe *cqe)
{
	uint32_t crc;

	if (!cmr_cqe_has_crc(cqe))
		return cqe->imm_data;
	memcpy(&crc, cqe->result, sizeof(crc));
	return (__force __be32)le32toh(crc);
}

static unsigned int cmr_cqe_wc_flags(const struct cmr_cqe *cqe)
{
	unsigned int flags = 0;

	if ((cqe->flags & CMR_CQE_WITH_IMM) || cmr_cqe_has_crc(cqe))
		flags |= IBV_WC_WITH_IMM;
	if (cqe->flags & CMR_CQE_WITH_INV)
		flags |= IBV_WC_WITH_INV;
	if (cqe->flags & CMR_CQE_GRH)
		flags |= IBV_WC_GRH;
	return flags;
}

static void cmr_cqe_to_wc(const struct cmr_cqe *cqe, struct ibv_wc *wc)
{
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	/* imm_data and invalidated_rkey share these 32 bits, as in uverbs */
	wc->imm_data = cmr_cqe_imm_data(cqe);
	wc->qp_num = cqe->qp_num;
	wc->src_qp = cqe->recv.src_qp;
	wc->wc_flags = cmr_cqe_wc_flags(cqe);
	wc->pkey_index = cqe->recv.pkey_index;
	wc->slid = cqe->recv.slid;
	wc->sl = cqe->recv.sl;
	wc->dlid_path_bits = cqe->recv.dlid_path_bits;
}

/*
 * Receive completions and the RQ they free.
 *
 * The kernel is done with a receive WQE before it posts its completion
 * (cmr-abi.h), so once the completion is polled the slot may be reused.
 * Counting them spares post_recv a read of the ring's consumer, a cache
 * line the kernel writes for every message, while the RQ is full (as it
 * is when every completion is answered with a repost).
 * The count only needs to be a lower bound: completions it misses (another
 * QP shares the CQ, a reset dropped them, ...) leave post_recv to read the
 * consumer.  It must never count one twice or one that is not the QP's: so
 * it is kept only while a single QP with its own RQ receives on the CQ,
 * and never for CQEs that were in the ring before that QP was created.
 */

/* Caller holds cq->lock: count for qp (or nobody) from now on. */
static void cmr_cq_set_recv_qp(struct cmr_cq *cq, struct cmr_qp *qp)
{
	if (cq->recv_qp)
		atomic_store_explicit(cmr_atomic(&cq->recv_qp->rq.recv_counted),
				      0, memory_order_relaxed);
	cq->recv_qp = qp;
	if (qp)
		atomic_store_explicit(cmr_atomic(&qp->rq.recv_counted), 1,
				      memory_order_relaxed);
}

/* Caller holds cq->lock; qp was just created with this CQ as recv_cq. */
void cmr_cq_add_recv_qp(struct cmr_cq *cq, struct cmr_qp *qp, bool own_rq)
{
	cmr_cq_set_recv_qp(cq, !cq->recv_users++ && own_rq ? qp : NULL);
	cq->recv_skip = cmr_cq_load_producer(&cq->q) - cq->q.index;
}

/* Caller holds cq->lock; qp is destroyed. */
void cmr_cq_del_recv_qp(struct cmr_cq *cq, struct cmr_qp *qp)
{
	if (cq->recv_qp == qp)
		cmr_cq_set_recv_qp(cq, NULL);
	cq->recv_users--;
}

/*
 * Caller holds cq->lock and qp->rq.lock; qp entered RESET, which dropped
 * its receive WQEs and their unpolled completions: whatever it posted is
 * done with once it leaves RESET, so the count starts again from there.
 */
void cmr_cq_restart_recv(struct cmr_cq *cq, struct cmr_qp *qp)
{
	if (cq->recv_qp == qp)
		atomic_store_explicit(cmr_atomic(&qp->rq.recv_done),
				      qp->rq.q.index, memory_order_release);
}

/* Caller holds cq->lock: cqe is the next completion, polled once. */
static void cmr_cq_count_recv(struct cmr_cq *cq, const struct cmr_cqe *cqe)
{
	struct cmr_qp *qp = cq->recv_qp;
	uint32_t done;

	if (!qp)
		return;
	if (cq->recv_skip) {
		cq->recv_skip--;
		return;
	}
	if ((cqe->opcode != IBV_WC_RECV &&
	     cqe->opcode != IBV_WC_RECV_RDMA_WITH_IMM) ||
	    cqe->qp_num != qp->vqp.qp.qp_num)
		return;
	/* We are the only writer.  Pairs with cmr_rq_has_room()'s acquire. */
	done = atomic_load_explicit(cmr_atomic(&qp->rq.recv_done),
				    memory_order_relaxed);
	atomic_store_explicit(cmr_atomic(&qp->rq.recv_done), done + 1,
			      memory_order_release);
}

int cmr_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc)
{
	struct cmr_cq *cq = to_cmr_cq(ibcq);
	struct cmr_cqe *cqe;
	uint32_t index, producer;
	int n = 0;

	cmr_spin_lock(&cq->lock);
	index = cq->q.index;
	producer = cmr_cq_load_producer(&cq->q);
	for (; n < ne && index != producer; n++, index++) {
		cqe = cmr_queue_entry(&cq->q, index);
		cmr_cqe_to_wc(cqe, &wc[n]);
		cmr_cq_count_recv(cq, cqe);
	}
	if (n)
		cmr_cq_publish(&cq->q, index);
	cmr_spin_unlock(&cq->lock);
	return n;
}

/*
 * Extended polling.  start_poll takes cq->lock and end_poll drops it;
 * cq->cur is the CQE at q.index that the read_*() ops look at, or NULL once
 * next_poll found nothing (then q.index is already past the last one read).
 * The consumer index is published once, in end_poll.
 */

static void cmr_cq_set_cur(struct cmr_cq *cq)
{
	cq->cur = cmr_queue_entry(&cq->q, cq->q.index);
	cq->vcq.cq_ex.wr_id = cq->cur->wr_id;
	cq->vcq.cq_ex.status = cq->cur->status;
	cmr_cq_count_recv(cq, cq->cur);
}

static int cmr_start_poll(struct ibv_cq_ex *ibcq, struct ibv_poll_cq_attr *attr)
{
	struct cmr_cq *cq = to_cmr_cq_ex(ibcq);

	if (attr->comp_mask)
		return EINVAL;

	cmr_spin_lock(&cq->lock);
	if (cq->q.index == cmr_cq_load_producer(&cq->q)) {
		cmr_spin_unlock(&cq->lock);
		return ENOENT;
	}
	cmr_cq_set_cur(cq);
	return 0;
}

static int cmr_next_poll(struct ibv_cq_ex *ibcq)
{
	struct cmr_cq *cq = to_cmr_cq_ex(ibcq);

	cq->q.index++;
	if (cq->q.index == cq->q.peer &&
	    cq->q.index == cmr_cq_load_producer(&cq->q)) {
		cq->cur = NULL;
		return ENOENT;
	}
	cmr_cq_set_cur(cq);
	return 0;
}

static void cmr_end_poll(struct ibv_cq_ex *ibcq)
{
	struct cmr_cq *cq = to_cmr_cq_ex(ibcq);

	cmr_cq_publish(&cq->q, cq->q.index + (cq->cur ? 1 : 0));
	cq->cur = NULL;
	cmr_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode cmr_read_opcode(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->opcode;
}

static uint32_t cmr_read_vendor_err(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->vendor_err;
}

static uint32_t cmr_read_byte_len(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->byte_len;
}

static __be32 cmr_read_imm_data(struct ibv_cq_ex *ibcq)
{
	return cmr_cqe_imm_data(to_cmr_cq_ex(ibcq)->cur);
}

static uint32_t cmr_read_qp_num(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->qp_num;
}

static uint32_t cmr_read_src_qp(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->recv.src_qp;
}

static unsigned int cmr_read_wc_flags(struct ibv_cq_ex *ibcq)
{
	return cmr_cqe_wc_flags(to_cmr_cq_ex(ibcq)->cur);
}

static uint32_t cmr_read_slid(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->recv.slid;
}

static uint8_t cmr_read_sl(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->recv.sl;
}

static uint8_t cmr_read_dlid_path_bits(struct ibv_cq_ex *ibcq)
{
	return to_cmr_cq_ex(ibcq)->cur->recv.dlid_path_bits;
}

/*
 * cmrdv: the digest or checksum of the current completion.  The kernel
 * bounds result_len by result[]; clamp anyway so a bad value cannot make
 * us read past the CQE.
 */
size_t cmrdv_wc_read_result(struct ibv_cq_ex *ibcq, void *buf, size_t len)
{
	const struct cmr_cqe *cqe;
	size_t n;

	if (!ibcq || !is_cmr_dev(ibcq->context->device))
		return 0;
	cqe = to_cmr_cq_ex(ibcq)->cur;
	if (!cqe || cqe->opcode != CMR_CQE_OPCODE_COMPUTE)
		return 0;
	n = min_t(size_t, cqe->result_len, sizeof(cqe->result));
	if (buf && len)
		memcpy(buf, cqe->result, min(len, n));
	return n;
}

static void cmr_cq_set_ex_ops(struct cmr_cq *cq, uint64_t wc_flags)
{
	struct ibv_cq_ex *ibcq = &cq->vcq.cq_ex;

	ibcq->start_poll = cmr_start_poll;
	ibcq->next_poll = cmr_next_poll;
	ibcq->end_poll = cmr_end_poll;
	ibcq->read_opcode = cmr_read_opcode;
	ibcq->read_vendor_err = cmr_read_vendor_err;
	ibcq->read_wc_flags = cmr_read_wc_flags;
	if (wc_flags & IBV_WC_EX_WITH_BYTE_LEN)
		ibcq->read_byte_len = cmr_read_byte_len;
	if (wc_flags & IBV_WC_EX_WITH_IMM)
		ibcq->read_imm_data = cmr_read_imm_data;
	if (wc_flags & IBV_WC_EX_WITH_QP_NUM)
		ibcq->read_qp_num = cmr_read_qp_num;
	if (wc_flags & IBV_WC_EX_WITH_SRC_QP)
		ibcq->read_src_qp = cmr_read_src_qp;
	if (wc_flags & IBV_WC_EX_WITH_SLID)
		ibcq->read_slid = cmr_read_slid;
	if (wc_flags & IBV_WC_EX_WITH_SL)
		ibcq->read_sl = cmr_read_sl;
	if (wc_flags & IBV_WC_EX_WITH_DLID_PATH_BITS)
		ibcq->read_dlid_path_bits = cmr_read_dlid_path_bits;
}

/* Both ibv_create_cq() and ibv_create_cq_ex() land here. */
static struct cmr_cq *cmr_cq_create(struct ibv_context *ibctx,
				    struct ibv_cq_init_attr_ex *attr)
{
	struct cmr_cmd_create_cq_ex_resp resp = {};
	struct cmr_cq *cq;
	int ret;

	if ((attr->wc_flags & ~CMR_CQ_WC_FLAGS) ||
	    (attr->comp_mask & ~CMR_CQ_COMP_MASK) ||
	    ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	     (attr->flags & ~CMR_CQ_CREATE_FLAGS))) {
		errno = EOPNOTSUPP;
		return NULL;
	}

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;

	ret = ibv_cmd_create_cq_ex(ibctx, attr, &cq->vcq, NULL, 0,
				   &resp.ibv_resp, sizeof(resp), 0);
	if (ret)
		goto err_free;

	ret = cmr_map_queue(ibctx, &cq->q, &resp.cq, sizeof(struct cmr_cqe));
	if (ret) {
		verbs_err(verbs_get_ctx(ibctx),
			  "cmr: CQ[%u] ring mapping failed: %d\n",
			  cq->vcq.cq.handle, ret);
		goto err_destroy;
	}
	cmr_spin_init(&cq->lock);
	cmr_cq_set_ex_ops(cq, attr->wc_flags);
	return cq;

err_destroy:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free:
	free(cq);
	errno = ret;
	return NULL;
}

struct ibv_cq *cmr_create_cq(struct ibv_context *ibctx, int cqe,
			     struct ibv_comp_channel *channel, int comp_vector)
{
	struct ibv_cq_init_attr_ex attr = {
		.cqe = cqe,
		.channel = channel,
		.comp_vector = comp_vector,
	};
	struct cmr_cq *cq;

	cq = cmr_cq_create(ibctx, &attr);
	return cq ? &cq->vcq.cq : NULL;
}

struct ibv_cq_ex *cmr_create_cq_ex(struct ibv_context *ibctx,
				   struct ibv_cq_init_attr_ex *attr)
{
	struct cmr_cq *cq;

	cq = cmr_cq_create(ibctx, attr);
	return cq ? &cq->vcq.cq_ex : NULL;
}

/*
 * On success the kernel has moved the outstanding CQEs to a new ring and
 * set its consumer index; take ours from there.  Failures (EOPNOTSUPP while
 * the kernel cannot resize) go back to the caller with the old ring intact.
 */
int cmr_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct cmr_cmd_resize_cq_resp resp = {};
	struct cmr_cq *cq = to_cmr_cq(ibcq);
	struct ibv_resize_cq cmd = {};
	struct cmr_queue q = {};
	int ret;

	cmr_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp));
	if (ret)
		goto out;

	ret = cmr_map_queue(ibcq->context, &q, &resp.cq,
			    sizeof(struct cmr_cqe));
	if (ret) {
		/* The kernel no longer writes the old ring: nothing to poll. */
		verbs_err(verbs_get_ctx(ibcq->context),
			  "cmr: CQ[%u] ring remapping failed: %d\n",
			  ibcq->handle, ret);
		goto out;
	}
	q.index = atomic_load_explicit(cmr_atomic(&q.ring->consumer),
				       memory_order_relaxed);
	q.peer = q.index;
	cmr_unmap_queue(&cq->q);
	cq->q = q;
out:
	cmr_spin_unlock(&cq->lock);
	return ret;
}

int cmr_destroy_cq(struct ibv_cq *ibcq)
{
	struct cmr_cq *cq = to_cmr_cq(ibcq);
	int ret;

	ret = ibv_cmd_destroy_cq(ibcq);
	if (ret)
		return ret;
	cmr_unmap_queue(&cq->q);
	free(cq);
	return 0;
}
