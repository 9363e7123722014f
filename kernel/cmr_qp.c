// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: queue pairs: verbs entry points, the state machine, flushing, and
 * the receive queues (RQ and SRQ) with their RNR waiters.
 *
 * Lock order: qp->sq_mutex, then any rq->lock, then cq->lock and
 * qp->state_lock (spinlocks, innermost).  An ODP umem_mutex nests inside
 * any of the mutexes, and never two of them at once.  Nothing takes
 * another QP's sq_mutex while holding one.
 */
#include <linux/log2.h>
#include <linux/memcontrol.h>
#include <linux/slab.h>
#include <rdma/ib_cache.h>
#include <rdma/uverbs_ioctl.h>

#include "cmr_loc.h"

#define CMR_WAKE_BATCH	8

#define CMR_QP_ATTR_MASK (IB_QP_STATE | IB_QP_CUR_STATE |		\
			  IB_QP_EN_SQD_ASYNC_NOTIFY | IB_QP_ACCESS_FLAGS | \
			  IB_QP_PKEY_INDEX | IB_QP_PORT | IB_QP_QKEY |	\
			  IB_QP_AV | IB_QP_PATH_MTU | IB_QP_TIMEOUT |	\
			  IB_QP_RETRY_CNT | IB_QP_RNR_RETRY |		\
			  IB_QP_RQ_PSN | IB_QP_MAX_QP_RD_ATOMIC |	\
			  IB_QP_MIN_RNR_TIMER | IB_QP_SQ_PSN |		\
			  IB_QP_MAX_DEST_RD_ATOMIC | IB_QP_PATH_MIG_STATE | \
			  IB_QP_DEST_QPN)

/* Lookup and lifetime */

void cmr_qp_put(struct cmr_qp *qp)
{
	if (refcount_dec_and_test(&qp->ref))
		complete(&qp->released);
}

void cmr_qp_event(struct cmr_qp *qp, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = qp->ibqp.device,
		.element.qp = &qp->ibqp,
		.event = type,
	};

	if (qp->ibqp.event_handler)
		qp->ibqp.event_handler(&ev, qp->ibqp.qp_context);
}

void cmr_srq_event(struct cmr_srq *srq, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = srq->ibsrq.device,
		.element.srq = &srq->ibsrq,
		.event = type,
	};

	if (srq->ibsrq.event_handler)
		srq->ibsrq.event_handler(&ev, srq->ibsrq.srq_context);
}

/*
 * Move a QP to ERR from any context (its own engine, a peer's, a fatal
 * ring).  The flush runs in the QP's sq_work (or inline by its own
 * engine, which sees the state on its next step).  Raises event if not 0.
 */
void cmr_qp_error(struct cmr_qp *qp, enum ib_event_type event)
{
	enum ib_qp_state old;

	spin_lock(&qp->state_lock);
	old = qp->attr.qp_state;
	if (old != IB_QPS_ERR && old != IB_QPS_RESET)
		WRITE_ONCE(qp->attr.qp_state, IB_QPS_ERR);
	spin_unlock(&qp->state_lock);
	if (old == IB_QPS_ERR || old == IB_QPS_RESET)
		return;

	ibdev_dbg_ratelimited(qp->ibqp.device, "QP[%u] error (event %d)\n",
			      qp->ibqp.qp_num, event);
	if (event)
		cmr_qp_event(qp, event);
	if (qp->srq)
		cmr_qp_event(qp, IB_EVENT_QP_LAST_WQE_REACHED);
	mod_delayed_work(cmr_wq, &qp->sq_work, 0);
}

/* In SQD, nothing more runs until the QP is modified; sq_mutex held. */
void cmr_qp_sq_drained(struct cmr_qp *qp)
{
	if (qp->attr.en_sqd_async_notify)
		cmr_qp_event(qp, IB_EVENT_SQ_DRAINED);
}

/* User space wrote garbage into a ring of this QP. */
void cmr_qp_fatal(struct cmr_qp *qp)
{
	ibdev_dbg_ratelimited(qp->ibqp.device, "QP[%u] corrupt ring\n",
			      qp->ibqp.qp_num);
	cmr_qp_error(qp, IB_EVENT_QP_FATAL);
}

/* Receive queues */

void cmr_rq_init(struct cmr_rq *rq, struct cmr_srq *srq)
{
	mutex_init(&rq->lock);
	rq->producer = 0;
	INIT_LIST_HEAD(&rq->waiters);
	rq->srq = srq;
}

/*
 * Resume the requesters stalled on rq.  direct: run them here (a
 * doorbell, holding no locks); otherwise kick their sq_work.  Each waiter
 * present on entry runs once, so waiters that stall again do not loop.
 */
void cmr_rq_wake(struct cmr_rq *rq, bool direct)
{
	struct cmr_qp *batch[CMR_WAKE_BATCH], *qp;
	unsigned int budget = 0, n, i;
	struct cmr_sq_hold hold;

	mutex_lock(&rq->lock);
	list_for_each_entry(qp, &rq->waiters, rnr_entry)
		budget++;
	while (budget) {
		n = 0;
		while (budget && n < CMR_WAKE_BATCH &&
		       !list_empty(&rq->waiters)) {
			qp = list_first_entry(&rq->waiters, struct cmr_qp,
					      rnr_entry);
			list_del_init(&qp->rnr_entry);
			budget--;
			/* On the list, qp is alive: its destroy unlinks it. */
			if (!direct)
				mod_delayed_work(cmr_wq, &qp->sq_work, 0);
			else if (refcount_inc_not_zero(&qp->ref))
				batch[n++] = qp;
		}
		if (!n)
			break;
		mutex_unlock(&rq->lock);
		for (i = 0; i < n; i++) {
			cmr_sq_hold_begin(&hold);
			cmr_qp_run_sq(batch[i], U32_MAX, &hold);
			cmr_sq_hold_end(batch[i], &hold);
			cmr_qp_put(batch[i]);
		}
		mutex_lock(&rq->lock);
	}
	mutex_unlock(&rq->lock);
}

/* Flush the QP's own RQ; rq.lock held.  Leaves NEED_WAKEUP set. */
static void cmr_rq_flush_locked(struct cmr_qp *qp)
{
	struct cmr_queue *q = &qp->rq.q;
	struct cmr_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.opcode = IB_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
	};
	struct cmr_recv_wqe *wqe;
	u32 prod;

	prod = cmr_queue_user_producer(q);
	if (cmr_queue_pending(q, prod) > q->num_entries) {
		/* Garbage: nothing to enumerate; drop it all. */
		q->index = prod;
	}
	while (q->index != prod) {
		wqe = cmr_queue_slot(q, q->index);
		cqe.wr_id = READ_ONCE(wqe->wr_id);
		cmr_cq_post(qp->rcq, &cqe, false);
		q->index++;
	}
	qp->rq.producer = q->index;
	cmr_queue_publish_consumer(q);
	cmr_queue_set_flags(q, CMR_RING_NEED_WAKEUP);
}

/*
 * The receive doorbell (an empty POST_RECV or POST_SRQ_RECV): user space
 * posted while NEED_WAKEUP was set.  qp is the RQ's QP, NULL for an SRQ.
 */
void cmr_rq_doorbell(struct cmr_rq *rq, struct cmr_qp *qp)
{
	mutex_lock(&rq->lock);
	if (qp && READ_ONCE(qp->attr.qp_state) == IB_QPS_ERR) {
		cmr_rq_flush_locked(qp);
		mutex_unlock(&rq->lock);
		return;
	}
	/* Stalled requesters set it again if they still find no WQE. */
	cmr_queue_set_flags(&rq->q, 0);
	mutex_unlock(&rq->lock);
	cmr_rq_wake(rq, true);
}

/* Send queue helpers used by the engine and the state machine */

/* The completion opcode of a send WQE's opcode. */
u8 cmr_sq_wc_opcode(u8 opcode)
{
	switch (opcode) {
	case CMR_OP_RDMA_WRITE:
	case CMR_OP_RDMA_WRITE_WITH_IMM:
		return IB_WC_RDMA_WRITE;
	case CMR_OP_RDMA_READ:
		return IB_WC_RDMA_READ;
	case CMR_OP_ATOMIC_CMP_AND_SWP:
		return IB_WC_COMP_SWAP;
	case CMR_OP_ATOMIC_FETCH_AND_ADD:
		return IB_WC_FETCH_ADD;
	case CMR_OP_LOCAL_INV:
		return IB_WC_LOCAL_INV;
	case CMR_OP_COMPUTE:
		return CMR_CQE_OPCODE_COMPUTE;
	default:
		return IB_WC_SEND;
	}
}

/* Complete every posted send WQE with FLUSH_ERR; sq_mutex held. */
static void cmr_sq_flush(struct cmr_qp *qp)
{
	struct cmr_queue *q = &qp->sq;
	struct cmr_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.qp_num = qp->ibqp.qp_num,
	};
	struct cmr_send_wqe *wqe;
	u32 prod;

	prod = cmr_queue_user_producer(q);
	if (cmr_queue_pending(q, prod) > q->num_entries)
		q->index = prod;
	while (q->index != prod) {
		wqe = cmr_queue_slot(q, q->index);
		cqe.wr_id = READ_ONCE(wqe->wr_id);
		cqe.opcode = cmr_sq_wc_opcode(READ_ONCE(wqe->opcode));
		cmr_cq_post(qp->scq, &cqe, false);
		q->index++;
	}
	cmr_queue_publish_consumer(q);
}

/* Stop waiting for a peer's receive; sq_mutex held. */
void cmr_qp_rnr_unwait(struct cmr_qp *qp)
{
	if (!qp->rnr_peer)
		return;
	mutex_lock(&qp->rnr_rq->lock);
	list_del_init(&qp->rnr_entry);
	mutex_unlock(&qp->rnr_rq->lock);
	cmr_qp_put(qp->rnr_peer);
	qp->rnr_peer = NULL;
	qp->rnr_rq = NULL;
}

/*
 * Flush a QP in SQE (its SQ) or ERR (SQ and RQ), and let requesters
 * stalled on its receive queue find out; sq_mutex held.
 */
void cmr_qp_flush(struct cmr_qp *qp)
{
	cmr_qp_rnr_unwait(qp);
	qp->rnr_timing = false;
	qp->rnr_attempts = 0;
	cmr_sq_flush(qp);
	if (READ_ONCE(qp->attr.qp_state) != IB_QPS_ERR)
		return;
	if (!qp->srq) {
		mutex_lock(&qp->rq.lock);
		cmr_rq_flush_locked(qp);
		mutex_unlock(&qp->rq.lock);
	}
	cmr_rq_wake(cmr_qp_rq(qp), false);
}

/* Off the doorbell path: RNR timeouts, wake-ups, flushes, overflow. */
static void cmr_qp_sq_work(struct work_struct *work)
{
	struct cmr_qp *qp = container_of(to_delayed_work(work), struct cmr_qp,
					 sq_work);
	struct cmr_sq_hold hold;

	/* destroy_qp cancels us before it frees the QP. */
	cmr_sq_hold_begin(&hold);
	cmr_qp_run_sq(qp, U32_MAX, &hold);
	cmr_sq_hold_end(qp, &hold);
}

/* Creation and destruction */

static u32 cmr_sq_stride(u32 sges, u32 inline_data)
{
	return roundup_pow_of_two(sizeof(struct cmr_send_wqe) +
				  max_t(u32, sges * sizeof(struct cmr_sge),
					inline_data));
}

static u32 cmr_rq_stride(u32 sges)
{
	return roundup_pow_of_two(sizeof(struct cmr_recv_wqe) +
				  sges * sizeof(struct cmr_sge));
}

int cmr_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		  struct ib_udata *udata)
{
	struct cmr_dev *dev = to_cmr_dev(ibqp->device);
	struct cmr_qp *qp = to_cmr_qp(ibqp);
	struct cmr_create_qp_resp resp = {};
	struct cmr_create_qp_cmd cmd = {};
	struct ib_qp_cap *cap = &init->cap;
	u32 entries, stride, qpn;
	int err;

	if (!udata)
		return -EOPNOTSUPP;
	if (init->qp_type != IB_QPT_RC && init->qp_type != IB_QPT_UC &&
	    init->qp_type != IB_QPT_UD)
		return -EOPNOTSUPP;
	if (init->create_flags)
		return -EOPNOTSUPP;
	if (cap->max_send_wr > CMR_MAX_QP_WR ||
	    cap->max_send_sge > CMR_MAX_SGE ||
	    cap->max_inline_data > CMR_MAX_INLINE ||
	    (!init->srq && (cap->max_recv_wr > CMR_MAX_QP_WR ||
			    cap->max_recv_sge > CMR_MAX_SGE)))
		return -EINVAL;
	err = cmr_copy_cmd(udata, &cmd, sizeof(cmd));
	if (err)
		return err;
	if (cmd.comp_mask & ~CMR_CREATE_QP_FLAGS)
		return -EOPNOTSUPP;
	if (!(cmd.comp_mask & CMR_CREATE_QP_FLAGS))
		cmd.flags = 0;
	if (cmd.flags & ~(CMR_QP_FLAG_COMPUTE | CMR_QP_FLAG_SQ_POLL))
		return -EOPNOTSUPP;
	/* Compute WRs are local: RC QPs, as the provider offers them. */
	if ((cmd.flags & CMR_QP_FLAG_COMPUTE) && init->qp_type != IB_QPT_RC)
		return -EOPNOTSUPP;
	if ((cmd.flags & CMR_QP_FLAG_SQ_POLL) && !cmr_sqp_enabled())
		return -EOPNOTSUPP;
	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&dev->num_qp) > CMR_MAX_QP) {
		err = -ENOMEM;
		goto err_dec;
	}

	qp->dev = dev;
	qp->create_flags = cmd.flags;
	INIT_LIST_HEAD(&qp->sqp_entry);
	qp->uc = rdma_udata_to_drv_context(udata, struct cmr_ucontext, ibuc);
	refcount_set(&qp->ref, 1);
	init_completion(&qp->released);
	spin_lock_init(&qp->state_lock);
	mutex_init(&qp->sq_mutex);
	INIT_LIST_HEAD(&qp->rnr_entry);
	INIT_DELAYED_WORK(&qp->sq_work, cmr_qp_sq_work);
	qp->scq = to_cmr_cq(init->send_cq);
	qp->rcq = to_cmr_cq(init->recv_cq);
	qp->srq = init->srq ? to_cmr_srq(init->srq) : NULL;
	qp->sq_sig_all = init->sq_sig_type == IB_SIGNAL_ALL_WR;
	qp->attr.qp_state = IB_QPS_RESET;
	qp->attr.path_mtu = IB_MTU_4096;
	qp->attr.port_num = CMR_PORT;
	qp->av.dev_index = U32_MAX;
	cmr_rq_init(&qp->rq, NULL);

	err = -ENOMEM;
	qp->wqe = kmalloc(CMR_MAX_SQ_STRIDE, GFP_KERNEL);
	qp->recv_wqe = kmalloc(sizeof(struct cmr_recv_wqe) +
			       CMR_MAX_SGE * sizeof(struct cmr_sge),
			       GFP_KERNEL);
	qp->bounce = (void *)__get_free_page(GFP_KERNEL);
	if (!qp->wqe || !qp->recv_wqe || !qp->bounce)
		goto err_free_scratch;

	/* SQ: a 64-byte header and room for the SGEs or the inline data. */
	entries = roundup_pow_of_two(max_t(u32, cap->max_send_wr, 1));
	stride = cmr_sq_stride(max_t(u32, cap->max_send_sge, 1),
			       cap->max_inline_data);
	qp->max_send_sge = min_t(u32, CMR_MAX_SGE,
				 (stride - sizeof(struct cmr_send_wqe)) /
				 sizeof(struct cmr_sge));
	qp->max_inline = stride - sizeof(struct cmr_send_wqe);
	err = cmr_queue_init(udata, &qp->sq, entries, stride, &resp.sq);
	if (err)
		goto err_free_scratch;
	cmr_queue_set_flags(&qp->sq, CMR_RING_NEED_WAKEUP);
	cap->max_send_wr = entries;
	cap->max_send_sge = qp->max_send_sge;
	cap->max_inline_data = qp->max_inline;

	if (!qp->srq) {
		entries = roundup_pow_of_two(max_t(u32, cap->max_recv_wr, 1));
		stride = cmr_rq_stride(max_t(u32, cap->max_recv_sge, 1));
		qp->rq.max_sge = min_t(u32, CMR_MAX_SGE,
				       (stride - sizeof(struct cmr_recv_wqe)) /
				       sizeof(struct cmr_sge));
		err = cmr_queue_init(udata, &qp->rq.q, entries, stride,
				     &resp.rq);
		if (err)
			goto err_free_sq;
		cap->max_recv_wr = entries;
		cap->max_recv_sge = qp->rq.max_sge;
	} else {
		cap->max_recv_wr = 0;
		cap->max_recv_sge = 0;
	}
	qp->attr.cap = *cap;
	resp.max_inline_data = qp->max_inline;

	/* Reserve the number; publish the QP once it is complete. */
	err = cmr_index_alloc(&dev->qps, &qpn);
	if (err)
		goto err_free_rq;
	ibqp->qp_num = qpn;

	err = ib_copy_to_udata(udata, &resp, sizeof(resp));
	if (err)
		goto err_erase;
	qp->memcg = get_mem_cgroup_from_mm(current->mm);
	cmr_index_set(&dev->qps, qpn, qp);
	/* Cannot fail: cmr_sqp_enabled() was checked above. */
	if (qp->create_flags & CMR_QP_FLAG_SQ_POLL)
		cmr_sqp_add(qp);
	ibdev_dbg_ratelimited(&dev->ibdev,
			      "QP[%u] %s sq %u x %u rq %u x %u%s flags %#x\n",
			      qpn, init->qp_type == IB_QPT_RC ? "RC" :
				   init->qp_type == IB_QPT_UC ? "UC" : "UD",
			      qp->sq.num_entries, qp->sq.stride,
			      qp->rq.q.num_entries, qp->rq.q.stride,
			      qp->srq ? " srq" : "", qp->create_flags);
	return 0;

err_erase:
	cmr_index_set(&dev->qps, qpn, NULL);
err_free_rq:
	if (!qp->srq)
		cmr_queue_free(&qp->rq.q);
err_free_sq:
	cmr_queue_free(&qp->sq);
err_free_scratch:
	free_page((unsigned long)qp->bounce);
	kfree(qp->recv_wqe);
	kfree(qp->wqe);
err_dec:
	atomic_dec(&dev->num_qp);
	return err;
}

int cmr_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct cmr_qp *qp = to_cmr_qp(ibqp);
	struct cmr_dev *dev = qp->dev;
	struct cmr_rq *rq = cmr_qp_rq(qp);

	/*
	 * No new lookups find it, and after the grace period no engine
	 * context holds it except through a reference.
	 */
	cmr_index_set(&dev->qps, ibqp->qp_num, NULL);
	if (qp->sqp)
		cmr_sqp_del(qp);
	synchronize_srcu_expedited(&cmr_srcu);

	/* Its own engine stops, and it leaves any peer's waiters list. */
	mutex_lock(&qp->sq_mutex);
	qp->dead = true;
	cmr_qp_rnr_unwait(qp);
	mutex_unlock(&qp->sq_mutex);

	/*
	 * Requesters stalled on our receive queue hold references to us:
	 * let them retry (they find us gone and drop them).  No new ones
	 * can stall here: they would have to find us first.
	 */
	cmr_rq_wake(rq, false);

	/* Wait for every engine context using us. */
	cmr_qp_put(qp);
	wait_for_completion(&qp->released);
	/* Nobody can queue our work now. */
	cancel_delayed_work_sync(&qp->sq_work);

	if (!qp->srq)
		cmr_queue_free(&qp->rq.q);
	cmr_queue_free(&qp->sq);
	cmr_qp_compute_free(qp);
	mem_cgroup_put(qp->memcg);
	free_page((unsigned long)qp->bounce);
	kfree(qp->recv_wqe);
	kfree(qp->wqe);
	mutex_destroy(&qp->rq.lock);
	mutex_destroy(&qp->sq_mutex);
	atomic_dec(&dev->num_qp);
	return 0;
}

/*
 * The send doorbell (an empty POST_SEND or the fast doorbell): user space
 * published send WQEs while NEED_WAKEUP was set.  Run them here, or wake
 * the QP's poller thread, which asked for the doorbell before it slept.
 */
void cmr_sq_doorbell(struct cmr_qp *qp, struct cmr_sq_hold *hold)
{
	this_cpu_inc(qp->dev->db->sq);
	if (qp->sqp)
		cmr_sqp_kick(qp->sqp);
	else
		cmr_qp_run_sq(qp, U32_MAX, hold);
}

int cmr_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		  const struct ib_send_wr **bad_wr)
{
	struct cmr_qp *qp = to_cmr_qp(ibqp);
	struct cmr_sq_hold hold;

	if (!ibqp->uobject) {
		*bad_wr = wr;
		return -EOPNOTSUPP;
	}
	/* The uverbs command holds the QP. */
	cmr_sq_hold_begin(&hold);
	cmr_sq_doorbell(qp, &hold);
	cmr_sq_hold_end(qp, &hold);
	return 0;
}

int cmr_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		  const struct ib_recv_wr **bad_wr)
{
	struct cmr_qp *qp = to_cmr_qp(ibqp);

	if (!ibqp->uobject) {
		*bad_wr = wr;
		return -EOPNOTSUPP;
	}
	this_cpu_inc(qp->dev->db->rq);
	if (!qp->srq)
		cmr_rq_doorbell(&qp->rq, qp);
	return 0;
}

/* State machine */

static int cmr_qp_check_attr(struct cmr_qp *qp, struct ib_qp_attr *attr,
			     int mask, struct cmr_av *av)
{
	if ((mask & IB_QP_PORT) && attr->port_num != CMR_PORT)
		return -EINVAL;
	if ((mask & IB_QP_PKEY_INDEX) && attr->pkey_index != 0)
		return -EINVAL;
	if ((mask & IB_QP_PATH_MTU) &&
	    (attr->path_mtu < IB_MTU_256 || attr->path_mtu > IB_MTU_4096))
		return -EINVAL;
	if ((mask & IB_QP_MAX_QP_RD_ATOMIC) &&
	    attr->max_rd_atomic > CMR_MAX_RD_ATOM)
		return -EINVAL;
	if ((mask & IB_QP_MAX_DEST_RD_ATOMIC) &&
	    attr->max_dest_rd_atomic > CMR_MAX_RD_ATOM)
		return -EINVAL;
	if ((mask & IB_QP_DEST_QPN) && attr->dest_qp_num > CMR_MAX_QPN)
		return -EINVAL;
	if ((mask & IB_QP_MIN_RNR_TIMER) && attr->min_rnr_timer > 31)
		return -EINVAL;
	if ((mask & IB_QP_RNR_RETRY) && attr->rnr_retry > 7)
		return -EINVAL;
	if ((mask & IB_QP_RETRY_CNT) && attr->retry_cnt > 7)
		return -EINVAL;
	if ((mask & IB_QP_TIMEOUT) && attr->timeout > 31)
		return -EINVAL;
	if (mask & IB_QP_AV)
		return cmr_av_from_attr(av, &attr->ah_attr);
	return 0;
}

static void cmr_qp_apply_attr(struct cmr_qp *qp, struct ib_qp_attr *attr,
			      int mask, const struct cmr_av *av)
{
	struct ib_qp_attr *a = &qp->attr;

	if (mask & IB_QP_EN_SQD_ASYNC_NOTIFY)
		a->en_sqd_async_notify = attr->en_sqd_async_notify;
	/* Bits for features cmr lacks (MW bind, flush) are kept, unused. */
	if (mask & IB_QP_ACCESS_FLAGS)
		WRITE_ONCE(a->qp_access_flags, attr->qp_access_flags);
	if (mask & IB_QP_PKEY_INDEX)
		a->pkey_index = attr->pkey_index;
	if (mask & IB_QP_QKEY)
		WRITE_ONCE(a->qkey, attr->qkey);
	if (mask & IB_QP_AV)
		qp->av = *av;
	if (mask & IB_QP_PATH_MTU)
		a->path_mtu = attr->path_mtu;
	if (mask & IB_QP_TIMEOUT)
		a->timeout = attr->timeout;
	if (mask & IB_QP_RETRY_CNT)
		a->retry_cnt = attr->retry_cnt;
	if (mask & IB_QP_RNR_RETRY)
		a->rnr_retry = attr->rnr_retry;
	if (mask & IB_QP_RQ_PSN)
		a->rq_psn = attr->rq_psn & 0xffffff;
	if (mask & IB_QP_MAX_QP_RD_ATOMIC)
		a->max_rd_atomic = attr->max_rd_atomic;
	if (mask & IB_QP_MIN_RNR_TIMER)
		WRITE_ONCE(a->min_rnr_timer, attr->min_rnr_timer);
	if (mask & IB_QP_SQ_PSN)
		a->sq_psn = attr->sq_psn & 0xffffff;
	if (mask & IB_QP_MAX_DEST_RD_ATOMIC)
		a->max_dest_rd_atomic = attr->max_dest_rd_atomic;
	if (mask & IB_QP_PATH_MIG_STATE)
		a->path_mig_state = attr->path_mig_state;
	if (mask & IB_QP_DEST_QPN)
		WRITE_ONCE(a->dest_qp_num, attr->dest_qp_num);
	if (mask & IB_QP_STATE)
		WRITE_ONCE(a->qp_state, attr->qp_state);
}

/*
 * Entering RESET: everything posted is discarded without completions,
 * and the completions not yet polled go too.
 */
static void cmr_qp_reset(struct cmr_qp *qp)
{
	struct cmr_rq *rq = cmr_qp_rq(qp);

	cmr_qp_rnr_unwait(qp);
	qp->rnr_timing = false;
	qp->rnr_attempts = 0;
	/*
	 * Under the receive queue's lock: a requester delivering to us
	 * (cmr_deliver()) has posted its CQE before, or finds us in RESET.
	 */
	mutex_lock(&rq->lock);
	cmr_cq_clean(qp->scq, qp->ibqp.qp_num);
	if (qp->rcq != qp->scq)
		cmr_cq_clean(qp->rcq, qp->ibqp.qp_num);
	if (!qp->srq)
		cmr_queue_set_flags(&qp->rq.q, 0);
	mutex_unlock(&rq->lock);
}

/*
 * Leaving RESET: take the rings' producers as our consumers, so user
 * space may keep its indices or restart them across a reset.
 */
static void cmr_qp_start(struct cmr_qp *qp)
{
	qp->sq.index = cmr_queue_user_producer(&qp->sq);
	cmr_queue_publish_consumer(&qp->sq);
	qp->prev_len = 0;
	qp->prev_failed = false;
	if (!qp->srq) {
		mutex_lock(&qp->rq.lock);
		qp->rq.q.index = cmr_queue_user_producer(&qp->rq.q);
		qp->rq.producer = qp->rq.q.index;
		cmr_queue_publish_consumer(&qp->rq.q);
		mutex_unlock(&qp->rq.lock);
	}
}

int cmr_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_udata *udata)
{
	struct cmr_qp *qp = to_cmr_qp(ibqp);
	enum ib_qp_state cur, new;
	struct cmr_av av;
	int err;

	if (mask & ~CMR_QP_ATTR_MASK)
		return -EOPNOTSUPP;

	mutex_lock(&qp->sq_mutex);
	cur = qp->attr.qp_state;
	new = (mask & IB_QP_STATE) ? attr->qp_state : cur;
	if (!ib_modify_qp_is_ok(cur, new, ibqp->qp_type, mask)) {
		ibdev_dbg_ratelimited(ibqp->device,
				      "QP[%u] bad modify %d -> %d mask %#x\n",
				      ibqp->qp_num, cur, new, mask);
		err = -EINVAL;
		goto out_unlock;
	}
	err = cmr_qp_check_attr(qp, attr, mask, &av);
	if (err)
		goto out_unlock;

	if (cur == IB_QPS_RESET && new == IB_QPS_INIT)
		cmr_qp_start(qp);

	spin_lock(&qp->state_lock);
	if (qp->attr.qp_state != cur) {
		/*
		 * cmr_qp_error() (a peer's engine) moved us to ERR since cur
		 * was read: only RESET and ERR lead out of it.
		 */
		cur = qp->attr.qp_state;
		if (new != IB_QPS_RESET && new != IB_QPS_ERR) {
			spin_unlock(&qp->state_lock);
			err = -EINVAL;
			goto out_unlock;
		}
	}
	cmr_qp_apply_attr(qp, attr, mask, &av);
	spin_unlock(&qp->state_lock);

	if (new != cur)
		ibdev_dbg_ratelimited(ibqp->device, "QP[%u] %d -> %d\n",
				      ibqp->qp_num, cur, new);
	switch (new) {
	case IB_QPS_RESET:
		if (cur != IB_QPS_RESET)
			cmr_qp_reset(qp);
		break;
	case IB_QPS_ERR:
		if (cur != IB_QPS_ERR && qp->srq)
			cmr_qp_event(qp, IB_EVENT_QP_LAST_WQE_REACHED);
		cmr_qp_flush(qp);
		break;
	case IB_QPS_SQD:
		/*
		 * Execution is synchronous: the SQ is drained already, unless
		 * its head WQE waits for the peer (cmr_sq_run() finishes it).
		 */
		if (cur != IB_QPS_SQD && !qp->rnr_peer)
			cmr_qp_sq_drained(qp);
		break;
	case IB_QPS_RTS:
		/* Run what was posted before the QP could send. */
		cmr_sq_run_locked(qp);
		/* Have the poller awake when the first WRs come. */
		if (qp->sqp && cur != IB_QPS_RTS)
			cmr_sqp_kick(qp->sqp);
		break;
	default:
		break;
	}
	/* Requesters stalled on us re-check our state. */
	if (!cmr_qp_state_receives(new))
		cmr_rq_wake(cmr_qp_rq(qp), false);
	err = 0;

out_unlock:
	mutex_unlock(&qp->sq_mutex);
	return err;
}

int cmr_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		 struct ib_qp_init_attr *init)
{
	struct cmr_qp *qp = to_cmr_qp(ibqp);

	spin_lock(&qp->state_lock);
	*attr = qp->attr;
	cmr_av_to_attr(&qp->av, &attr->ah_attr);
	spin_unlock(&qp->state_lock);
	memset(&attr->alt_ah_attr, 0, sizeof(attr->alt_ah_attr));
	attr->cur_qp_state = attr->qp_state;
	attr->sq_draining = 0;

	memset(init, 0, sizeof(*init));
	init->qp_type = ibqp->qp_type;
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->srq = ibqp->srq;
	init->cap = qp->attr.cap;
	init->sq_sig_type = qp->sq_sig_all ? IB_SIGNAL_ALL_WR :
					     IB_SIGNAL_REQ_WR;
	return 0;
}
