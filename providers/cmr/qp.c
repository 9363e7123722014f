// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libcmr: queue pairs and shared receive queues, and the cmrdv compute
 * builders (cmrdv_wr_*()), which write the same send queue.
 *
 * Posting writes WQEs into the mapped ring under the queue's lock and
 * publishes the producer index; the kernel's engine consumes them.  The
 * doorbell (an empty POST_SEND/POST_RECV/POST_SRQ_RECV write on the command
 * fd) is rung only when the kernel asked for it with CMR_RING_NEED_WAKEUP:
 * while its poller watches the ring, posting costs no system call.  The
 * flag is read after a full barrier (cmr_wq_publish()), so a poller
 * going to sleep either sees our producer or we see its flag.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <ccan/minmax.h>
#include <util/compiler.h>

#include "cmr.h"

static_assert(sizeof(struct ibv_sge) == sizeof(struct cmr_sge) &&
	      offsetof(struct ibv_sge, addr) == offsetof(struct cmr_sge, addr) &&
	      offsetof(struct ibv_sge, length) ==
		      offsetof(struct cmr_sge, length) &&
	      offsetof(struct ibv_sge, lkey) == offsetof(struct cmr_sge, lkey),
	      "ibv_sge and cmr_sge differ: SGE lists cannot be copied as is");

enum {
	CMR_QP_COMP_MASK = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_CREATE_FLAGS |
			   IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,

	CMR_UD_SEND_OPS = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
			  IBV_QP_EX_WITH_LOCAL_INV,
	/* UC: no acknowledgements, so nothing that waits for a response. */
	CMR_UC_SEND_OPS = CMR_UD_SEND_OPS | IBV_QP_EX_WITH_RDMA_WRITE |
			  IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM,
	CMR_RC_SEND_OPS = CMR_UC_SEND_OPS | IBV_QP_EX_WITH_SEND_WITH_INV |
			  IBV_QP_EX_WITH_RDMA_READ |
			  IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
			  IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD,

	CMR_SEND_FLAGS = IBV_SEND_SIGNALED | IBV_SEND_SOLICITED |
			 IBV_SEND_FENCE | IBV_SEND_INLINE,
};

/* Doorbells */

#define CMR_SAME_FIELD(a, fa, b, fb)					\
	(offsetof(struct a, fa) == offsetof(struct b, fb) &&		\
	 sizeof(((struct a *)0)->fa) == sizeof(((struct b *)0)->fb))

static_assert(sizeof(struct ibv_post_recv) == sizeof(struct ibv_post_send) &&
	      sizeof(struct ibv_post_srq_recv) == sizeof(struct ibv_post_send) &&
	      CMR_SAME_FIELD(ibv_post_recv, response, ibv_post_send, response) &&
	      CMR_SAME_FIELD(ibv_post_recv, qp_handle, ibv_post_send, qp_handle) &&
	      CMR_SAME_FIELD(ibv_post_recv, wqe_size, ibv_post_send, wqe_size) &&
	      CMR_SAME_FIELD(ibv_post_srq_recv, response, ibv_post_send, response) &&
	      CMR_SAME_FIELD(ibv_post_srq_recv, srq_handle, ibv_post_send, qp_handle) &&
	      CMR_SAME_FIELD(ibv_post_srq_recv, wqe_size, ibv_post_send, wqe_size) &&
	      sizeof(struct ib_uverbs_post_recv_resp) ==
		      sizeof(struct ib_uverbs_post_send_resp) &&
	      sizeof(struct ib_uverbs_post_srq_recv_resp) ==
		      sizeof(struct ib_uverbs_post_send_resp),
	      "the post commands differ: one doorbell layout cannot ring them all");

/*
 * The uverbs doorbell of a work queue: command is POST_SEND, POST_RECV or
 * POST_SRQ_RECV, handle the QP's or the SRQ's, wqe_size that of one of its
 * WRs (none is passed).  The fast doorbell is set by the caller.
 */
static void cmr_db_init(struct cmr_wq *wq, uint32_t command, uint32_t handle,
			uint32_t wqe_size)
{
	struct ibv_post_send *cmd = &wq->db.cmd;

	cmd->hdr.command = command;
	cmd->hdr.in_words = sizeof(*cmd) / 4;
	cmd->hdr.out_words = sizeof(wq->db.resp) / 4;
	cmd->response = (uintptr_t)&wq->db.resp;
	cmd->qp_handle = handle;
	cmd->wqe_size = wqe_size;
}

/*
 * Wake the kernel, which asked for it when the WQEs were published.  The
 * command is read-only and the response nobody reads, so this runs after
 * the lock is dropped.  A failure is returned to the caller, but the WQEs
 * are already in the ring.
 */
static int cmr_wq_ring_doorbell(struct ibv_context *ibctx, struct cmr_wq *wq)
{
	if (to_cmr_ctx(ibctx)->db_fd >= 0 && wq->fast_db)
		return ioctl(to_cmr_ctx(ibctx)->db_fd, wq->fast_db,
			     (unsigned long)wq->fast_db_num) ? errno : 0;
	if (write(ibctx->cmd_fd, &wq->db.cmd, sizeof(wq->db.cmd)) < 0)
		return errno;
	return 0;
}

/*
 * Map one work queue; a queue of 0 entries (no send or receive WRs asked
 * for) stays unmapped and always looks full.  Nothing to undo on failure.
 */
static int cmr_wq_init(struct ibv_context *ibctx, struct cmr_wq *wq,
		       const struct cmr_queue_info *info, uint32_t hdr_size)
{
	int ret;

	if (info->num_entries) {
		ret = cmr_map_queue(ibctx, &wq->q, info, hdr_size);
		if (ret)
			return ret;
		wq->max_sge = (info->stride - hdr_size) / sizeof(struct cmr_sge);
		wq->max_inline = info->stride - hdr_size;
	}
	cmr_spin_init(&wq->lock);
	return 0;
}

static void cmr_wq_fini(struct cmr_wq *wq)
{
	cmr_unmap_queue(&wq->q);
}

/*
 * An SGE list into a WQE (the layouts match): one SGE, the common case, is
 * a fixed-size copy the compiler inlines instead of a call.
 */
static inline void cmr_wqe_copy_sges(void *dst, const struct ibv_sge *sg_list,
				     size_t num_sge)
{
	if (num_sge == 1)
		memcpy(dst, sg_list, sizeof(struct cmr_sge));
	else if (num_sge)
		memcpy(dst, sg_list, num_sge * sizeof(struct cmr_sge));
}

/* Receive WQEs (RQ and SRQ) */

/*
 * Caller holds wq->lock: can receive entry 'index' be written?  The
 * receive completions polled for a QP's RQ (cq.c) tell without a look at
 * the ring's consumer while they are counted; for an SRQ, or when they do
 * not tell, read it.
 */
static bool cmr_rq_has_room(struct cmr_wq *wq, uint32_t index)
{
	struct cmr_queue *q = &wq->q;
	uint32_t done;

	if (index - q->peer <= q->mask)
		return true;
	if (atomic_load_explicit(cmr_atomic(&wq->recv_counted),
				 memory_order_relaxed)) {
		/* Pairs with the releases in cq.c. */
		done = atomic_load_explicit(cmr_atomic(&wq->recv_done),
					    memory_order_acquire);
		if (index - done <= q->mask) {
			q->peer = done;
			return true;
		}
	}
	return cmr_wq_has_room(q, index);
}

/* Caller holds wq->lock. */
static int cmr_post_one_recv(struct cmr_wq *wq, struct ibv_recv_wr *wr,
			     uint32_t index)
{
	struct cmr_recv_wqe *wqe;

	if (!wq->q.map_size || !cmr_rq_has_room(wq, index))
		return ENOMEM;
	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > wq->max_sge)
		return EINVAL;

	wqe = cmr_queue_entry(&wq->q, index);
	wqe->wr_id = wr->wr_id;
	wqe->num_sge = wr->num_sge;
	wqe->reserved = 0;
	cmr_wqe_copy_sges(wqe + 1, wr->sg_list, wr->num_sge);
	return 0;
}

static int cmr_wq_post_recv(struct ibv_context *ibctx, struct cmr_wq *wq,
			    struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr)
{
	bool kick = false;
	uint32_t index;
	int ret = 0;

	/* Also when only the doorbell fails: every WR is posted then. */
	*bad_wr = NULL;
	cmr_spin_lock(&wq->lock);
	index = wq->q.index;
	for (; wr; wr = wr->next, index++) {
		ret = cmr_post_one_recv(wq, wr, index);
		if (ret) {
			*bad_wr = wr;
			break;
		}
	}
	if (index != wq->q.index)
		kick = cmr_wq_publish(&wq->q, index);
	cmr_spin_unlock(&wq->lock);

	if (kick) {
		int err = cmr_wq_ring_doorbell(ibctx, wq);

		if (!ret)
			ret = err;
	}
	return ret;
}

int cmr_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr)
{
	/* Receives go to the SRQ; none may be posted in RESET. */
	if (ibqp->srq || ibqp->state == IBV_QPS_RESET) {
		*bad_wr = wr;
		return EINVAL;
	}
	return cmr_wq_post_recv(ibqp->context, &to_cmr_qp(ibqp)->rq, wr,
				bad_wr);
}

int cmr_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr)
{
	return cmr_wq_post_recv(ibsrq->context, &to_cmr_srq(ibsrq)->rq, wr,
				bad_wr);
}

/* Send WQEs: helpers shared by ibv_post_send() and the ibv_wr_*() API */

/* ibv_wr_opcode -> enum cmr_send_opcode, or -1 if this QP cannot post it. */
static int cmr_send_opcode(enum ibv_qp_type qp_type, enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
		return CMR_OP_SEND;
	case IBV_WR_SEND_WITH_IMM:
		return CMR_OP_SEND_WITH_IMM;
	case IBV_WR_LOCAL_INV:
		return CMR_OP_LOCAL_INV;
	default:
		break;
	}
	if (qp_type == IBV_QPT_UD)
		return -1;
	switch (op) {
	case IBV_WR_RDMA_WRITE:
		return CMR_OP_RDMA_WRITE;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return CMR_OP_RDMA_WRITE_WITH_IMM;
	default:
		break;
	}
	if (qp_type != IBV_QPT_RC)
		return -1;
	switch (op) {
	case IBV_WR_SEND_WITH_INV:
		return CMR_OP_SEND_WITH_INV;
	case IBV_WR_RDMA_READ:
		return CMR_OP_RDMA_READ;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return CMR_OP_ATOMIC_CMP_AND_SWP;
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		return CMR_OP_ATOMIC_FETCH_AND_ADD;
	default:
		return -1;
	}
}

/*
 * The rkey of SEND_WITH_INV and LOCAL_INV travels in imm_data as its
 * host-order bits, as libibverbs' union of imm_data and invalidate_rkey
 * (and uverbs) hold it; the kernel reads them back the same way.
 */
static __be32 cmr_inv_rkey(uint32_t rkey)
{
	return (__force __be32)rkey;
}

static void cmr_wqe_init(struct cmr_qp *qp, struct cmr_send_wqe *wqe,
			 uint64_t wr_id, enum cmr_send_opcode opcode,
			 unsigned int send_flags)
{
	uint16_t flags = 0;

	if ((send_flags & IBV_SEND_SIGNALED) || qp->sq_sig_all)
		flags |= CMR_WQE_SIGNALED;
	if (send_flags & IBV_SEND_SOLICITED)
		flags |= CMR_WQE_SOLICITED;
	if (send_flags & IBV_SEND_FENCE)
		flags |= CMR_WQE_FENCE;

	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr_id;
	wqe->opcode = opcode;
	wqe->flags = flags;
}

static int cmr_wqe_set_sge_list(struct cmr_qp *qp, struct cmr_send_wqe *wqe,
				size_t num_sge, const struct ibv_sge *sg_list)
{
	if (num_sge > qp->sq.max_sge || num_sge > UINT8_MAX)
		return EINVAL;
	wqe->flags &= ~CMR_WQE_INLINE;
	wqe->inline_len = 0;
	wqe->num_sge = num_sge;
	cmr_wqe_copy_sges(wqe + 1, sg_list, num_sge);
	return 0;
}

/* Append 'length' bytes to the WQE's inline data. */
static int cmr_wqe_add_inline(struct cmr_qp *qp, struct cmr_send_wqe *wqe,
			      const void *addr, size_t length)
{
	if (length > qp->sq.max_inline - wqe->inline_len)
		return EINVAL;
	memcpy((uint8_t *)(wqe + 1) + wqe->inline_len, addr, length);
	wqe->inline_len += length;
	return 0;
}

static void cmr_wqe_start_inline(struct cmr_send_wqe *wqe)
{
	wqe->flags |= CMR_WQE_INLINE;
	wqe->num_sge = 0;
	wqe->inline_len = 0;
}

/*
 * The send queue is not processed before RTS: posting in RESET, INIT or RTR
 * is an immediate error, as the IB spec has it.  ibqp->state is what the
 * application last set with ibv_modify_qp(); ERR and SQE, which the kernel
 * may enter on its own, accept WRs (to flush them).
 */
static bool cmr_qp_can_send(struct ibv_qp *ibqp)
{
	switch (ibqp->state) {
	case IBV_QPS_RESET:
	case IBV_QPS_INIT:
	case IBV_QPS_RTR:
		return false;
	default:
		return true;
	}
}

/* Inline data is for the operations that carry data to the responder. */
static bool cmr_op_has_inline(enum cmr_send_opcode op)
{
	return op == CMR_OP_SEND || op == CMR_OP_SEND_WITH_IMM ||
	       op == CMR_OP_SEND_WITH_INV || op == CMR_OP_RDMA_WRITE ||
	       op == CMR_OP_RDMA_WRITE_WITH_IMM;
}

/* ibv_post_send() */

/* Caller holds qp->sq.lock. */
static int cmr_post_one_send(struct cmr_qp *qp, struct ibv_send_wr *wr,
			     uint32_t index)
{
	enum ibv_qp_type qp_type = qp->vqp.qp.qp_type;
	struct cmr_send_wqe *wqe;
	int opcode, i, ret;

	if (!qp->sq.q.map_size || !cmr_wq_has_room(&qp->sq.q, index))
		return ENOMEM;
	opcode = cmr_send_opcode(qp_type, wr->opcode);
	if (opcode < 0 || (wr->send_flags & ~CMR_SEND_FLAGS) ||
	    wr->num_sge < 0 || (qp_type == IBV_QPT_UD && !wr->wr.ud.ah))
		return EINVAL;

	wqe = cmr_queue_entry(&qp->sq.q, index);
	cmr_wqe_init(qp, wqe, wr->wr_id, opcode, wr->send_flags);

	switch (opcode) {
	case CMR_OP_SEND:
	case CMR_OP_SEND_WITH_IMM:
		wqe->imm_data = wr->imm_data;
		if (qp_type == IBV_QPT_UD) {
			wqe->ud.remote_qpn = wr->wr.ud.remote_qpn;
			wqe->ud.remote_qkey = wr->wr.ud.remote_qkey;
			wqe->ud.ah_num = to_cmr_ah(wr->wr.ud.ah)->ah_num;
		}
		break;
	case CMR_OP_LOCAL_INV:
		wqe->imm_data = cmr_inv_rkey(wr->invalidate_rkey);
		return 0;	/* no data: the SGE list is ignored */
	case CMR_OP_SEND_WITH_INV:
		wqe->imm_data = cmr_inv_rkey(wr->invalidate_rkey);
		break;
	case CMR_OP_RDMA_WRITE_WITH_IMM:
		wqe->imm_data = wr->imm_data;
		SWITCH_FALLTHROUGH;
	case CMR_OP_RDMA_WRITE:
	case CMR_OP_RDMA_READ:
		wqe->rdma.remote_addr = wr->wr.rdma.remote_addr;
		wqe->rdma.rkey = wr->wr.rdma.rkey;
		break;
	case CMR_OP_ATOMIC_CMP_AND_SWP:
	case CMR_OP_ATOMIC_FETCH_AND_ADD:
		wqe->atomic.remote_addr = wr->wr.atomic.remote_addr;
		wqe->atomic.compare_add = wr->wr.atomic.compare_add;
		wqe->atomic.swap = wr->wr.atomic.swap;
		wqe->atomic.rkey = wr->wr.atomic.rkey;
		break;
	}

	if (!(wr->send_flags & IBV_SEND_INLINE) || !cmr_op_has_inline(opcode))
		return cmr_wqe_set_sge_list(qp, wqe, wr->num_sge, wr->sg_list);

	cmr_wqe_start_inline(wqe);
	for (i = 0; i < wr->num_sge; i++) {
		ret = cmr_wqe_add_inline(qp, wqe,
					 (void *)(uintptr_t)wr->sg_list[i].addr,
					 wr->sg_list[i].length);
		if (ret)
			return ret;
	}
	return 0;
}

int cmr_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr)
{
	struct cmr_qp *qp = to_cmr_qp(ibqp);
	uint32_t index;
	bool kick = false;
	int ret = 0;

	*bad_wr = NULL;		/* as for receives */
	if (!cmr_qp_can_send(ibqp)) {
		*bad_wr = wr;
		return EINVAL;
	}

	cmr_spin_lock(&qp->sq.lock);
	index = qp->sq.q.index;
	for (; wr; wr = wr->next, index++) {
		ret = cmr_post_one_send(qp, wr, index);
		if (ret) {
			*bad_wr = wr;
			break;
		}
	}
	if (index != qp->sq.q.index)
		kick = cmr_wq_publish(&qp->sq.q, index);
	cmr_spin_unlock(&qp->sq.lock);

	if (kick) {
		int err = cmr_wq_ring_doorbell(ibqp->context, &qp->sq);

		if (!ret)
			ret = err;
	}
	return ret;
}

/*
 * The ibv_wr_*() API.  wr_start takes qp->sq.lock and wr_complete or
 * wr_abort drops it; in between every builder fills the next free entry
 * (qp->wr_index, not yet published) and the setters complete the entry the
 * last builder took (qp->wr_cur).  Builders and setters return void: the
 * first error is kept in qp->wr_err, later calls do nothing and
 * wr_complete returns it without publishing any WQE of the batch.
 */

static struct cmr_compute_params *cmr_wqe_compute(struct cmr_send_wqe *wqe)
{
	return (struct cmr_compute_params *)wqe->raw;
}

/*
 * Caller holds qp->sq.lock: finish the WQE at wr_cur before the next one
 * is started or the batch is published.  A compute WQE gets its buffered
 * destination SGEs after its source SGEs; together they must fit the
 * entry (sq.max_sge is bounded by the stride).
 */
static void cmr_wr_finish(struct cmr_qp *qp)
{
	struct cmr_send_wqe *wqe = qp->wr_cur;

	if (qp->wr_err || !wqe || wqe->opcode != CMR_OP_COMPUTE)
		return;
	if (wqe->num_sge + qp->wr_num_dst > qp->sq.max_sge ||
	    qp->wr_num_dst > UINT8_MAX) {
		qp->wr_err = EINVAL;
		return;
	}
	cmr_wqe_compute(wqe)->num_dst_sge = qp->wr_num_dst;
	if (qp->wr_num_dst)
		memcpy((struct cmr_sge *)(wqe + 1) + wqe->num_sge, qp->wr_dst,
		       qp->wr_num_dst * sizeof(struct cmr_sge));
}

/* Caller holds qp->sq.lock: take the next SQ entry for a new WR. */
static struct cmr_send_wqe *cmr_wr_new(struct ibv_qp_ex *ibqp,
				       enum cmr_send_opcode opcode)
{
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);
	struct cmr_send_wqe *wqe;

	cmr_wr_finish(qp);
	if (qp->wr_err)
		return NULL;
	if (!qp->sq.q.map_size || !cmr_wq_has_room(&qp->sq.q, qp->wr_index)) {
		qp->wr_err = ENOMEM;
		return NULL;
	}
	if (ibqp->wr_flags & ~CMR_SEND_FLAGS) {
		qp->wr_err = EINVAL;
		return NULL;
	}
	wqe = cmr_queue_entry(&qp->sq.q, qp->wr_index++);
	cmr_wqe_init(qp, wqe, ibqp->wr_id, opcode, ibqp->wr_flags);
	qp->wr_cur = wqe;
	qp->wr_num_dst = 0;
	return wqe;
}

/* Caller holds qp->sq.lock: the WQE a setter completes. */
static struct cmr_send_wqe *cmr_wr_cur(struct cmr_qp *qp)
{
	if (qp->wr_err)
		return NULL;
	if (!qp->wr_cur)
		qp->wr_err = EINVAL;	/* a setter before any builder */
	return qp->wr_cur;
}

static void cmr_wr_set_err(struct cmr_qp *qp, int err)
{
	if (err && !qp->wr_err)
		qp->wr_err = err;
}

static void cmr_wr_send(struct ibv_qp_ex *ibqp)
{
	cmr_wr_new(ibqp, CMR_OP_SEND);
}

static void cmr_wr_send_imm(struct ibv_qp_ex *ibqp, __be32 imm_data)
{
	struct cmr_send_wqe *wqe = cmr_wr_new(ibqp, CMR_OP_SEND_WITH_IMM);

	if (wqe)
		wqe->imm_data = imm_data;
}

static void cmr_wr_send_inv(struct ibv_qp_ex *ibqp, uint32_t invalidate_rkey)
{
	struct cmr_send_wqe *wqe = cmr_wr_new(ibqp, CMR_OP_SEND_WITH_INV);

	if (wqe)
		wqe->imm_data = cmr_inv_rkey(invalidate_rkey);
}

static void cmr_wr_local_inv(struct ibv_qp_ex *ibqp, uint32_t invalidate_rkey)
{
	struct cmr_send_wqe *wqe = cmr_wr_new(ibqp, CMR_OP_LOCAL_INV);

	if (wqe)
		wqe->imm_data = cmr_inv_rkey(invalidate_rkey);
}

static void cmr_wr_rdma(struct ibv_qp_ex *ibqp, enum cmr_send_opcode opcode,
			uint32_t rkey, uint64_t remote_addr, __be32 imm_data)
{
	struct cmr_send_wqe *wqe = cmr_wr_new(ibqp, opcode);

	if (!wqe)
		return;
	wqe->imm_data = imm_data;
	wqe->rdma.remote_addr = remote_addr;
	wqe->rdma.rkey = rkey;
}

static void cmr_wr_rdma_write(struct ibv_qp_ex *ibqp, uint32_t rkey,
			      uint64_t remote_addr)
{
	cmr_wr_rdma(ibqp, CMR_OP_RDMA_WRITE, rkey, remote_addr, 0);
}

static void cmr_wr_rdma_write_imm(struct ibv_qp_ex *ibqp, uint32_t rkey,
				  uint64_t remote_addr, __be32 imm_data)
{
	cmr_wr_rdma(ibqp, CMR_OP_RDMA_WRITE_WITH_IMM, rkey, remote_addr,
		    imm_data);
}

static void cmr_wr_rdma_read(struct ibv_qp_ex *ibqp, uint32_t rkey,
			     uint64_t remote_addr)
{
	cmr_wr_rdma(ibqp, CMR_OP_RDMA_READ, rkey, remote_addr, 0);
}

static void cmr_wr_atomic(struct ibv_qp_ex *ibqp, enum cmr_send_opcode opcode,
			  uint32_t rkey, uint64_t remote_addr,
			  uint64_t compare_add, uint64_t swap)
{
	struct cmr_send_wqe *wqe = cmr_wr_new(ibqp, opcode);

	if (!wqe)
		return;
	wqe->atomic.remote_addr = remote_addr;
	wqe->atomic.compare_add = compare_add;
	wqe->atomic.swap = swap;
	wqe->atomic.rkey = rkey;
}

static void cmr_wr_atomic_cmp_swp(struct ibv_qp_ex *ibqp, uint32_t rkey,
				  uint64_t remote_addr, uint64_t compare,
				  uint64_t swap)
{
	cmr_wr_atomic(ibqp, CMR_OP_ATOMIC_CMP_AND_SWP, rkey, remote_addr,
		      compare, swap);
}

static void cmr_wr_atomic_fetch_add(struct ibv_qp_ex *ibqp, uint32_t rkey,
				    uint64_t remote_addr, uint64_t add)
{
	cmr_wr_atomic(ibqp, CMR_OP_ATOMIC_FETCH_AND_ADD, rkey, remote_addr,
		      add, 0);
}

static void cmr_wr_set_ud_addr(struct ibv_qp_ex *ibqp, struct ibv_ah *ah,
			       uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);
	struct cmr_send_wqe *wqe = cmr_wr_cur(qp);

	if (!wqe)
		return;
	if (ibqp->qp_base.qp_type != IBV_QPT_UD || !ah) {
		cmr_wr_set_err(qp, EINVAL);
		return;
	}
	wqe->ud.remote_qpn = remote_qpn;
	wqe->ud.remote_qkey = remote_qkey;
	wqe->ud.ah_num = to_cmr_ah(ah)->ah_num;
}

static void cmr_wr_set_sge(struct ibv_qp_ex *ibqp, uint32_t lkey,
			   uint64_t addr, uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);
	struct cmr_send_wqe *wqe = cmr_wr_cur(qp);

	if (wqe)
		cmr_wr_set_err(qp, cmr_wqe_set_sge_list(qp, wqe, 1, &sge));
}

static void cmr_wr_set_sge_list(struct ibv_qp_ex *ibqp, size_t num_sge,
				const struct ibv_sge *sg_list)
{
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);
	struct cmr_send_wqe *wqe = cmr_wr_cur(qp);

	if (wqe)
		cmr_wr_set_err(qp, cmr_wqe_set_sge_list(qp, wqe, num_sge,
							sg_list));
}

static void cmr_wr_set_inline_data(struct ibv_qp_ex *ibqp, void *addr,
				   size_t length)
{
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);
	struct cmr_send_wqe *wqe = cmr_wr_cur(qp);

	if (!wqe)
		return;
	if (!cmr_op_has_inline(wqe->opcode)) {
		cmr_wr_set_err(qp, EINVAL);
		return;
	}
	cmr_wqe_start_inline(wqe);
	cmr_wr_set_err(qp, cmr_wqe_add_inline(qp, wqe, addr, length));
}

static void cmr_wr_set_inline_data_list(struct ibv_qp_ex *ibqp, size_t num_buf,
					const struct ibv_data_buf *buf_list)
{
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);
	struct cmr_send_wqe *wqe = cmr_wr_cur(qp);
	size_t i;

	if (!wqe)
		return;
	if (!cmr_op_has_inline(wqe->opcode)) {
		cmr_wr_set_err(qp, EINVAL);
		return;
	}
	cmr_wqe_start_inline(wqe);
	for (i = 0; i < num_buf && !qp->wr_err; i++)
		cmr_wr_set_err(qp, cmr_wqe_add_inline(qp, wqe, buf_list[i].addr,
						      buf_list[i].length));
}

/*
 * Compute WRs: the cmrdv_wr_*() builders.  Each starts a WQE like the
 * builders above, with CMR_OP_COMPUTE and struct cmr_compute_params in the
 * parameter area.  What the header makes meaningless (an algorithm of the
 * wrong family, flags a WR cannot carry, an object of another PD) fails the
 * batch here; whether the device supports an algorithm is the kernel's to
 * say, in the completion.
 */

static bool cmr_alg_is_codec(enum cmrdv_alg alg)
{
	return alg == CMRDV_ALG_DEFLATE || alg == CMRDV_ALG_LZ4 ||
	       alg == CMRDV_ALG_ZSTD;
}

static bool cmr_alg_is_cipher(enum cmrdv_alg alg)
{
	return alg == CMRDV_ALG_AES_GCM || alg == CMRDV_ALG_AES_XTS;
}

static bool cmr_alg_is_digest(enum cmrdv_alg alg)
{
	return alg == CMRDV_ALG_SHA256 || alg == CMRDV_ALG_HMAC_SHA256 ||
	       alg == CMRDV_ALG_CRC32 || alg == CMRDV_ALG_CRC32C;
}

/* Framing flags of a one-shot compress or decompress WR. */
static bool cmr_codec_flags_ok(enum cmrdv_alg alg, uint32_t flags)
{
	if (flags & ~CMR_COMPUTE_FRAME_MASK)
		return false;
	if (alg != CMRDV_ALG_DEFLATE)
		return !flags;
	return flags <= CMR_COMPUTE_FRAME_GZIP;
}

/*
 * Caller holds qp->sq.lock: start a compute WQE if the QP may post one and
 * the builder found its arguments valid.  NULL once the batch failed.
 */
static struct cmr_compute_params *cmr_wr_compute(struct cmr_qp *qp,
						 bool valid,
						 enum cmrdv_alg alg,
						 enum cmrdv_dir dir)
{
	struct cmr_compute_params *params;
	struct cmr_send_wqe *wqe;

	if (!qp->compute || !valid) {
		cmr_wr_set_err(qp, EINVAL);
		return NULL;
	}
	wqe = cmr_wr_new(&qp->vqp.qp_ex, CMR_OP_COMPUTE);
	if (!wqe)
		return NULL;
	params = cmr_wqe_compute(wqe);
	params->alg = alg;
	params->dir = dir;
	return params;
}

/* Keys and streams serve the QPs of their PD only. */
static bool cmr_qp_owns(struct cmr_qp *qp, struct ibv_pd *pd)
{
	return pd == qp->protection;
}

static void cmr_wr_memcpy(struct cmrdv_qp_ex *dqp)
{
	cmr_wr_compute(to_cmr_qp_dv(dqp), true, CMRDV_ALG_MEMCPY,
		       CMRDV_FORWARD);
}

static void cmr_wr_compress(struct cmrdv_qp_ex *dqp, enum cmrdv_alg alg,
			    uint32_t level, uint32_t flags)
{
	struct cmr_compute_params *params;

	params = cmr_wr_compute(to_cmr_qp_dv(dqp),
				cmr_alg_is_codec(alg) && level <= UINT8_MAX &&
					cmr_codec_flags_ok(alg, flags),
				alg, CMRDV_FORWARD);
	if (!params)
		return;
	params->level = level;
	params->flags = flags;
}

static void cmr_wr_decompress(struct cmrdv_qp_ex *dqp, enum cmrdv_alg alg,
			      uint32_t flags)
{
	struct cmr_compute_params *params;

	params = cmr_wr_compute(to_cmr_qp_dv(dqp),
				cmr_alg_is_codec(alg) &&
					cmr_codec_flags_ok(alg, flags),
				alg, CMRDV_INVERSE);
	if (params)
		params->flags = flags;
}

static void cmr_wr_stream(struct cmrdv_qp_ex *dqp,
			  struct cmrdv_stream *stream, uint32_t flags)
{
	struct cmr_qp *qp = to_cmr_qp_dv(dqp);
	struct cmr_compute_params *params;
	bool valid;

	valid = stream && cmr_qp_owns(qp, stream->pd) &&
		!(flags & ~CMRDV_STREAM_END);
	params = cmr_wr_compute(qp, valid, valid ? stream->alg : 0,
				valid ? stream->dir : 0);
	if (!params)
		return;
	params->level = stream->level;
	params->flags = stream->flags;
	if (flags & CMRDV_STREAM_END)
		params->flags |= CMR_COMPUTE_STREAM_END;
	params->stream_handle = stream->stream_num;
}

static void cmr_wr_crypt(struct cmrdv_qp_ex *dqp, struct cmrdv_key *key,
			 const struct cmrdv_crypto_attr *attr,
			 enum cmrdv_dir dir)
{
	struct cmr_qp *qp = to_cmr_qp_dv(dqp);
	struct cmr_compute_params *params;
	bool valid;

	valid = key && attr && cmr_alg_is_cipher(key->alg) &&
		cmr_qp_owns(qp, key->pd);
	params = cmr_wr_compute(qp, valid, valid ? key->alg : 0, dir);
	if (!params)
		return;
	params->key_handle = key->key_num;
	params->aad_len = attr->aad_len;
	params->data_unit_size = attr->data_unit_size;
	memcpy(params->iv, attr->iv, sizeof(params->iv));
}

static void cmr_wr_encrypt(struct cmrdv_qp_ex *dqp, struct cmrdv_key *key,
			   const struct cmrdv_crypto_attr *attr)
{
	cmr_wr_crypt(dqp, key, attr, CMRDV_FORWARD);
}

static void cmr_wr_decrypt(struct cmrdv_qp_ex *dqp, struct cmrdv_key *key,
			   const struct cmrdv_crypto_attr *attr)
{
	cmr_wr_crypt(dqp, key, attr, CMRDV_INVERSE);
}

/* HMAC takes a key of its own algorithm; plain digests and CRCs none. */
static void cmr_wr_digest(struct cmrdv_qp_ex *dqp, enum cmrdv_alg alg,
			  struct cmrdv_key *key)
{
	struct cmr_qp *qp = to_cmr_qp_dv(dqp);
	struct cmr_compute_params *params;
	bool valid;

	if (alg == CMRDV_ALG_HMAC_SHA256)
		valid = key && key->alg == alg && cmr_qp_owns(qp, key->pd);
	else
		valid = !key && cmr_alg_is_digest(alg);
	params = cmr_wr_compute(qp, valid, alg, CMRDV_FORWARD);
	if (params && key)
		params->key_handle = key->key_num;
}

/* Replaces the destination list of the compute WR being built. */
static void cmr_wr_set_dst_sge_list(struct cmrdv_qp_ex *dqp, size_t num_sge,
				    const struct ibv_sge *sg_list)
{
	struct cmr_qp *qp = to_cmr_qp_dv(dqp);
	struct cmr_send_wqe *wqe = cmr_wr_cur(qp);

	if (!wqe)
		return;
	if (wqe->opcode != CMR_OP_COMPUTE || num_sge > qp->sq.max_sge) {
		cmr_wr_set_err(qp, EINVAL);
		return;
	}
	if (num_sge)
		memcpy(qp->wr_dst, sg_list, num_sge * sizeof(struct cmr_sge));
	qp->wr_num_dst = num_sge;
}

static void cmr_wr_set_dst_sge(struct cmrdv_qp_ex *dqp, uint32_t lkey,
			       uint64_t addr, uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	cmr_wr_set_dst_sge_list(dqp, 1, &sge);
}

/* The WR being built reads what the previous WR produced (CMR_WQE_SRC_FROM_PREV). */
static void cmr_wr_set_src_from_prev(struct cmrdv_qp_ex *dqp)
{
	struct cmr_qp *qp = to_cmr_qp_dv(dqp);
	struct cmr_send_wqe *wqe = cmr_wr_cur(qp);

	if (!wqe)
		return;
	if (!(CMR_OPS_SRC_FROM_PREV & 1U << wqe->opcode)) {
		cmr_wr_set_err(qp, EINVAL);
		return;
	}
	wqe->flags |= CMR_WQE_SRC_FROM_PREV;
}

struct cmrdv_qp_ex *cmrdv_qp_ex_from_ibv_qp_ex(struct ibv_qp_ex *ibqp)
{
	if (!ibqp || !is_cmr_dev(ibqp->qp_base.context->device)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return &to_cmr_qp_ex(ibqp)->dv_qp;
}

static void cmr_wr_start(struct ibv_qp_ex *ibqp)
{
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);

	cmr_spin_lock(&qp->sq.lock);
	qp->wr_index = qp->sq.q.index;
	qp->wr_cur = NULL;
	qp->wr_err = 0;
	qp->wr_num_dst = 0;
}

static int cmr_wr_complete(struct ibv_qp_ex *ibqp)
{
	struct cmr_qp *qp = to_cmr_qp_ex(ibqp);
	bool kick = false;
	int ret;

	cmr_wr_finish(qp);
	ret = qp->wr_err;
	if (!ret && !cmr_qp_can_send(&ibqp->qp_base))
		ret = EINVAL;

	if (!ret && qp->wr_index != qp->sq.q.index)
		kick = cmr_wq_publish(&qp->sq.q, qp->wr_index);
	cmr_spin_unlock(&qp->sq.lock);

	return kick ? cmr_wq_ring_doorbell(ibqp->qp_base.context, &qp->sq) :
		      ret;
}

static void cmr_wr_abort(struct ibv_qp_ex *ibqp)
{
	cmr_spin_unlock(&to_cmr_qp_ex(ibqp)->sq.lock);
}

static void cmr_qp_set_wr_ops(struct cmr_qp *qp, uint64_t ops)
{
	struct ibv_qp_ex *ibqp = &qp->vqp.qp_ex;

	if (ops & IBV_QP_EX_WITH_SEND)
		ibqp->wr_send = cmr_wr_send;
	if (ops & IBV_QP_EX_WITH_SEND_WITH_IMM)
		ibqp->wr_send_imm = cmr_wr_send_imm;
	if (ops & IBV_QP_EX_WITH_SEND_WITH_INV)
		ibqp->wr_send_inv = cmr_wr_send_inv;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE)
		ibqp->wr_rdma_write = cmr_wr_rdma_write;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM)
		ibqp->wr_rdma_write_imm = cmr_wr_rdma_write_imm;
	if (ops & IBV_QP_EX_WITH_RDMA_READ)
		ibqp->wr_rdma_read = cmr_wr_rdma_read;
	if (ops & IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP)
		ibqp->wr_atomic_cmp_swp = cmr_wr_atomic_cmp_swp;
	if (ops & IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD)
		ibqp->wr_atomic_fetch_add = cmr_wr_atomic_fetch_add;
	if (ops & IBV_QP_EX_WITH_LOCAL_INV)
		ibqp->wr_local_inv = cmr_wr_local_inv;

	ibqp->wr_set_ud_addr = cmr_wr_set_ud_addr;
	ibqp->wr_set_sge = cmr_wr_set_sge;
	ibqp->wr_set_sge_list = cmr_wr_set_sge_list;
	ibqp->wr_set_inline_data = cmr_wr_set_inline_data;
	ibqp->wr_set_inline_data_list = cmr_wr_set_inline_data_list;
	ibqp->wr_start = cmr_wr_start;
	ibqp->wr_complete = cmr_wr_complete;
	ibqp->wr_abort = cmr_wr_abort;

	/*
	 * Always set: on a QP created without CMRDV_QP_EX_WITH_COMPUTE the
	 * compute builders fail the batch with EINVAL instead of crashing.
	 */
	qp->dv_qp.wr_memcpy = cmr_wr_memcpy;
	qp->dv_qp.wr_compress = cmr_wr_compress;
	qp->dv_qp.wr_decompress = cmr_wr_decompress;
	qp->dv_qp.wr_stream = cmr_wr_stream;
	qp->dv_qp.wr_encrypt = cmr_wr_encrypt;
	qp->dv_qp.wr_decrypt = cmr_wr_decrypt;
	qp->dv_qp.wr_digest = cmr_wr_digest;
	qp->dv_qp.wr_set_dst_sge = cmr_wr_set_dst_sge;
	qp->dv_qp.wr_set_dst_sge_list = cmr_wr_set_dst_sge_list;
	qp->dv_qp.wr_set_src_from_prev = cmr_wr_set_src_from_prev;
}

/* Queue pair */

static int cmr_qp_check_attr(const struct ibv_qp_init_attr_ex *attr)
{
	uint64_t ops;

	if (attr->comp_mask & ~CMR_QP_COMP_MASK)
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	    attr->create_flags)
		return EOPNOTSUPP;

	switch (attr->qp_type) {
	case IBV_QPT_RC:
		ops = CMR_RC_SEND_OPS;
		break;
	case IBV_QPT_UC:
		ops = CMR_UC_SEND_OPS;
		break;
	case IBV_QPT_UD:
		ops = CMR_UD_SEND_OPS;
		break;
	default:
		return EOPNOTSUPP;
	}
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	    (attr->send_ops_flags & ~ops))
		return EOPNOTSUPP;
	return 0;
}

/*
 * Map the rings and bound what may be posted by what the entries can hold.
 * The kernel reports caps no larger than that; if it ever did, lower them
 * so the application sees the limit the provider enforces.
 */
static int cmr_qp_map(struct ibv_context *ibctx, struct cmr_qp *qp,
		      struct ibv_qp_init_attr_ex *attr,
		      const struct cmr_create_qp_resp *resp)
{
	static const struct cmr_queue_info no_queue;
	struct ibv_qp_cap *cap = &attr->cap;
	int ret;

	ret = cmr_wq_init(ibctx, &qp->sq, &resp->sq,
			  sizeof(struct cmr_send_wqe));
	if (ret)
		return ret;
	qp->sq.max_sge = min_t(uint32_t, qp->sq.max_sge, cap->max_send_sge);
	qp->sq.max_inline = min_t(uint32_t, qp->sq.max_inline,
				  resp->max_inline_data);
	cap->max_send_sge = qp->sq.max_sge;
	cap->max_inline_data = min_t(uint32_t, cap->max_inline_data,
				     qp->sq.max_inline);

	/* A QP on an SRQ receives through the SRQ's ring. */
	ret = cmr_wq_init(ibctx, &qp->rq, attr->srq ? &no_queue : &resp->rq,
			  sizeof(struct cmr_recv_wqe));
	if (ret) {
		cmr_wq_fini(&qp->sq);
		return ret;
	}
	if (!attr->srq) {
		qp->rq.max_sge = min_t(uint32_t, qp->rq.max_sge,
				       cap->max_recv_sge);
		cap->max_recv_sge = qp->rq.max_sge;
	}
	return 0;
}

/*
 * Both the verbs and cmrdv_create_qp() land here; flags are enum
 * cmr_create_qp_flags.  Without any, the command carries no comp_mask, as
 * kernels without compute expect.
 */
static struct cmr_qp *cmr_qp_create(struct ibv_context *ibctx,
				    struct ibv_qp_init_attr_ex *attr,
				    uint32_t flags)
{
	struct cmr_cmd_create_qp_ex_resp resp = {};
	struct cmr_cmd_create_qp_ex cmd = {};
	struct cmr_qp *qp;
	int ret;

	ret = cmr_qp_check_attr(attr);
	if (ret) {
		errno = ret;
		return NULL;
	}

	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;

	if (flags) {
		cmd.comp_mask = CMR_CREATE_QP_FLAGS;
		cmd.flags = flags;
	}
	ret = ibv_cmd_create_qp_ex2(ibctx, &qp->vqp, attr, &cmd.ibv_cmd,
				    sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;
	qp->protection = cmr_protection_domain(qp->vqp.qp.pd);

	ret = cmr_qp_map(ibctx, qp, attr, &resp.drv_payload);
	if (ret) {
		verbs_err(verbs_get_ctx(ibctx),
			  "cmr: QP[%u] ring mapping failed: %d\n",
			  qp->vqp.qp.qp_num, ret);
		goto err_destroy;
	}
	if (flags & CMR_QP_FLAG_COMPUTE) {
		qp->wr_dst = calloc(max_t(uint32_t, qp->sq.max_sge, 1),
				    sizeof(*qp->wr_dst));
		if (!qp->wr_dst) {
			ret = ENOMEM;
			goto err_unmap;
		}
		qp->compute = true;
	}
	cmr_db_init(&qp->sq, IB_USER_VERBS_CMD_POST_SEND, qp->vqp.qp.handle,
		    sizeof(struct ib_uverbs_send_wr));
	qp->sq.fast_db = CMR_IOCTL_DB_SQ;
	qp->sq.fast_db_num = qp->vqp.qp.qp_num;
	cmr_db_init(&qp->rq, IB_USER_VERBS_CMD_POST_RECV, qp->vqp.qp.handle,
		    sizeof(struct ib_uverbs_recv_wr));
	qp->rq.fast_db = CMR_IOCTL_DB_RQ;
	qp->rq.fast_db_num = qp->vqp.qp.qp_num;
	qp->sq_sig_all = attr->sq_sig_all;

	if (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) {
		cmr_qp_set_wr_ops(qp, attr->send_ops_flags);
		qp->vqp.comp_mask |= VERBS_QP_EX;
	}
	if (attr->recv_cq) {
		struct cmr_cq *rcq = to_cmr_cq(attr->recv_cq);

		cmr_spin_lock(&rcq->lock);
		cmr_cq_add_recv_qp(rcq, qp, !attr->srq);
		cmr_spin_unlock(&rcq->lock);
	}
	return qp;

err_unmap:
	cmr_wq_fini(&qp->rq);
	cmr_wq_fini(&qp->sq);
err_destroy:
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
	errno = ret;
	return NULL;
}

struct ibv_qp *cmr_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex attr_ex = {};
	struct cmr_qp *qp;

	/* ibv_qp_init_attr is the head of ibv_qp_init_attr_ex */
	memcpy(&attr_ex, attr, sizeof(*attr));
	attr_ex.comp_mask = IBV_QP_INIT_ATTR_PD;
	attr_ex.pd = pd;

	qp = cmr_qp_create(pd->context, &attr_ex, 0);
	if (!qp)
		return NULL;
	attr->cap = attr_ex.cap;
	return &qp->vqp.qp;
}

struct ibv_qp *cmr_create_qp_ex(struct ibv_context *ibctx,
				struct ibv_qp_init_attr_ex *attr)
{
	return cmr_create_qp_flags(ibctx, attr, 0);
}

/* flags: enum cmr_create_qp_flags, checked by the caller (cmrdv.c). */
struct ibv_qp *cmr_create_qp_flags(struct ibv_context *ibctx,
				   struct ibv_qp_init_attr_ex *attr,
				   uint32_t flags)
{
	struct cmr_qp *qp;

	qp = cmr_qp_create(ibctx, attr, flags);
	return qp ? &qp->vqp.qp : NULL;
}

/* The QP's CQs, each once, in the order their locks are taken. */
static void cmr_qp_cqs(struct ibv_qp *ibqp, struct cmr_cq *cq[2])
{
	struct cmr_cq *scq = ibqp->send_cq ? to_cmr_cq(ibqp->send_cq) : NULL;
	struct cmr_cq *rcq = ibqp->recv_cq ? to_cmr_cq(ibqp->recv_cq) : NULL;

	if (scq == rcq)
		rcq = NULL;
	cq[0] = (uintptr_t)scq < (uintptr_t)rcq ? scq : rcq;
	cq[1] = cq[0] == scq ? rcq : scq;
}

int cmr_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask)
{
	bool reset = (mask & IBV_QP_STATE) && attr->qp_state == IBV_QPS_RESET;
	struct cmr_qp *qp = to_cmr_qp(ibqp);
	struct ibv_modify_qp cmd = {};
	struct cmr_cq *cq[2] = {};
	int i, ret;

	/*
	 * Entering RESET, the kernel takes the QP's unpolled completions out
	 * of its CQs (moving their producers back): nobody may poll them
	 * meanwhile.
	 */
	if (reset)
		cmr_qp_cqs(ibqp, cq);
	for (i = 0; i < 2; i++)
		if (cq[i])
			cmr_spin_lock(&cq[i]->lock);
	/* libibverbs records attr->qp_state in ibqp->state on success. */
	ret = ibv_cmd_modify_qp(ibqp, attr, mask, &cmd, sizeof(cmd));
	if (reset && !ret && ibqp->recv_cq && !ibqp->srq) {
		cmr_spin_lock(&qp->rq.lock);
		cmr_cq_restart_recv(to_cmr_cq(ibqp->recv_cq), qp);
		cmr_spin_unlock(&qp->rq.lock);
	}
	for (i = 1; i >= 0; i--)
		if (cq[i])
			cmr_spin_unlock(&cq[i]->lock);
	return ret;
}

int cmr_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask,
		 struct ibv_qp_init_attr *init_attr)
{
	struct ibv_query_qp cmd = {};

	return ibv_cmd_query_qp(ibqp, attr, mask, init_attr, &cmd,
				sizeof(cmd));
}

int cmr_destroy_qp(struct ibv_qp *ibqp)
{
	struct cmr_qp *qp = to_cmr_qp(ibqp);
	int ret;

	ret = ibv_cmd_destroy_qp(ibqp);
	if (ret)
		return ret;
	if (ibqp->recv_cq) {
		struct cmr_cq *rcq = to_cmr_cq(ibqp->recv_cq);

		cmr_spin_lock(&rcq->lock);
		cmr_cq_del_recv_qp(rcq, qp);
		cmr_spin_unlock(&rcq->lock);
	}
	cmr_wq_fini(&qp->rq);
	cmr_wq_fini(&qp->sq);
	free(qp->wr_dst);
	free(qp);
	return 0;
}

/* Shared receive queue */

struct ibv_srq *cmr_create_srq(struct ibv_pd *pd,
			       struct ibv_srq_init_attr *attr)
{
	struct cmr_cmd_create_srq_resp resp = {};
	struct ibv_create_srq cmd = {};
	struct cmr_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq)
		return NULL;

	ret = ibv_cmd_create_srq(pd, &srq->vsrq.srq, attr, &cmd, sizeof(cmd),
				 &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;

	ret = resp.rq.num_entries ? cmr_wq_init(pd->context, &srq->rq, &resp.rq,
						sizeof(struct cmr_recv_wqe)) :
				    EINVAL;
	if (ret) {
		verbs_err(verbs_get_ctx(pd->context),
			  "cmr: SRQ[%u] ring mapping failed: %d\n",
			  resp.srq_num, ret);
		goto err_destroy;
	}
	srq->rq.max_sge = min_t(uint32_t, srq->rq.max_sge, attr->attr.max_sge);
	attr->attr.max_sge = srq->rq.max_sge;
	srq->srq_num = resp.srq_num;
	cmr_db_init(&srq->rq, IB_USER_VERBS_CMD_POST_SRQ_RECV,
		    srq->vsrq.srq.handle, sizeof(struct ib_uverbs_recv_wr));
	srq->rq.fast_db = CMR_IOCTL_DB_SRQ;
	srq->rq.fast_db_num = srq->srq_num;
	return &srq->vsrq.srq;

err_destroy:
	ibv_cmd_destroy_srq(&srq->vsrq.srq);
err_free:
	free(srq);
	errno = ret;
	return NULL;
}

/*
 * Resizing (IBV_SRQ_MAX_WR) moves the SRQ to a new ring, described where
 * the command asks (cmr_modify_srq_cmd); under the ring's lock, so that
 * no receive is posted to the old one meanwhile.  The WQEs posted keep
 * their indices, and so do ours.
 */
int cmr_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr, int mask)
{
	struct cmr_srq *srq = to_cmr_srq(ibsrq);
	struct cmr_cmd_modify_srq cmd = {};
	struct cmr_queue_info info = {};
	struct cmr_queue q = {};
	int ret;

	if (!(mask & IBV_SRQ_MAX_WR))
		return ibv_cmd_modify_srq(ibsrq, attr, mask, &cmd.ibv_cmd,
					  sizeof(cmd.ibv_cmd));

	cmd.ring_info_addr = (uintptr_t)&info;
	cmr_spin_lock(&srq->rq.lock);
	ret = ibv_cmd_modify_srq(ibsrq, attr, mask, &cmd.ibv_cmd, sizeof(cmd));
	if (ret)
		goto out;
	ret = cmr_map_queue(ibsrq->context, &q, &info,
			    1U << srq->rq.q.stride_shift);
	if (ret) {
		/* The kernel reads the new ring only: nothing can be posted. */
		verbs_err(verbs_get_ctx(ibsrq->context),
			  "cmr: SRQ[%u] ring remapping failed: %d\n",
			  srq->srq_num, ret);
		goto out;
	}
	q.index = srq->rq.q.index;
	q.peer = srq->rq.q.peer;
	cmr_unmap_queue(&srq->rq.q);
	srq->rq.q = q;
out:
	cmr_spin_unlock(&srq->rq.lock);
	return ret;
}

int cmr_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct ibv_query_srq cmd = {};

	return ibv_cmd_query_srq(ibsrq, attr, &cmd, sizeof(cmd));
}

int cmr_destroy_srq(struct ibv_srq *ibsrq)
{
	struct cmr_srq *srq = to_cmr_srq(ibsrq);
	int ret;

	ret = ibv_cmd_destroy_srq(ibsrq);
	if (ret)
		return ret;
	cmr_wq_fini(&srq->rq);
	free(srq);
	return 0;
}
