// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: the engine: fetch a send WQE, validate it, execute it against the
 * peer QP, complete it.
 *
 * A QP's SQ runs in whichever context calls cmr_qp_run_sq(): the
 * doorbell syscall itself (no thread hop: the lowest latency), a receive
 * doorbell that resumes a requester stalled by RNR, or the QP's sq_work
 * (RNR timer, flush after a remote error).  A future SQ poller thread
 * calls the same function.  qp->sq_mutex keeps WQEs in order; each one
 * runs to completion, responder side included, before the next starts,
 * so fences and ordering rules hold trivially.
 *
 * Everything read from a ring is copied once into the QP's private
 * buffers and validated there.  A bad WQE completes in error and moves
 * the QP to ERR (RC) or SQE (UD).
 */
#include <linux/jiffies.h>
#include <linux/nospec.h>
#include <linux/srcu.h>

#include "cmr_loc.h"

enum cmr_exec_result {
	CMR_EXEC_DONE,		/* complete the WQE with x->status */
	CMR_EXEC_WAIT,		/* RNR: the WQE stays at the head of the SQ */
};

/* One send WQE being executed; lives on the stack under sq_mutex. */
struct cmr_exec {
	struct cmr_qp *qp;		/* the requester */
	struct cmr_send_wqe *wqe;	/* == qp->wqe, the private copy */
	unsigned int nseg;		/* valid entries of qp->lsegs */
	u64 len;			/* message length */
	enum ib_wc_status status;
	u32 byte_len;
	bool rnr_expired;		/* an RNR timeout passed for it */
};

/* IB RNR timer encoding (min_rnr_timer) in microseconds. */
static const u32 cmr_rnr_usecs[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

/*
 * The rkey of SEND_WITH_INV / LOCAL_INV travels in imm_data exactly as
 * libibverbs' union of imm_data and invalidate_rkey holds it.
 */
static u32 cmr_wqe_inv_rkey(const struct cmr_send_wqe *wqe)
{
	return (__force u32)wqe->imm_data;
}

/* Copy the head WQE out of the ring once; false if it is malformed. */
static bool cmr_sq_fetch(struct cmr_qp *qp)
{
	const u8 *slot = cmr_queue_slot(&qp->sq, qp->sq.index);
	struct cmr_send_wqe *wqe = qp->wqe;

	memcpy(wqe, slot, sizeof(*wqe));
	if (wqe->flags & CMR_WQE_INLINE) {
		if (wqe->inline_len > qp->max_inline)
			return false;
		memcpy(wqe + 1, slot + sizeof(*wqe), wqe->inline_len);
	} else {
		if (wqe->num_sge > qp->max_send_sge)
			return false;
		memcpy(wqe + 1, slot + sizeof(*wqe),
		       wqe->num_sge * sizeof(struct cmr_sge));
	}
	return true;
}

/*
 * Validate the WQE's local data (inline bytes, or SGEs against our MRs
 * with the given access) into qp->lsegs.
 */
static enum ib_wc_status cmr_exec_local(struct cmr_exec *x, int access)
{
	struct cmr_qp *qp = x->qp;
	struct cmr_send_wqe *wqe = x->wqe;
	const struct cmr_sge *sge = (const struct cmr_sge *)(wqe + 1);
	struct cmr_seg *seg = qp->lsegs;
	unsigned int i, n = 0;
	u64 len = 0;
	int err;

	x->nseg = 0;
	x->len = 0;
	if (wqe->flags & CMR_WQE_INLINE) {
		if (access)	/* inline data is not a destination */
			return IB_WC_LOC_QP_OP_ERR;
		if (wqe->inline_len) {
			seg->mr = NULL;
			seg->kaddr = wqe + 1;
			seg->len = wqe->inline_len;
			x->nseg = 1;
		}
		x->len = wqe->inline_len;
		return IB_WC_SUCCESS;
	}

	for (i = 0; i < wqe->num_sge; i++) {
		if (!sge[i].length)
			continue;
		seg[n].mr = cmr_mr_lookup(qp->dev, sge[i].lkey);
		if (!seg[n].mr)
			return IB_WC_LOC_PROT_ERR;
		err = cmr_mr_check(seg[n].mr, qp->ibqp.pd, sge[i].addr,
				   sge[i].length, access);
		if (err)	/* bad range or rights alike, as IB has it */
			return IB_WC_LOC_PROT_ERR;
		seg[n].iova = sge[i].addr;
		seg[n].len = sge[i].length;
		n++;
		len += sge[i].length;
	}
	if (len > 1ULL << CMR_MAX_MSG_SHIFT)
		return IB_WC_LOC_LEN_ERR;
	x->nseg = n;
	x->len = len;
	return IB_WC_SUCCESS;
}

/* The connected peer of an RC QP, if it accepts us. */
static struct cmr_qp *cmr_rc_peer(struct cmr_qp *qp)
{
	struct cmr_qp *peer;

	peer = cmr_qp_lookup(qp->av.dev_index, qp->attr.dest_qp_num);
	if (!peer || peer->ibqp.qp_type != IB_QPT_RC ||
	    !cmr_qp_state_receives(READ_ONCE(peer->attr.qp_state)) ||
	    READ_ONCE(peer->attr.dest_qp_num) != qp->ibqp.qp_num ||
	    READ_ONCE(peer->av.dev_index) != qp->dev->index)
		return NULL;
	return peer;
}

/*
 * Validate a remote range against the peer's QP access flags and MR into
 * seg.  On failure the peer goes to ERR, as the responder of an access
 * violation does.
 */
static enum ib_wc_status cmr_exec_remote(struct cmr_qp *peer, u64 addr,
					 u32 rkey, u64 len, int access,
					 struct cmr_seg *seg)
{
	seg->mr = NULL;
	seg->iova = addr;
	seg->len = len;
	if (!(READ_ONCE(peer->attr.qp_access_flags) & access))
		goto err;
	seg->mr = cmr_mr_lookup(peer->dev, rkey);
	if (!seg->mr ||
	    cmr_mr_check(seg->mr, peer->ibqp.pd, addr, len, access))
		goto err;
	return IB_WC_SUCCESS;

err:
	cmr_qp_error(peer, IB_EVENT_QP_ACCESS_ERR);
	return IB_WC_REM_ACCESS_ERR;
}

/*
 * The peer's receive queue rq is empty; rq->lock is held and released
 * here.  Either fail the WQE (retries exhausted, peer going away), or
 * stall the SQ on rq until a receive is posted or the RNR timer fires.
 * Returns CMR_EXEC_WAIT with a reference to the peer in qp->rnr_peer,
 * -EAGAIN if a receive arrived meanwhile, or CMR_EXEC_DONE.
 */
static int cmr_rnr(struct cmr_exec *x, struct cmr_qp *peer,
		   struct cmr_rq *rq)
{
	struct cmr_qp *qp = x->qp;
	unsigned long delay;
	u8 retry = qp->attr.rnr_retry;

	if (x->rnr_expired) {
		qp->rnr_attempts++;
		x->rnr_expired = false;
	}
	if (READ_ONCE(peer->dead)) {
		mutex_unlock(&rq->lock);
		x->status = IB_WC_RETRY_EXC_ERR;
		return CMR_EXEC_DONE;
	}
	if (retry != 7 && qp->rnr_attempts >= retry) {
		mutex_unlock(&rq->lock);
		x->status = IB_WC_RNR_RETRY_EXC_ERR;
		return CMR_EXEC_DONE;
	}

	list_add_tail(&qp->rnr_entry, &rq->waiters);
	cmr_queue_set_flags(&rq->q, CMR_RING_NEED_WAKEUP);
	if (cmr_queue_user_producer(&rq->q) != rq->q.index) {
		/* Posted before user space could see the flag. */
		list_del_init(&qp->rnr_entry);
		mutex_unlock(&rq->lock);
		return -EAGAIN;
	}
	mutex_unlock(&rq->lock);

	/* Found under cmr_srcu: its destroy has not dropped its own ref. */
	refcount_inc(&peer->ref);
	qp->rnr_peer = peer;
	qp->rnr_rq = rq;
	if (!qp->rnr_timing) {
		delay = usecs_to_jiffies(cmr_rnr_usecs[READ_ONCE(
				peer->attr.min_rnr_timer) & 31]);
		qp->rnr_deadline = jiffies + max(delay, 1UL);
		qp->rnr_timing = true;
	}
	delay = time_after(qp->rnr_deadline, jiffies) ?
		qp->rnr_deadline - jiffies : 0;
	/* A pending immediate run re-arms the timer when it stalls again. */
	queue_delayed_work(cmr_wq, &qp->sq_work, delay);
	ibdev_dbg_ratelimited(qp->ibqp.device, "QP[%u] RNR on QP[%u]\n",
			      qp->ibqp.qp_num, peer->ibqp.qp_num);
	return CMR_EXEC_WAIT;
}

static void cmr_build_grh(struct ib_grh *grh, struct cmr_qp *qp,
			  const struct cmr_av *av, u32 len)
{
	memset(grh, 0, sizeof(*grh));
	grh->version_tclass_flow = cpu_to_be32(6U << 28 |
					       (u32)av->traffic_class << 20 |
					       (av->flow_label & 0xfffff));
	grh->paylen = cpu_to_be16(len);
	grh->next_hdr = 0x1b;
	grh->hop_limit = av->hop_limit;
	grh->sgid.global.subnet_prefix = cpu_to_be64(CMR_GID_PREFIX);
	grh->sgid.global.interface_id = qp->dev->ibdev.node_guid;
	grh->dgid = av->dgid;
}

/* Validate the receive WQE's buffers against the peer's MRs. */
static enum ib_wc_status cmr_recv_segs(struct cmr_qp *qp,
				       struct cmr_qp *peer, u32 num_sge,
				       unsigned int *nseg, u64 *room)
{
	const struct cmr_sge *sge =
		(const struct cmr_sge *)((struct cmr_recv_wqe *)qp->recv_wqe + 1);
	struct cmr_seg *seg = qp->rsegs;
	unsigned int i, n = 0;
	int err;

	*nseg = 0;
	*room = 0;
	for (i = 0; i < num_sge; i++) {
		if (!sge[i].length)
			continue;
		seg[n].mr = cmr_mr_lookup(peer->dev, sge[i].lkey);
		if (!seg[n].mr)
			return IB_WC_LOC_PROT_ERR;
		err = cmr_mr_check(seg[n].mr, peer->ibqp.pd, sge[i].addr,
				   sge[i].length, IB_ACCESS_LOCAL_WRITE);
		if (err)	/* bad range or rights alike, as IB has it */
			return IB_WC_LOC_PROT_ERR;
		seg[n].iova = sge[i].addr;
		seg[n].len = sge[i].length;
		n++;
		*room += sge[i].length;
	}
	*nseg = n;
	return IB_WC_SUCCESS;
}

/* Drop the first skip bytes of a scatter list (the UD GRH space). */
static void cmr_seg_skip(struct cmr_seg *seg, unsigned int n, u32 skip)
{
	unsigned int i;
	u32 k;

	for (i = 0; i < n && skip; i++) {
		k = min(skip, seg[i].len);
		seg[i].iova += k;
		seg[i].len -= k;
		skip -= k;
	}
}

/*
 * Deliver to the peer's receive queue: take its next receive WQE and
 * complete it.  For SEND (data NULL) scatter our message into it; for
 * RDMA WRITE with immediate (data the validated remote range) write the
 * data and consume the WQE for the immediate.  ud_av: UD semantics (GRH
 * space, silent drops, the requester never sees responder errors).
 */
static int cmr_deliver(struct cmr_exec *x, struct cmr_qp *peer,
		       struct cmr_seg *data, const struct cmr_av *ud_av)
{
	struct cmr_qp *qp = x->qp;
	struct cmr_rq *rq = cmr_qp_rq(peer);
	struct cmr_recv_wqe *rwqe = qp->recv_wqe;
	enum ib_wc_status rstatus = IB_WC_SUCCESS;
	u32 hdr = ud_av ? CMR_UD_GRH_LEN : 0;
	struct cmr_cqe cqe = {};
	bool dst_fault, limit = false, solicited;
	unsigned int nseg = 0;
	const u8 *slot;
	u32 prod, pending;
	struct ib_grh grh;
	struct cmr_seg gseg;
	u64 room;
	int err;

again:
	mutex_lock(&rq->lock);
	prod = cmr_queue_user_producer(&rq->q);
	pending = cmr_queue_pending(&rq->q, prod);
	if (unlikely(pending > rq->q.num_entries)) {
		mutex_unlock(&rq->lock);
		if (rq->srq) {
			struct ib_event ev = {
				.device = rq->srq->ibsrq.device,
				.element.srq = &rq->srq->ibsrq,
				.event = IB_EVENT_SRQ_ERR,
			};

			if (rq->srq->ibsrq.event_handler)
				rq->srq->ibsrq.event_handler(&ev,
					rq->srq->ibsrq.srq_context);
		} else {
			cmr_qp_fatal(peer);
		}
		if (!ud_av)
			x->status = IB_WC_REM_OP_ERR;
		return CMR_EXEC_DONE;
	}
	if (!pending) {
		if (ud_av) {		/* UD: no receive WQE, dropped */
			mutex_unlock(&rq->lock);
			return CMR_EXEC_DONE;
		}
		err = cmr_rnr(x, peer, rq);
		if (err == -EAGAIN)
			goto again;
		return err;
	}

	/* Copy the receive WQE once. */
	slot = cmr_queue_slot(&rq->q, rq->q.index);
	memcpy(rwqe, slot, sizeof(*rwqe));
	if (rwqe->num_sge > rq->max_sge) {
		rstatus = IB_WC_LOC_QP_OP_ERR;
		goto consume;
	}
	memcpy(rwqe + 1, slot + sizeof(*rwqe),
	       rwqe->num_sge * sizeof(struct cmr_sge));

	if (data) {
		/* RDMA WRITE with immediate: the WQE only carries imm. */
		if (x->len) {
			err = cmr_copy(qp->bounce, data, 1, qp->lsegs, x->nseg,
				       x->len, &dst_fault);
			if (err) {
				mutex_unlock(&rq->lock);
				if (dst_fault) {
					cmr_qp_error(peer,
						     IB_EVENT_QP_ACCESS_ERR);
					x->status = IB_WC_REM_ACCESS_ERR;
				} else {
					x->status = IB_WC_LOC_PROT_ERR;
				}
				return CMR_EXEC_DONE;
			}
		}
		cqe.opcode = IB_WC_RECV_RDMA_WITH_IMM;
		cqe.byte_len = x->len;
		goto consume;
	}

	cqe.opcode = IB_WC_RECV;
	cqe.byte_len = x->len + hdr;
	rstatus = cmr_recv_segs(qp, peer, rwqe->num_sge, &nseg, &room);
	if (rstatus == IB_WC_SUCCESS && room < x->len + hdr)
		rstatus = IB_WC_LOC_LEN_ERR;
	if (rstatus == IB_WC_SUCCESS && ud_av &&
	    (ud_av->ah_flags & IB_AH_GRH)) {
		cmr_build_grh(&grh, qp, ud_av, x->len);
		gseg.mr = NULL;
		gseg.kaddr = &grh;
		gseg.len = sizeof(grh);
		if (cmr_copy(qp->bounce, qp->rsegs, nseg, &gseg, 1,
			     sizeof(grh), &dst_fault))
			rstatus = IB_WC_LOC_PROT_ERR;
		cqe.flags |= CMR_CQE_GRH;
	}
	if (rstatus == IB_WC_SUCCESS && x->len) {
		cmr_seg_skip(qp->rsegs, nseg, hdr);
		err = cmr_copy(qp->bounce, qp->rsegs, nseg, qp->lsegs, x->nseg,
			       x->len, &dst_fault);
		if (err && !dst_fault) {
			/* Our own memory failed: nothing was sent. */
			mutex_unlock(&rq->lock);
			x->status = IB_WC_LOC_PROT_ERR;
			return CMR_EXEC_DONE;
		}
		if (err)
			rstatus = IB_WC_LOC_PROT_ERR;
	}
	if (rstatus == IB_WC_SUCCESS &&
	    x->wqe->opcode == CMR_OP_SEND_WITH_INV) {
		if (cmr_mr_invalidate(peer->dev, peer->ibqp.pd,
				      cmr_wqe_inv_rkey(x->wqe), true)) {
			cqe.flags |= CMR_CQE_WITH_INV;
			cqe.imm_data = x->wqe->imm_data;
		} else {
			rstatus = IB_WC_REM_INV_REQ_ERR;
		}
	}

consume:
	if (x->wqe->opcode == CMR_OP_SEND_WITH_IMM ||
	    x->wqe->opcode == CMR_OP_RDMA_WRITE_WITH_IMM) {
		cqe.flags |= CMR_CQE_WITH_IMM;
		cqe.imm_data = x->wqe->imm_data;
	}
	cqe.wr_id = rwqe->wr_id;
	cqe.status = rstatus;
	cqe.qp_num = peer->ibqp.qp_num;
	cqe.recv.src_qp = qp->ibqp.qp_num;
	cqe.recv.slid = cmr_lid(qp->dev);
	cqe.recv.sl = ud_av ? ud_av->sl : qp->av.sl;
	rq->q.index++;
	cmr_queue_publish_consumer(&rq->q);
	solicited = x->wqe->flags & CMR_WQE_SOLICITED;
	cmr_cq_post(peer->rcq, &cqe, solicited);
	if (rq->srq && rq->srq->limit &&
	    prod - rq->q.index < rq->srq->limit) {
		rq->srq->limit = 0;	/* the event disarms it */
		limit = true;
	}
	mutex_unlock(&rq->lock);

	if (limit) {
		struct ib_event ev = {
			.device = rq->srq->ibsrq.device,
			.element.srq = &rq->srq->ibsrq,
			.event = IB_EVENT_SRQ_LIMIT_REACHED,
		};

		if (rq->srq->ibsrq.event_handler)
			rq->srq->ibsrq.event_handler(&ev,
						     rq->srq->ibsrq.srq_context);
	}
	if (rstatus != IB_WC_SUCCESS) {
		cmr_qp_error(peer, 0);
		if (!ud_av)
			x->status = rstatus == IB_WC_LOC_LEN_ERR ||
				    rstatus == IB_WC_REM_INV_REQ_ERR ?
				    IB_WC_REM_INV_REQ_ERR : IB_WC_REM_OP_ERR;
	}
	return CMR_EXEC_DONE;
}

/* Operations; each sets x->status and returns enum cmr_exec_result. */

static int cmr_op_rc_send(struct cmr_exec *x)
{
	struct cmr_qp *peer;

	x->status = cmr_exec_local(x, 0);
	if (x->status)
		return CMR_EXEC_DONE;
	x->byte_len = x->len;
	peer = cmr_rc_peer(x->qp);
	if (!peer) {
		x->status = IB_WC_RETRY_EXC_ERR;
		return CMR_EXEC_DONE;
	}
	return cmr_deliver(x, peer, NULL, NULL);
}

static int cmr_op_rc_write(struct cmr_exec *x)
{
	struct cmr_qp *qp = x->qp, *peer;
	struct cmr_seg rseg = {};
	bool dst_fault;

	x->status = cmr_exec_local(x, 0);
	if (x->status)
		return CMR_EXEC_DONE;
	x->byte_len = x->len;
	peer = cmr_rc_peer(qp);
	if (!peer) {
		x->status = IB_WC_RETRY_EXC_ERR;
		return CMR_EXEC_DONE;
	}
	/* A zero-length write checks neither rkey nor address. */
	if (x->len) {
		x->status = cmr_exec_remote(peer, x->wqe->rdma.remote_addr,
					    x->wqe->rdma.rkey, x->len,
					    IB_ACCESS_REMOTE_WRITE, &rseg);
		if (x->status)
			return CMR_EXEC_DONE;
	}
	if (x->wqe->opcode == CMR_OP_RDMA_WRITE_WITH_IMM)
		return cmr_deliver(x, peer, &rseg, NULL);
	if (x->len && cmr_copy(qp->bounce, &rseg, 1, qp->lsegs, x->nseg,
			       x->len, &dst_fault)) {
		if (dst_fault) {
			cmr_qp_error(peer, IB_EVENT_QP_ACCESS_ERR);
			x->status = IB_WC_REM_ACCESS_ERR;
		} else {
			x->status = IB_WC_LOC_PROT_ERR;
		}
	}
	return CMR_EXEC_DONE;
}

static int cmr_op_rc_read(struct cmr_exec *x)
{
	struct cmr_qp *qp = x->qp, *peer;
	struct cmr_seg rseg = {};
	bool dst_fault;

	x->status = cmr_exec_local(x, IB_ACCESS_LOCAL_WRITE);
	if (x->status)
		return CMR_EXEC_DONE;
	x->byte_len = x->len;
	peer = cmr_rc_peer(qp);
	if (!peer) {
		x->status = IB_WC_RETRY_EXC_ERR;
		return CMR_EXEC_DONE;
	}
	if (!x->len)
		return CMR_EXEC_DONE;
	x->status = cmr_exec_remote(peer, x->wqe->rdma.remote_addr,
				    x->wqe->rdma.rkey, x->len,
				    IB_ACCESS_REMOTE_READ, &rseg);
	if (x->status)
		return CMR_EXEC_DONE;
	if (cmr_copy(qp->bounce, qp->lsegs, x->nseg, &rseg, 1, x->len,
		     &dst_fault)) {
		if (dst_fault) {
			x->status = IB_WC_LOC_PROT_ERR;
		} else {
			cmr_qp_error(peer, IB_EVENT_QP_ACCESS_ERR);
			x->status = IB_WC_REM_ACCESS_ERR;
		}
	}
	return CMR_EXEC_DONE;
}

static int cmr_op_rc_atomic(struct cmr_exec *x)
{
	struct cmr_qp *qp = x->qp, *peer;
	u64 addr = x->wqe->atomic.remote_addr, orig;
	struct cmr_seg rseg = {}, oseg;
	bool dst_fault;

	x->status = cmr_exec_local(x, IB_ACCESS_LOCAL_WRITE);
	if (x->status)
		return CMR_EXEC_DONE;
	if (x->len < sizeof(u64)) {
		x->status = IB_WC_LOC_LEN_ERR;
		return CMR_EXEC_DONE;
	}
	x->byte_len = sizeof(u64);
	peer = cmr_rc_peer(qp);
	if (!peer) {
		x->status = IB_WC_RETRY_EXC_ERR;
		return CMR_EXEC_DONE;
	}
	if (addr & (sizeof(u64) - 1)) {
		cmr_qp_error(peer, IB_EVENT_QP_REQ_ERR);
		x->status = IB_WC_REM_INV_REQ_ERR;
		return CMR_EXEC_DONE;
	}
	x->status = cmr_exec_remote(peer, addr, x->wqe->atomic.rkey,
				    sizeof(u64), IB_ACCESS_REMOTE_ATOMIC,
				    &rseg);
	if (x->status)
		return CMR_EXEC_DONE;
	if (cmr_atomic(&rseg, addr,
		       x->wqe->opcode == CMR_OP_ATOMIC_CMP_AND_SWP,
		       x->wqe->atomic.compare_add, x->wqe->atomic.swap,
		       &orig)) {
		cmr_qp_error(peer, IB_EVENT_QP_ACCESS_ERR);
		x->status = IB_WC_REM_ACCESS_ERR;
		return CMR_EXEC_DONE;
	}
	oseg.mr = NULL;
	oseg.kaddr = &orig;
	oseg.len = sizeof(orig);
	if (cmr_copy(qp->bounce, qp->lsegs, x->nseg, &oseg, 1, sizeof(orig),
		     &dst_fault))
		x->status = IB_WC_LOC_PROT_ERR;
	return CMR_EXEC_DONE;
}

static int cmr_op_local_inv(struct cmr_exec *x)
{
	struct cmr_qp *qp = x->qp;

	if (!cmr_mr_invalidate(qp->dev, qp->ibqp.pd,
			       cmr_wqe_inv_rkey(x->wqe), false))
		x->status = IB_WC_LOC_PROT_ERR;
	return CMR_EXEC_DONE;
}

static int cmr_op_ud_send(struct cmr_exec *x)
{
	struct cmr_qp *qp = x->qp, *peer;
	struct cmr_av av;
	u32 qkey;

	x->status = cmr_exec_local(x, 0);
	if (x->status)
		return CMR_EXEC_DONE;
	x->byte_len = x->len;
	if (x->len > CMR_UD_MTU) {
		x->status = IB_WC_LOC_LEN_ERR;
		return CMR_EXEC_DONE;
	}
	if (!cmr_ah_lookup(qp->dev, x->wqe->ud.ah_num, qp->ibqp.pd, &av)) {
		x->status = IB_WC_LOC_QP_OP_ERR;
		return CMR_EXEC_DONE;
	}
	/* A Q_Key with the high bit set means "use the QP's". */
	qkey = x->wqe->ud.remote_qkey;
	if (qkey & 0x80000000)
		qkey = qp->attr.qkey;

	/* Anything that would not arrive is silently dropped, as in IB. */
	peer = cmr_qp_lookup(av.dev_index, x->wqe->ud.remote_qpn);
	if (peer && peer->ibqp.qp_type == IB_QPT_UD &&
	    cmr_qp_state_receives(READ_ONCE(peer->attr.qp_state)) &&
	    READ_ONCE(peer->attr.qkey) == qkey)
		cmr_deliver(x, peer, NULL, &av);
	return CMR_EXEC_DONE;
}

/* Run one operation; NULL opcode for this QP type: not allowed. */
static int cmr_exec_op(struct cmr_exec *x, u8 opcode)
{
	if (x->qp->ibqp.qp_type == IB_QPT_UD) {
		switch (opcode) {
		case CMR_OP_SEND:
		case CMR_OP_SEND_WITH_IMM:
			return cmr_op_ud_send(x);
		case CMR_OP_LOCAL_INV:
			return cmr_op_local_inv(x);
		}
	} else {
		switch (opcode) {
		case CMR_OP_SEND:
		case CMR_OP_SEND_WITH_IMM:
		case CMR_OP_SEND_WITH_INV:
			return cmr_op_rc_send(x);
		case CMR_OP_RDMA_WRITE:
		case CMR_OP_RDMA_WRITE_WITH_IMM:
			return cmr_op_rc_write(x);
		case CMR_OP_RDMA_READ:
			return cmr_op_rc_read(x);
		case CMR_OP_ATOMIC_CMP_AND_SWP:
		case CMR_OP_ATOMIC_FETCH_AND_ADD:
			return cmr_op_rc_atomic(x);
		case CMR_OP_LOCAL_INV:
			return cmr_op_local_inv(x);
		}
	}
	x->status = IB_WC_LOC_QP_OP_ERR;
	return CMR_EXEC_DONE;
}

/* Complete the head WQE if it is signaled or failed. */
static void cmr_sq_complete(struct cmr_exec *x)
{
	struct cmr_qp *qp = x->qp;
	struct cmr_cqe cqe = {};

	if (x->status == IB_WC_SUCCESS && !qp->sq_sig_all &&
	    !(x->wqe->flags & CMR_WQE_SIGNALED))
		return;
	cqe.wr_id = x->wqe->wr_id;
	cqe.status = x->status;
	cqe.opcode = cmr_sq_wc_opcode(x->wqe->opcode);
	cqe.byte_len = x->byte_len;
	cqe.qp_num = qp->ibqp.qp_num;
	cmr_cq_post(qp->scq, &cqe, false);
}

/* A local error on a UD QP stops its SQ only (SQE). */
static void cmr_qp_sq_error(struct cmr_qp *qp)
{
	spin_lock(&qp->state_lock);
	if (qp->attr.qp_state == IB_QPS_RTS)
		WRITE_ONCE(qp->attr.qp_state, IB_QPS_SQE);
	spin_unlock(&qp->state_lock);
}

static int cmr_sq_execute_one(struct cmr_qp *qp, bool *rnr_expired)
{
	struct cmr_exec x = {
		.qp = qp,
		.wqe = qp->wqe,
		.rnr_expired = *rnr_expired,
	};
	int ret = CMR_EXEC_DONE;

	*rnr_expired = false;
	if (!cmr_sq_fetch(qp))
		x.status = IB_WC_LOC_QP_OP_ERR;
	else if (x.wqe->opcode >= CMR_NUM_SEND_OPCODES)
		x.status = IB_WC_LOC_QP_OP_ERR;
	else
		ret = cmr_exec_op(&x, array_index_nospec(x.wqe->opcode,
							 CMR_NUM_SEND_OPCODES));
	if (ret == CMR_EXEC_WAIT)
		return ret;

	cmr_sq_complete(&x);
	qp->sq.index++;
	cmr_queue_publish_consumer(&qp->sq);
	qp->rnr_timing = false;
	qp->rnr_attempts = 0;
	if (x.status != IB_WC_SUCCESS) {
		ibdev_dbg_ratelimited(qp->ibqp.device,
				      "QP[%u] WQE opcode %u failed: status %d\n",
				      qp->ibqp.qp_num, x.wqe->opcode,
				      x.status);
		if (qp->ibqp.qp_type == IB_QPT_UD)
			cmr_qp_sq_error(qp);
		else
			cmr_qp_error(qp, 0);
	}
	return ret;
}

/*
 * Run the SQ: execute posted WQEs in order until it is empty, the QP
 * cannot send, or the head WQE waits for the peer (RNR).  sq_mutex held.
 */
void cmr_sq_run_locked(struct cmr_qp *qp)
{
	u32 budget = qp->sq.num_entries, pending;
	enum ib_qp_state state;
	bool expired = false;
	int idx;

	if (qp->dead)
		return;
	idx = srcu_read_lock(&cmr_srcu);
	if (qp->rnr_peer) {
		expired = qp->rnr_timing &&
			  time_after_eq(jiffies, qp->rnr_deadline);
		cmr_qp_rnr_unwait(qp);
	}
	for (;;) {
		state = READ_ONCE(qp->attr.qp_state);
		if (state == IB_QPS_ERR || state == IB_QPS_SQE) {
			cmr_qp_flush(qp);
			break;
		}
		if (state != IB_QPS_RTS)
			break;
		pending = cmr_queue_pending(&qp->sq,
					    cmr_queue_user_producer(&qp->sq));
		if (!pending)
			break;
		if (pending > qp->sq.num_entries) {
			cmr_qp_fatal(qp);
			continue;
		}
		if (!budget--) {
			/* User space keeps posting: yield to the worker. */
			mod_delayed_work(cmr_wq, &qp->sq_work, 0);
			break;
		}
		if (cmr_sq_execute_one(qp, &expired) == CMR_EXEC_WAIT)
			break;
	}
	srcu_read_unlock(&cmr_srcu, idx);
}

void cmr_qp_run_sq(struct cmr_qp *qp)
{
	mutex_lock(&qp->sq_mutex);
	cmr_sq_run_locked(qp);
	mutex_unlock(&qp->sq_mutex);
}
