// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* cmr: completion queues: posting CQEs, arming and events. */
#include "cmr_loc.h"

static void cmr_cq_overflow(struct cmr_cq *cq)
{
	struct ib_event ev = {
		.device = cq->ibcq.device,
		.element.cq = &cq->ibcq,
		.event = IB_EVENT_CQ_ERR,
	};

	ibdev_dbg_ratelimited(cq->ibcq.device, "CQ[%u] overflow\n",
			      cq->ibcq.res.id);
	if (cq->ibcq.event_handler)
		cq->ibcq.event_handler(&ev, cq->ibcq.cq_context);
}

/*
 * Write one CQE and wake an armed waiter.  Any engine context may call
 * this, for any QP using the CQ.  Returns false if the CQ was full (the
 * completion is lost and IB_EVENT_CQ_ERR raised once).
 */
bool cmr_cq_post(struct cmr_cq *cq, const struct cmr_cqe *cqe,
		 bool solicited)
{
	bool notify = false, overflow = false;
	u32 used;

	spin_lock(&cq->lock);
	used = cq->q.index - cq->consumer;
	if (unlikely(used >= cq->q.num_entries)) {
		cq->consumer = cmr_queue_user_consumer(&cq->q);
		used = cq->q.index - cq->consumer;
	}
	if (unlikely(used >= cq->q.num_entries)) {
		/* Full, or user space wrote a consumer beyond our producer. */
		overflow = !cq->overflow;
		cq->overflow = true;
		spin_unlock(&cq->lock);
		if (overflow)
			cmr_cq_overflow(cq);
		return false;
	}
	memcpy(cmr_queue_slot(&cq->q, cq->q.index), cqe, sizeof(*cqe));
	cq->q.index++;
	cmr_queue_publish_producer(&cq->q);

	if (cq->notify == IB_CQ_NEXT_COMP ||
	    (cq->notify == IB_CQ_SOLICITED &&
	     (solicited || cqe->status != IB_WC_SUCCESS))) {
		cq->notify = 0;
		notify = true;
	}
	spin_unlock(&cq->lock);

	if (notify && cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
	return true;
}

/*
 * A QP entering RESET takes its completions with it (as mlx4/mlx5 clean
 * their CQs): drop the CQEs of QP qpn that user space has not consumed
 * yet and close the gap, which moves the producer back.  User space must
 * not poll the CQ while it resets one of its QPs.
 */
void cmr_cq_clean(struct cmr_cq *cq, u32 qpn)
{
	struct cmr_cqe *cqe;
	u32 cons, i, w;

	spin_lock(&cq->lock);
	cons = cmr_queue_user_consumer(&cq->q);
	if (cq->q.index - cons > cq->q.num_entries) {
		spin_unlock(&cq->lock);
		return;		/* a garbage consumer: nothing to clean */
	}
	cq->consumer = cons;
	for (i = w = cons; i != cq->q.index; i++) {
		cqe = cmr_queue_slot(&cq->q, i);
		if (READ_ONCE(cqe->qp_num) == qpn)
			continue;
		if (w != i)
			memcpy(cmr_queue_slot(&cq->q, w), cqe, sizeof(*cqe));
		w++;
	}
	if (w != cq->q.index) {
		cq->q.index = w;
		cmr_queue_publish_producer(&cq->q);
	}
	spin_unlock(&cq->lock);
}

int cmr_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct cmr_cq *cq = to_cmr_cq(ibcq);
	int ret = 0;

	spin_lock(&cq->lock);
	if ((flags & IB_CQ_SOLICITED_MASK) == IB_CQ_NEXT_COMP)
		cq->notify = IB_CQ_NEXT_COMP;
	else if (cq->notify != IB_CQ_NEXT_COMP)
		cq->notify = IB_CQ_SOLICITED;
	if ((flags & IB_CQ_REPORT_MISSED_EVENTS) &&
	    cmr_queue_user_consumer(&cq->q) != cq->q.index)
		ret = 1;
	spin_unlock(&cq->lock);
	return ret;
}
