// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: the engine: fetch a send WQE, validate it, execute it against the
 * peer QP, complete it.
 *
 * A QP's SQ runs in whichever context calls cmr_qp_run_sq(): the
 * doorbell syscall itself (no thread hop: the lowest latency), the SQ
 * poller thread of a CMR_QP_FLAG_SQ_POLL QP (cmr_sqpoll.c), a receive
 * doorbell that resumes a requester stalled by RNR, or the QP's sq_work
 * (RNR timer, flush after a remote error).  qp->sq_mutex keeps WQEs in
 * order; each one runs to completion, responder side included, before
 * the next starts, so fences and ordering rules hold trivially.
 *
 * A run holds cmr_srcu, which keeps the QP, the MRs and the peer QPs it
 * looks up alive and which every deregistration and destroy in the module
 * waits for.  A compute WR computing in the QP's private buffers leaves
 * the section while its backend runs, which may take seconds, and a long
 * message leaves it between slices, holding a reference to the QP
 * instead (struct cmr_sq_hold).
 *
 * Everything read from a ring is copied once into the QP's private
 * buffers and validated there.  A bad WQE completes in error and moves
 * the QP to ERR (RC) or SQE (UD).
 */
#include <linux/jiffies.h>
#include <linux/memcontrol.h>
#include <linux/nospec.h>
#include <linux/sched/mm.h>
#include <linux/srcu.h>

#include "cmr_loc.h"
#include "cmr_compute.h"

enum cmr_exec_result {
	CMR_EXEC_DONE,		/* complete the WQE with x->status */
	CMR_EXEC_WAIT,		/* RNR: the WQE stays at the head of the SQ */
	CMR_EXEC_AGAIN,		/* the peer's RQ was busy: execute it anew */
};

/* One send WQE being executed; lives on the stack under sq_mutex. */
struct cmr_exec {
	struct cmr_qp *qp;		/* the requester */
	struct cmr_sq_hold *hold;	/* what keeps qp */
	struct cmr_send_wqe *wqe;	/* == qp->wqe, the private copy */
	unsigned int nseg;		/* valid entries of qp->lsegs */
	u64 len;			/* message length */
	enum ib_wc_status status;
	u32 byte_len;
	bool rnr_expired;		/* an RNR timeout passed for it */
	bool keep_qp;			/* a failure that leaves the QP usable */
	u32 vendor_err;			/* enum cmr_compute_verr */
	u32 result_len;			/* bytes valid in qp->result */
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

/* The parameter area of a compute WQE (private copy). */
static const struct cmr_compute_params *
cmr_wqe_compute(const struct cmr_send_wqe *wqe)
{
	BUILD_BUG_ON(sizeof(struct cmr_compute_params) > sizeof(wqe->raw));
	return (const struct cmr_compute_params *)wqe->raw;
}

/*
 * Copy num SGEs out of a ring entry: one, the common case, is a fixed-size
 * copy the compiler inlines instead of a call.
 */
static __always_inline void cmr_sges_copy(void *dst, const void *src,
					  u32 num)
{
	if (num == 1)
		memcpy(dst, src, sizeof(struct cmr_sge));
	else if (num)
		memcpy(dst, src, num * sizeof(struct cmr_sge));
}

/* Copy the head WQE out of the ring once; false if it is malformed. */
static bool cmr_sq_fetch(struct cmr_qp *qp)
{
	const u8 *slot = cmr_queue_slot(&qp->sq, qp->sq.index);
	struct cmr_send_wqe *wqe = qp->wqe;
	u32 nsge;

	memcpy(wqe, slot, sizeof(*wqe));
	if (wqe->flags & CMR_WQE_INLINE) {
		if (wqe->inline_len > qp->max_inline)
			return false;
		memcpy(wqe + 1, slot + sizeof(*wqe), wqe->inline_len);
		return true;
	}
	nsge = wqe->num_sge;
	/* A compute WR's destination SGEs follow its sources. */
	if (wqe->opcode == CMR_OP_COMPUTE)
		nsge += cmr_wqe_compute(wqe)->num_dst_sge;
	/* max_send_sge SGEs fit the stride and our copy of the WQE. */
	if (nsge > qp->max_send_sge)
		return false;
	cmr_sges_copy(wqe + 1, slot + sizeof(*wqe), nsge);
	return true;
}

/*
 * Validate num SGEs (a private copy) against the MRs of owner's device and
 * PD with the given access into seg: the requester's own SGEs, or the
 * receive SGEs of the peer it delivers to.  Zero-length SGEs are dropped.
 * *nseg and *len: what is left.  Inline: every WR passes here, most of
 * them with one SGE.
 */
static __always_inline enum ib_wc_status cmr_exec_sges(struct cmr_qp *owner,
				       const struct cmr_sge *sge,
				       unsigned int num, int access,
				       struct cmr_seg *seg,
				       unsigned int *nseg, u64 *len)
{
	unsigned int i, n = 0;
	int err;

	*nseg = 0;
	*len = 0;
	for (i = 0; i < num; i++) {
		if (!sge[i].length)
			continue;
		seg[n].mr = cmr_mr_lookup(owner->dev, sge[i].lkey);
		if (!seg[n].mr)
			return IB_WC_LOC_PROT_ERR;
		err = cmr_mr_check(seg[n].mr, owner->ibqp.pd, sge[i].addr,
				   sge[i].length, access);
		if (err)	/* bad range or rights alike, as IB has it */
			return IB_WC_LOC_PROT_ERR;
		seg[n].iova = sge[i].addr;
		seg[n].len = sge[i].length;
		n++;
		*len += sge[i].length;
	}
	*nseg = n;
	return IB_WC_SUCCESS;
}

/*
 * CMR_WQE_SRC_FROM_PREV: the source is what the previous WR produced,
 * bounded by the SGE list: keep the first limit bytes of it.
 */
static void cmr_segs_truncate(struct cmr_seg *seg, unsigned int *nseg,
			      u64 *len, u64 limit)
{
	unsigned int i;
	u64 left = limit;

	if (*len <= limit)
		return;
	for (i = 0; i < *nseg && left; i++) {
		if (seg[i].len > left)
			seg[i].len = left;
		left -= seg[i].len;
	}
	*nseg = i;
	*len = limit;
}

/*
 * Validate the WQE's local data (inline bytes, or SGEs against our MRs
 * with the given access) into qp->lsegs.
 */
static enum ib_wc_status cmr_exec_local(struct cmr_exec *x, int access)
{
	struct cmr_qp *qp = x->qp;
	struct cmr_send_wqe *wqe = x->wqe;
	struct cmr_seg *seg = qp->lsegs;
	enum ib_wc_status status;

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
	} else {
		status = cmr_exec_sges(qp, (const struct cmr_sge *)(wqe + 1),
				       wqe->num_sge, access, seg, &x->nseg,
				       &x->len);
		if (status)
			return status;
	}
	/* Only data sources take it (cmr_sq_execute_one() checked). */
	if (wqe->flags & CMR_WQE_SRC_FROM_PREV)
		cmr_segs_truncate(seg, &x->nseg, &x->len, qp->prev_len);
	if (x->len > 1ULL << CMR_MAX_MSG_SHIFT)
		return IB_WC_LOC_LEN_ERR;
	return IB_WC_SUCCESS;
}

/* The connected peer of an RC or UC QP, if it accepts us. */
static struct cmr_qp *cmr_conn_peer(struct cmr_qp *qp)
{
	struct cmr_qp *peer;

	peer = cmr_qp_lookup(qp->av.dev_index, qp->attr.dest_qp_num);
	if (!peer || peer->ibqp.qp_type != qp->ibqp.qp_type ||
	    !cmr_qp_state_receives(READ_ONCE(peer->attr.qp_state)) ||
	    READ_ONCE(peer->attr.dest_qp_num) != qp->ibqp.qp_num ||
	    READ_ONCE(peer->av.dev_index) != qp->dev->index)
		return NULL;
	return peer;
}

/*
 * RC acknowledges; UC and UD do not, so their responders drop what fails
 * and their requesters never hear of it.
 */
static bool cmr_qp_reliable(const struct cmr_qp *qp)
{
	return qp->ibqp.qp_type == IB_QPT_RC;
}

/*
 * What the requester of a connected QP sees of a failure on the
 * responder's side: an RC requester is told (the ACK or NAK carries it);
 * a UC one completes as if the message had been lost on the wire.
 */
static enum ib_wc_status cmr_remote_status(const struct cmr_qp *qp,
					   enum ib_wc_status status)
{
	return cmr_qp_reliable(qp) ? status : IB_WC_SUCCESS;
}

/*
 * Validate a remote range against the peer's QP access flags and MR into
 * seg; a zero-length range checks the QP only.  On failure an RC peer goes
 * to ERR, as the responder of an invalid request (an operation its QP does
 * not enable) or an access violation does; a UC responder drops the
 * message and carries on.
 */
static enum ib_wc_status cmr_exec_remote(struct cmr_qp *peer, u64 addr,
					 u32 rkey, u64 len, int access,
					 struct cmr_seg *seg)
{
	seg->mr = NULL;
	seg->iova = addr;
	seg->len = len;
	if (!(READ_ONCE(peer->attr.qp_access_flags) & access)) {
		if (cmr_qp_reliable(peer))
			cmr_qp_error(peer, IB_EVENT_QP_REQ_ERR);
		return IB_WC_REM_INV_REQ_ERR;
	}
	if (!len)
		return IB_WC_SUCCESS;
	seg->mr = cmr_mr_lookup(peer->dev, rkey);
	if (!seg->mr ||
	    cmr_mr_check(seg->mr, peer->ibqp.pd, addr, len, access))
		goto err;
	return IB_WC_SUCCESS;

err:
	if (cmr_qp_reliable(peer))
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
		qp->rnr_timing = false;	/* the next timeout starts now */
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
 * Leave the hold's cmr_srcu section; a reference keeps the QP meanwhile.
 * sq_mutex held and the QP not dead: its destroy has not dropped its own
 * reference yet.
 */
static void cmr_sq_hold_leave(struct cmr_qp *qp, struct cmr_sq_hold *hold)
{
	if (!hold->ref) {
		refcount_inc(&qp->ref);
		hold->ref = true;
	}
	srcu_read_unlock(&cmr_srcu, hold->srcu_idx);
}

/*
 * Between two slices of a long message: leave the section, let others
 * run, enter a new one.  Whatever was looked up before must be looked
 * up again.
 */
static void cmr_sq_hold_yield(struct cmr_qp *qp, struct cmr_sq_hold *hold)
{
	cmr_sq_hold_leave(qp, hold);
	cond_resched();
	hold->srcu_idx = srcu_read_lock(&cmr_srcu);
}

/*
 * rq is busy, perhaps for the seconds of a long message to another QP on
 * its SRQ, which leaves cmr_srcu between slices but keeps rq->lock: wait
 * for it outside the section, which every destroy and deregistration
 * waits for.  The peer, found under cmr_srcu, is held meanwhile (its
 * destroy waits for the reference, and its SRQ stays until then).  What
 * the WQE looked up is stale afterwards: it runs again from the start.
 */
static void cmr_rq_wait_unlocked(struct cmr_exec *x, struct cmr_qp *peer,
				 struct cmr_rq *rq)
{
	refcount_inc(&peer->ref);
	cmr_sq_hold_leave(x->qp, x->hold);
	mutex_lock(&rq->lock);
	mutex_unlock(&rq->lock);
	x->hold->srcu_idx = srcu_read_lock(&cmr_srcu);
	cmr_qp_put(peer);
}

/*
 * A message moves at most this much within one cmr_srcu section: every
 * deregistration and destroy in the module waits for the section, and a
 * 2 GiB message takes seconds under emulation.
 */
#define CMR_MSG_SLICE	(4U << 20)

enum cmr_deliver_fault {
	CMR_DELIVER_OK,
	CMR_DELIVER_SRC_FAULT,		/* our SGEs: nothing was sent */
	CMR_DELIVER_DST_FAULT,		/* the receive SGEs or remote range */
	CMR_DELIVER_PEER_GONE,		/* destroyed, moved on, reconnected */
};

/* The requester's status when its message failed on our side. */
static enum ib_wc_status cmr_deliver_req_status(const struct cmr_qp *qp,
						enum cmr_deliver_fault fault)
{
	return fault == CMR_DELIVER_SRC_FAULT ? IB_WC_LOC_PROT_ERR :
		cmr_remote_status(qp, IB_WC_RETRY_EXC_ERR);
}

/*
 * Move a SEND's or an RDMA WRITE with immediate's x->len bytes from
 * qp->lsegs into dst (ndst validated segments: the receive SGEs past the
 * GRH space, or the remote range), a slice at a time as
 * cmr_op_rdma() does.  Between slices the run leaves cmr_srcu still
 * holding rq->lock, the peer's receive queue, with a reference to the
 * peer (*peer_ref; the caller drops it after unlocking: the peer, and an
 * SRQ it uses, live as long as the reference), then validates our SGEs,
 * the peer and dst again, so that an MR or a peer gone meanwhile fails
 * the WR as it would have at its start.  The receive WQE is consumed
 * only when the message is in, or failed on the receiver's side.
 */
static enum cmr_deliver_fault cmr_deliver_data(struct cmr_exec *x,
					       struct cmr_qp *peer,
					       struct cmr_seg *dst,
					       unsigned int ndst, u32 hdr,
					       bool *peer_ref)
{
	struct cmr_qp *qp = x->qp;
	const struct cmr_recv_wqe *rwqe = qp->recv_wqe;
	bool remote = dst != qp->rsegs, dst_fault;
	u64 off = 0, left, room;

	for (;;) {
		left = min_t(u64, x->len - off, CMR_MSG_SLICE);
		if (cmr_copy(qp->bounce, dst, ndst, qp->lsegs, x->nseg, left,
			     &dst_fault))
			return dst_fault ? CMR_DELIVER_DST_FAULT :
					   CMR_DELIVER_SRC_FAULT;
		off += left;
		if (off == x->len)
			return CMR_DELIVER_OK;

		if (!*peer_ref) {
			/* Found under cmr_srcu: its destroy still holds its own. */
			refcount_inc(&peer->ref);
			*peer_ref = true;
		}
		cmr_sq_hold_yield(qp, x->hold);

		if (cmr_exec_local(x, 0))
			return CMR_DELIVER_SRC_FAULT;
		if (cmr_conn_peer(qp) != peer)
			return CMR_DELIVER_PEER_GONE;
		if (remote) {
			if (cmr_exec_remote(peer, x->wqe->rdma.remote_addr,
					    x->wqe->rdma.rkey, x->len,
					    IB_ACCESS_REMOTE_WRITE, dst))
				return CMR_DELIVER_DST_FAULT;
		} else if (cmr_exec_sges(peer,
					 (const struct cmr_sge *)(rwqe + 1),
					 rwqe->num_sge, IB_ACCESS_LOCAL_WRITE,
					 qp->rsegs, &ndst, &room) ||
			   room < x->len + hdr) {
			return CMR_DELIVER_DST_FAULT;
		}
		cmr_seg_skip(dst, ndst, (remote ? 0 : hdr) + off);
		cmr_seg_skip(qp->lsegs, x->nseg, off);
	}
}

/*
 * Deliver to the peer's receive queue: take its next receive WQE and
 * complete it.  For SEND (data NULL) scatter our message into it; for
 * RDMA WRITE with immediate (data the validated remote range) write the
 * data and consume the WQE for the immediate.  ud_av: a UD message (GRH
 * space).  Unreliable (UD, UC): a message that finds no receive WQE is
 * dropped, and the requester never sees the responder's errors.
 */
static int cmr_deliver(struct cmr_exec *x, struct cmr_qp *peer,
		       struct cmr_seg *data, const struct cmr_av *ud_av)
{
	struct cmr_qp *qp = x->qp;
	struct cmr_rq *rq = cmr_qp_rq(peer);
	struct cmr_recv_wqe *rwqe = qp->recv_wqe;
	enum ib_wc_status rstatus = IB_WC_SUCCESS;
	u32 hdr = ud_av ? CMR_UD_GRH_LEN : 0;
	bool reliable = cmr_qp_reliable(qp);
	struct cmr_cqe cqe = {};
	bool dst_fault, limit = false, solicited, cqe_lost, peer_ref = false;
	enum cmr_deliver_fault fault;
	unsigned int nseg = 0;
	const u8 *slot;
	struct ib_grh grh;
	struct cmr_seg gseg;
	u64 room;
	u32 prod;
	int err;

again:
	if (!mutex_trylock(&rq->lock)) {
		cmr_rq_wait_unlocked(x, peer, rq);
		return CMR_EXEC_AGAIN;
	}
	/* It may have stopped receiving since the look-up (a reset waits here). */
	if (!cmr_qp_state_receives(READ_ONCE(peer->attr.qp_state))) {
		mutex_unlock(&rq->lock);
		x->status = cmr_deliver_req_status(qp, CMR_DELIVER_PEER_GONE);
		return CMR_EXEC_DONE;
	}
	/* An armed SRQ limit counts what is posted: read it all. */
	prod = rq->producer;
	if (prod == rq->q.index || (rq->srq && rq->srq->limit))
		prod = cmr_queue_user_producer(&rq->q);
	if (unlikely(cmr_queue_pending(&rq->q, prod) > rq->q.num_entries)) {
		mutex_unlock(&rq->lock);
		if (rq->srq)
			cmr_srq_event(rq->srq, IB_EVENT_SRQ_ERR);
		else
			cmr_qp_fatal(peer);
		if (reliable)
			x->status = IB_WC_REM_OP_ERR;
		return CMR_EXEC_DONE;
	}
	rq->producer = prod;
	if (prod == rq->q.index) {
		if (!reliable) {	/* no receive WQE: dropped */
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
	cmr_sges_copy(rwqe + 1, slot + sizeof(*rwqe), rwqe->num_sge);

	if (data) {
		/* RDMA WRITE with immediate: the WQE only carries imm. */
		fault = x->len ? cmr_deliver_data(x, peer, data, 1, 0,
						  &peer_ref) : CMR_DELIVER_OK;
		if (fault) {
			mutex_unlock(&rq->lock);
			if (fault == CMR_DELIVER_DST_FAULT) {
				if (reliable)
					cmr_qp_error(peer,
						     IB_EVENT_QP_ACCESS_ERR);
				x->status = cmr_remote_status(qp,
						IB_WC_REM_ACCESS_ERR);
			} else {
				x->status = cmr_deliver_req_status(qp, fault);
			}
			goto out;
		}
		cqe.opcode = IB_WC_RECV_RDMA_WITH_IMM;
		cqe.byte_len = x->len;
		goto consume;
	}

	cqe.opcode = IB_WC_RECV;
	cqe.byte_len = x->len + hdr;
	rstatus = cmr_exec_sges(peer, (const struct cmr_sge *)(rwqe + 1),
				rwqe->num_sge, IB_ACCESS_LOCAL_WRITE, qp->rsegs,
				&nseg, &room);
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
		/* A UD message fits one slice: only RC ones leave cmr_srcu. */
		BUILD_BUG_ON(CMR_UD_MTU > CMR_MSG_SLICE);
		cmr_seg_skip(qp->rsegs, nseg, hdr);
		fault = cmr_deliver_data(x, peer, qp->rsegs, nseg, hdr,
					 &peer_ref);
		if (fault == CMR_DELIVER_DST_FAULT) {
			rstatus = IB_WC_LOC_PROT_ERR;
		} else if (fault) {
			/*
			 * The message never completed: the receive WQE stays
			 * posted (its buffer may hold part of the message).
			 */
			mutex_unlock(&rq->lock);
			x->status = cmr_deliver_req_status(qp, fault);
			goto out;
		}
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
	cqe_lost = !cmr_cq_post(peer->rcq, &cqe, solicited);
	if (rq->srq && rq->srq->limit &&
	    prod - rq->q.index < rq->srq->limit) {
		rq->srq->limit = 0;	/* the event disarms it */
		limit = true;
	}
	mutex_unlock(&rq->lock);

	if (limit)
		cmr_srq_event(rq->srq, IB_EVENT_SRQ_LIMIT_REACHED);
	/* The receiver lost a completion: its queues cannot be trusted. */
	if (cqe_lost)
		cmr_qp_error(peer, IB_EVENT_QP_FATAL);
	if (rstatus != IB_WC_SUCCESS) {
		cmr_qp_error(peer, 0);
		if (reliable)
			x->status = rstatus == IB_WC_LOC_LEN_ERR ||
				    rstatus == IB_WC_REM_INV_REQ_ERR ?
				    IB_WC_REM_INV_REQ_ERR : IB_WC_REM_OP_ERR;
	}
out:
	/* After the unlock: the reference may be all that keeps rq. */
	if (peer_ref)
		cmr_qp_put(peer);
	return CMR_EXEC_DONE;
}

/* Operations; each sets x->status and returns enum cmr_exec_result. */

/*
 * The sender's half of an operation that consumes a receive WQE: checks
 * the local SGEs and finds the connected peer.  Returns NULL with
 * x->status set if the WR completes here.
 */
static struct cmr_qp *cmr_exec_sender(struct cmr_exec *x)
{
	struct cmr_qp *peer;

	x->status = cmr_exec_local(x, 0);
	if (x->status)
		return NULL;
	x->byte_len = x->len;
	peer = cmr_conn_peer(x->qp);
	if (!peer)	/* nobody answers: RC retries in vain, UC loses it */
		x->status = cmr_remote_status(x->qp, IB_WC_RETRY_EXC_ERR);
	return peer;
}

static int cmr_op_send(struct cmr_exec *x)
{
	struct cmr_qp *peer = cmr_exec_sender(x);

	if (!peer)
		return CMR_EXEC_DONE;
	return cmr_deliver(x, peer, NULL, NULL);
}

/*
 * Move an RDMA READ's or WRITE's data a slice at a time.  Between slices
 * the run leaves cmr_srcu (a reference keeps the QP) and then validates
 * the WQE's local SGEs, the peer and the remote range again, so that an
 * MR or a peer gone meanwhile fails the WR as it would have at its start;
 * the slices already moved stay, as after any failed RDMA operation.
 */
static int cmr_op_rdma(struct cmr_exec *x, bool read)
{
	struct cmr_qp *qp = x->qp, *peer;
	struct cmr_seg rseg = {};
	unsigned int nseg;
	u64 off = 0, left;
	bool dst_fault;
	int err;

	for (;;) {
		x->status = cmr_exec_local(x, read ? IB_ACCESS_LOCAL_WRITE : 0);
		if (x->status)
			return CMR_EXEC_DONE;
		x->byte_len = x->len;
		peer = cmr_conn_peer(qp);
		if (!peer) {
			x->status = cmr_remote_status(qp, IB_WC_RETRY_EXC_ERR);
			return CMR_EXEC_DONE;
		}
		x->status = cmr_exec_remote(peer, x->wqe->rdma.remote_addr,
					    x->wqe->rdma.rkey, x->len,
					    read ? IB_ACCESS_REMOTE_READ :
						   IB_ACCESS_REMOTE_WRITE,
					    &rseg);
		if (x->status) {
			x->status = cmr_remote_status(qp, x->status);
			return CMR_EXEC_DONE;
		}
		if (!x->len)
			return CMR_EXEC_DONE;

		/* This slice: [off, off + rseg.len) of both sides. */
		cmr_seg_skip(qp->lsegs, x->nseg, off);
		nseg = x->nseg;
		left = x->len - off;
		cmr_segs_truncate(qp->lsegs, &nseg, &left, CMR_MSG_SLICE);
		rseg.iova += off;
		rseg.len = left;
		if (read)
			err = cmr_copy(qp->bounce, qp->lsegs, nseg, &rseg, 1,
				       left, &dst_fault);
		else
			err = cmr_copy(qp->bounce, &rseg, 1, qp->lsegs, nseg,
				       left, &dst_fault);
		if (err) {
			if (dst_fault == read) {
				x->status = IB_WC_LOC_PROT_ERR;
			} else {
				if (cmr_qp_reliable(qp))
					cmr_qp_error(peer,
						     IB_EVENT_QP_ACCESS_ERR);
				x->status = cmr_remote_status(qp,
						IB_WC_REM_ACCESS_ERR);
			}
			return CMR_EXEC_DONE;
		}
		off += left;
		if (off == x->len)
			return CMR_EXEC_DONE;
		cmr_sq_hold_yield(qp, x->hold);
	}
}

static int cmr_op_write(struct cmr_exec *x)
{
	struct cmr_qp *peer;
	struct cmr_seg rseg = {};

	if (x->wqe->opcode != CMR_OP_RDMA_WRITE_WITH_IMM)
		return cmr_op_rdma(x, false);

	peer = cmr_exec_sender(x);
	if (!peer)
		return CMR_EXEC_DONE;
	x->status = cmr_exec_remote(peer, x->wqe->rdma.remote_addr,
				    x->wqe->rdma.rkey, x->len,
				    IB_ACCESS_REMOTE_WRITE, &rseg);
	if (x->status) {
		x->status = cmr_remote_status(x->qp, x->status);
		return CMR_EXEC_DONE;
	}
	return cmr_deliver(x, peer, &rseg, NULL);
}

static int cmr_op_atomic(struct cmr_exec *x)
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
	peer = cmr_conn_peer(qp);
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

/*
 * Compute WRs (CMR_OP_COMPUTE): gather the source SGEs into the QP's
 * linear source buffer, run the backend into its destination buffer and
 * scatter what it produced into the destination SGEs.  Nothing reaches
 * the destination unless the backend succeeded (but for the direct
 * forward case, cmr_compute_direct_ok()), and never more than it holds.
 */

/* The most an algorithm can produce from src_len bytes, if known. */
static u32 cmr_compute_out_max(const struct cmr_compute_params *p,
			       u32 src_len)
{
	switch (p->alg) {
	case CMR_ALG_MEMCPY:
	case CMR_ALG_AES_XTS:
		return src_len;
	case CMR_ALG_AES_GCM:		/* text + tag, or less than the input */
		return src_len + 16;
	case CMR_ALG_SHA256:
	case CMR_ALG_HMAC_SHA256:
		return 32;
	case CMR_ALG_CRC32:
	case CMR_ALG_CRC32C:
		return 4;
	default:			/* codecs: as much as there is room */
		return U32_MAX;
	}
}

/* Bytes of cqe.result a successful WR reports. */
static u32 cmr_compute_result_len(const struct cmr_compute_params *p)
{
	if (p->stream_handle)
		return 1;		/* CMR_COMPUTE_RESULT_* flags */
	switch (p->alg) {
	case CMR_ALG_SHA256:
	case CMR_ALG_HMAC_SHA256:
		return 32;
	case CMR_ALG_CRC32:
	case CMR_ALG_CRC32C:
		return 4;
	default:
		return 0;
	}
}

/*
 * May the backend work on the user's pages directly (one pinned page each
 * side, see cmr_seg_kaddr())?  Only where the data is opaque bytes that
 * nothing parses (user space may change them meanwhile) and where partial
 * or unauthenticated output is harmless: copies, encryption and digests.
 */
static bool cmr_compute_direct_ok(const struct cmr_compute_params *p)
{
	if (p->dir != CMR_DIR_FORWARD || p->stream_handle)
		return false;
	switch (p->alg) {
	case CMR_ALG_MEMCPY:
	case CMR_ALG_AES_GCM:
	case CMR_ALG_AES_XTS:
	case CMR_ALG_SHA256:
	case CMR_ALG_HMAC_SHA256:
	case CMR_ALG_CRC32:
	case CMR_ALG_CRC32C:
		return true;
	default:
		return false;
	}
}

/* Grow *buf to hold need bytes (at most CMR_MAX_COMPUTE_SIZE). */
static noinline int cmr_compute_buf_grow(void **buf, u32 *size, u32 need)
{
	u32 n;

	n = min_t(u32, max_t(u32, roundup_pow_of_two(need), PAGE_SIZE),
		  CMR_MAX_COMPUTE_SIZE);
	kvfree(*buf);
	*size = 0;
	*buf = kvmalloc(n, GFP_KERNEL_ACCOUNT);
	if (!*buf)
		return -ENOMEM;
	*size = n;
	return 0;
}

/* Make *buf hold need bytes; sq_mutex held.  Most WRs need no growth. */
static inline int cmr_compute_buf(void **buf, u32 *size, u32 need)
{
	return need <= *size ? 0 : cmr_compute_buf_grow(buf, size, need);
}

/*
 * The workspace and the linear buffers of a compute WR (need_src and
 * need_dst bytes); sq_mutex held.
 */
static int cmr_compute_prepare(struct cmr_qp *qp, u32 need_src, u32 need_dst)
{
	int err;

	if (!qp->ws) {
		qp->ws = cmr_compute_ws_alloc();
		if (!qp->ws)
			return -ENOMEM;
	}
	err = cmr_compute_buf(&qp->csrc, &qp->csrc_size, need_src);
	if (err)
		return err;
	return cmr_compute_buf(&qp->cdst, &qp->cdst_size, need_dst);
}

/* No engine context uses the QP any more. */
void cmr_qp_compute_free(struct cmr_qp *qp)
{
	cmr_compute_ws_free(qp->ws);
	kvfree(qp->csrc);
	kvfree(qp->cdst);
	qp->ws = NULL;
	qp->csrc = NULL;
	qp->cdst = NULL;
	qp->csrc_size = 0;
	qp->cdst_size = 0;
}

/* The completion of a WR that cmr_compute_run() failed, as cmr-abi.h says. */
static void cmr_compute_status(struct cmr_exec *x, int ret)
{
	x->vendor_err = ret > 0 ? ret : 0;
	switch (ret) {
	case CMR_VERR_DST_TOO_SMALL:
		x->status = IB_WC_LOC_LEN_ERR;
		x->keep_qp = true;
		break;
	case CMR_VERR_CORRUPT_INPUT:
	case CMR_VERR_AUTH_FAILED:
	case CMR_VERR_STREAM_FAILED:
		x->status = IB_WC_GENERAL_ERR;
		x->keep_qp = true;
		break;
	case CMR_VERR_BAD_KEY:
	case CMR_VERR_BAD_STREAM:
	case CMR_VERR_BAD_PARAM:
	case CMR_VERR_UNSUPPORTED:
		x->status = IB_WC_LOC_QP_OP_ERR;
		break;
	default:		/* the kernel failed, not the WR */
		x->status = IB_WC_GENERAL_ERR;
		break;
	}
}

static int cmr_op_compute(struct cmr_exec *x)
{
	struct cmr_qp *qp = x->qp;
	struct cmr_send_wqe *wqe = x->wqe;
	const struct cmr_sge *sge = (const struct cmr_sge *)(wqe + 1);
	struct cmr_cobj *kobj = NULL, *sobj = NULL;
	const struct cmr_compute_params *p = cmr_wqe_compute(wqe);
	unsigned int nsrc, ndst;
	u64 src_len, dst_room;
	struct cmr_seg kseg;
	u32 dst_cap, produced;
	void *src, *dst;
	bool dst_fault, unlocked;
	int ret;

	if (!(qp->create_flags & CMR_QP_FLAG_COMPUTE)) {
		x->status = IB_WC_LOC_QP_OP_ERR;
		return CMR_EXEC_DONE;
	}
	if (wqe->flags & CMR_WQE_INLINE) {
		cmr_compute_status(x, CMR_VERR_BAD_PARAM);
		return CMR_EXEC_DONE;
	}

	/* cmr_sq_fetch() bounded num_sge + num_dst_sge by max_send_sge. */
	x->status = cmr_exec_sges(qp, sge, wqe->num_sge, 0, qp->lsegs, &nsrc,
				  &src_len);
	if (x->status)
		return CMR_EXEC_DONE;
	x->status = cmr_exec_sges(qp, sge + wqe->num_sge, p->num_dst_sge,
				  IB_ACCESS_LOCAL_WRITE, qp->rsegs, &ndst,
				  &dst_room);
	if (x->status)
		return CMR_EXEC_DONE;
	if (wqe->flags & CMR_WQE_SRC_FROM_PREV)
		cmr_segs_truncate(qp->lsegs, &nsrc, &src_len, qp->prev_len);
	if (src_len > CMR_MAX_COMPUTE_SIZE) {
		x->status = IB_WC_LOC_LEN_ERR;
		return CMR_EXEC_DONE;
	}
	/* Room beyond what the WR can produce is not worth a buffer. */
	dst_cap = min_t(u64, min_t(u64, dst_room, CMR_MAX_COMPUTE_SIZE),
			cmr_compute_out_max(p, src_len));

	if (p->key_handle) {
		kobj = cmr_cobj_get(qp->uc, CMR_COBJ_KEY, p->key_handle,
				    qp->ibqp.pd);
		if (!kobj) {
			cmr_compute_status(x, CMR_VERR_BAD_KEY);
			goto out;
		}
	}
	if (p->stream_handle) {
		sobj = cmr_cobj_get(qp->uc, CMR_COBJ_STREAM, p->stream_handle,
				    qp->ibqp.pd);
		if (!sobj) {
			cmr_compute_status(x, CMR_VERR_BAD_STREAM);
			goto out;
		}
	}

	/*
	 * Small WRs on pinned pages skip the gather and the scatter.  The
	 * destination only with the source: a bounced source of megabytes
	 * (to a digest's few bytes) runs outside cmr_srcu, below.
	 */
	src = NULL;
	dst = NULL;
	if (cmr_compute_direct_ok(p)) {
		if (nsrc == 1)
			src = cmr_seg_kaddr(&qp->lsegs[0], src_len);
		if (ndst == 1 && (src || !src_len))
			dst = cmr_seg_kaddr(&qp->rsegs[0], dst_cap);
		/*
		 * Overlapping: output into the QP's buffer, as for larger
		 * WRs, so the source is read whole before it is written.
		 */
		if (src && dst && src < dst + dst_cap && dst < src + src_len)
			dst = NULL;
	}
	ret = cmr_compute_prepare(qp, src ? 0 : src_len, dst ? 0 : dst_cap);
	if (ret) {
		cmr_compute_status(x, ret);
		goto out;
	}
	if (src_len && !src) {
		src = qp->csrc;
		kseg.mr = NULL;
		kseg.kaddr = src;
		kseg.len = src_len;
		if (cmr_copy(qp->bounce, &kseg, 1, qp->lsegs, nsrc, src_len,
			     &dst_fault)) {
			x->status = IB_WC_LOC_PROT_ERR;
			goto out;
		}
	}
	if (dst_cap && !dst)
		dst = qp->cdst;

	/*
	 * Between the QP's own buffers the backend needs no MR: leave
	 * cmr_srcu while it runs (seconds, for the largest WRs), so that
	 * deregistrations and destroys elsewhere do not wait for it.  The
	 * key and the stream are held by reference.
	 */
	unlocked = (!src || src == qp->csrc) && (!dst || dst == qp->cdst);
	if (unlocked)
		cmr_sq_hold_leave(qp, x->hold);
	BUILD_BUG_ON(sizeof(qp->result) != CMR_COMPUTE_RESULT_LEN);
	ret = cmr_compute_run(qp->ws, p, kobj ? kobj->key : NULL,
			      sobj ? sobj->stream : NULL, src, src_len, dst,
			      dst_cap, &produced, qp->result);
	if (unlocked)
		x->hold->srcu_idx = srcu_read_lock(&cmr_srcu);
	if (ret) {
		cmr_compute_status(x, ret);
		goto out;
	}
	/* produced <= dst_cap <= the destination SGEs' room. */
	if (produced && dst == qp->cdst) {
		/* Their MRs may have gone meanwhile: look them up again. */
		if (unlocked)
			x->status = cmr_exec_sges(qp, sge + wqe->num_sge,
						  p->num_dst_sge,
						  IB_ACCESS_LOCAL_WRITE,
						  qp->rsegs, &ndst, &dst_room);
		kseg.mr = NULL;
		kseg.kaddr = qp->cdst;
		kseg.len = produced;
		if (!x->status && cmr_copy(qp->bounce, qp->rsegs, ndst, &kseg,
					   1, produced, &dst_fault))
			x->status = IB_WC_LOC_PROT_ERR;
		if (x->status) {
			/* A stream went on without this output: no more. */
			if (sobj)
				cmr_stream_kill(sobj->stream);
			goto out;
		}
	}
	x->byte_len = produced;
	x->result_len = cmr_compute_result_len(p);

out:
	if (sobj)
		cmr_cobj_put(sobj);
	if (kobj)
		cmr_cobj_put(kobj);
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
	} else if (x->qp->ibqp.qp_type == IB_QPT_UC) {
		/* UC: SENDs and RDMA WRITEs, with immediate or not. */
		switch (opcode) {
		case CMR_OP_SEND:
		case CMR_OP_SEND_WITH_IMM:
			return cmr_op_send(x);
		case CMR_OP_RDMA_WRITE:
		case CMR_OP_RDMA_WRITE_WITH_IMM:
			return cmr_op_write(x);
		case CMR_OP_LOCAL_INV:
			return cmr_op_local_inv(x);
		}
	} else {
		switch (opcode) {
		case CMR_OP_SEND:
		case CMR_OP_SEND_WITH_IMM:
		case CMR_OP_SEND_WITH_INV:
			return cmr_op_send(x);
		case CMR_OP_RDMA_WRITE:
		case CMR_OP_RDMA_WRITE_WITH_IMM:
			return cmr_op_write(x);
		case CMR_OP_RDMA_READ:
			return cmr_op_rdma(x, true);
		case CMR_OP_ATOMIC_CMP_AND_SWP:
		case CMR_OP_ATOMIC_FETCH_AND_ADD:
			return cmr_op_atomic(x);
		case CMR_OP_LOCAL_INV:
			return cmr_op_local_inv(x);
		case CMR_OP_COMPUTE:
			return cmr_op_compute(x);
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
	cqe.vendor_err = x->vendor_err;
	if (x->status == IB_WC_SUCCESS && x->result_len) {
		cqe.result_len = x->result_len;
		memcpy(cqe.result, qp->result, x->result_len);
	}
	/* A QP that lost a completion goes to ERR, as after CQ overrun in IB. */
	if (!cmr_cq_post(qp->scq, &cqe, false))
		cmr_qp_error(qp, IB_EVENT_QP_FATAL);
}

/* A local error on a UD QP stops its SQ only (SQE). */
static void cmr_qp_sq_error(struct cmr_qp *qp)
{
	spin_lock(&qp->state_lock);
	if (qp->attr.qp_state == IB_QPS_RTS)
		WRITE_ONCE(qp->attr.qp_state, IB_QPS_SQE);
	spin_unlock(&qp->state_lock);
}

static int cmr_sq_execute_one(struct cmr_qp *qp, bool *rnr_expired,
			      struct cmr_sq_hold *hold)
{
	struct cmr_exec x = {
		.qp = qp,
		.hold = hold,
		.wqe = qp->wqe,
		.rnr_expired = *rnr_expired,
	};
	int ret = CMR_EXEC_DONE;

	*rnr_expired = false;
	if (!cmr_sq_fetch(qp)) {
		x.status = IB_WC_LOC_QP_OP_ERR;
		if (x.wqe->opcode == CMR_OP_COMPUTE)
			x.vendor_err = CMR_VERR_BAD_PARAM;
	} else if (x.wqe->opcode >= CMR_NUM_SEND_OPCODES ||
		   ((x.wqe->flags & CMR_WQE_SRC_FROM_PREV) &&
		    !(CMR_OPS_SRC_FROM_PREV & BIT(x.wqe->opcode)))) {
		x.status = IB_WC_LOC_QP_OP_ERR;
	} else if ((x.wqe->flags & CMR_WQE_SRC_FROM_PREV) && qp->prev_failed) {
		/* A chain stops at its first failed link; nothing is sent. */
		x.status = IB_WC_GENERAL_ERR;
		x.vendor_err = CMR_VERR_PREV_FAILED;
		x.keep_qp = true;
	} else {
		u8 op = array_index_nospec(x.wqe->opcode, CMR_NUM_SEND_OPCODES);
		struct cmr_exec start = x;

		while ((ret = cmr_exec_op(&x, op)) == CMR_EXEC_AGAIN) {
			start.rnr_expired = x.rnr_expired;	/* counted once */
			x = start;
		}
	}
	if (ret == CMR_EXEC_WAIT)
		return ret;

	cmr_sq_complete(&x);
	qp->sq.index++;
	cmr_queue_publish_consumer(&qp->sq);
	qp->rnr_timing = false;
	qp->rnr_attempts = 0;
	qp->prev_len = x.status == IB_WC_SUCCESS ? x.byte_len : 0;
	qp->prev_failed = x.status != IB_WC_SUCCESS;
	if (x.status != IB_WC_SUCCESS) {
		ibdev_dbg_ratelimited(qp->ibqp.device,
				      "QP[%u] WQE opcode %u failed: status %d vendor_err %#x\n",
				      qp->ibqp.qp_num, x.wqe->opcode,
				      x.status, x.vendor_err);
		if (x.keep_qp)
			return ret;
		if (qp->ibqp.qp_type == IB_QPT_UD)
			cmr_qp_sq_error(qp);
		else
			cmr_qp_error(qp, 0);
	}
	return ret;
}

/*
 * How long one run may go on: past the slice the rest is left to the
 * poller or worker, so that a doorbell returns to its caller, the
 * poller's other QPs get their turn, and a run of long RDMA WRs, which
 * hold cmr_srcu (every destroy and deregistration waits for it), ends
 * its read-side section.
 */
#define CMR_SQ_RUN_SLICE	(HZ / 10)

/*
 * Run the SQ: execute posted WQEs in order until it is empty, the QP
 * cannot send, the head WQE waits for the peer (RNR), or budget WQEs ran
 * or the slice is used up (the rest is left to the SQ's poller or
 * worker).  In SQD only a head WQE that was waiting runs: it had started,
 * and the SQ is drained once it completes.  sq_mutex held.
 */
static void cmr_sq_run(struct cmr_qp *qp, u32 budget,
		       struct cmr_sq_hold *hold)
{
	unsigned long end = jiffies + CMR_SQ_RUN_SLICE;
	u32 pending;
	enum ib_qp_state state;
	bool expired = false, started = false;

	if (qp->dead)
		return;
	if (qp->rnr_peer) {
		expired = qp->rnr_timing &&
			  time_after_eq(jiffies, qp->rnr_deadline);
		cmr_qp_rnr_unwait(qp);
		started = true;
	}
	for (;;) {
		state = READ_ONCE(qp->attr.qp_state);
		if (state == IB_QPS_ERR || state == IB_QPS_SQE) {
			cmr_qp_flush(qp);
			break;
		}
		if (state != IB_QPS_RTS && !(state == IB_QPS_SQD && started))
			break;
		pending = cmr_queue_pending(&qp->sq,
					    cmr_queue_user_producer(&qp->sq));
		if (!pending)
			break;
		if (pending > qp->sq.num_entries) {
			cmr_qp_fatal(qp);
			continue;
		}
		if (!budget-- || time_after(jiffies, end)) {
			/* User space keeps posting, or WRs are long: yield. */
			if (qp->sqp)
				cmr_sqp_kick(qp->sqp);
			else
				mod_delayed_work(cmr_wq, &qp->sq_work, 0);
			break;
		}
		if (cmr_sq_execute_one(qp, &expired, hold) == CMR_EXEC_WAIT)
			break;
		if (state == IB_QPS_SQD) {
			/* Unless its failure moved the QP on. */
			if (READ_ONCE(qp->attr.qp_state) == IB_QPS_SQD)
				cmr_qp_sq_drained(qp);
			break;
		}
	}
}

/* sq_mutex held (modify_qp, whose uverbs command holds the QP). */
void cmr_sq_run_locked(struct cmr_qp *qp)
{
	struct cmr_sq_hold hold;

	cmr_sq_hold_begin(&hold);
	cmr_sq_run(qp, qp->sq.num_entries, &hold);
	cmr_sq_hold_end(qp, &hold);
}

/*
 * Run at most budget WQEs of the SQ (the poller takes turns between QPs),
 * in a doorbell's context or a kernel thread's (the SQ poller, sq_work).
 * What the WRs allocate (compute buffers and workspaces) is charged
 * to the memory cgroup of the QP's creator, whoever rings: a receive
 * doorbell runs the requesters it unblocks.
 */
void cmr_qp_run_sq(struct cmr_qp *qp, u32 budget,
		   struct cmr_sq_hold *hold)
{
	struct mem_cgroup *old = set_active_memcg(qp->memcg);

	mutex_lock(&qp->sq_mutex);
	cmr_sq_run(qp, min(budget, qp->sq.num_entries), hold);
	mutex_unlock(&qp->sq_mutex);
	set_active_memcg(old);
}
