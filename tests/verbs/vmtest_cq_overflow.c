// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * CQ overrun: a CQ that is never polled fills up.  The completion that
 * does not fit is lost, the CQ reports IBV_EVENT_CQ_ERR and the QP that
 * lost it IBV_EVENT_QP_FATAL and goes to ERR (its queues can no longer be
 * trusted), while the completions that fit are intact and in order.  Both
 * sides: a requester's send CQ and a responder's receive CQ.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "vt.h"

#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

static struct vt_ctx v;
static char sbuf[64], rbuf[64];
static struct ibv_mr *smr, *rmr;
static const struct vt_qp_opts opts = {
	.rnr_retry = 7,
	.min_rnr_timer = 1,
	.access = RW,
};

/*
 * a and b connected, each on a CQ of its own; the one of small gets (at
 * least) 2 entries, the other room to spare.  Returns small's CQ size.
 */
static int connect_pair(struct vt_end *a, struct vt_end *b,
			struct vt_end *small)
{
	vt_end_create_cq(&v, a, 16, a == small ? 2 : 32);
	vt_end_create_cq(&v, b, 16, b == small ? 2 : 32);
	vt_connect(&v, a, b, &opts);
	vt_check(small->cq->cqe < 16, "CQ of %d entries for 2",
		 small->cq->cqe);
	return small->cq->cqe;
}

/* Wait for CQ_ERR on cq and QP_FATAL on qp, in any order, with others. */
static void expect_events(struct ibv_cq *cq, struct ibv_qp *qp)
{
	bool cq_err = false, qp_fatal = false;
	struct pollfd pfd = { .fd = v.ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;

	while (!cq_err || !qp_fatal) {
		vt_check(poll(&pfd, 1, 5000) == 1,
			 "no async event in 5 s (CQ_ERR %d, QP_FATAL %d)",
			 cq_err, qp_fatal);
		vt_check(!ibv_get_async_event(v.ctx, &ev), "get_async_event");
		if (ev.event_type == IBV_EVENT_CQ_ERR && ev.element.cq == cq)
			cq_err = true;
		else if (ev.event_type == IBV_EVENT_QP_FATAL &&
			 ev.element.qp == qp)
			qp_fatal = true;
		else
			vt_check(ev.event_type == IBV_EVENT_QP_LAST_WQE_REACHED,
				 "unexpected async event %s",
				 ibv_event_type_str(ev.event_type));
		ibv_ack_async_event(&ev);
	}
}

static void expect_state(struct ibv_qp *qp, enum ibv_qp_state state)
{
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;

	vt_check(!ibv_query_qp(qp, &attr, IBV_QP_STATE, &init), "query_qp");
	vt_check(attr.qp_state == state, "QP %u in state %d, expected %d",
		 qp->qp_num, attr.qp_state, state);
}

/*
 * Exactly n completions on cq, successful, of opcode, wr_ids first.. in
 * order; then the CQ is empty.
 */
static void expect_completions(struct ibv_cq *cq, int n, uint64_t first,
			       enum ibv_wc_opcode opcode)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < n; i++) {
		vt_poll(cq, &wc, 5000);
		vt_check(wc.status == IBV_WC_SUCCESS && wc.opcode == opcode &&
			 wc.wr_id == first + i,
			 "completion %d: %s opcode %d wr_id %llu", i,
			 ibv_wc_status_str(wc.status), wc.opcode,
			 (unsigned long long)wc.wr_id);
	}
	vt_check(!vt_try_poll(cq, &wc, 200),
		 "a completion beyond the CQ's %d entries: wr_id %llu %s", n,
		 (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
}

/* a's send CQ overflows under signaled RDMA WRITEs. */
static void requester(void)
{
	struct vt_end a, b;
	struct ibv_sge s = { .addr = (uintptr_t)sbuf, .length = 8,
			     .lkey = smr->lkey };
	struct ibv_wc wc;
	int n, i;

	n = connect_pair(&a, &b, &a);

	for (i = 0; i <= n; i++)
		vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, i, &s, 1,
				       (uintptr_t)rbuf, rmr->rkey),
			 "post_send %d", i);
	expect_events(a.cq, a.qp);
	expect_state(a.qp, IBV_QPS_ERR);
	expect_completions(a.cq, n, 0, IBV_WC_RDMA_WRITE);

	/* With room again, a WR on the QP in ERR is flushed. */
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 99, &s, 1,
			       (uintptr_t)rbuf, rmr->rkey), "post_send");
	vt_poll(a.cq, &wc, 5000);
	vt_check(wc.wr_id == 99 && wc.status == IBV_WC_WR_FLUSH_ERR,
		 "after the overrun: wr_id %llu %s",
		 (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
	expect_state(b.qp, IBV_QPS_RTS);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

/* b's receive CQ overflows under SENDs; the sender is not at fault. */
static void responder(void)
{
	struct vt_end a, b;
	struct ibv_sge s = { .addr = (uintptr_t)sbuf, .length = 8,
			     .lkey = smr->lkey };
	struct ibv_sge r = { .addr = (uintptr_t)rbuf, .length = sizeof(rbuf),
			     .lkey = rmr->lkey };
	int n, i;

	n = connect_pair(&a, &b, &b);

	for (i = 0; i <= n; i++)
		vt_check(!vt_post_recv(b.qp, 100 + i, &r, 1), "post_recv %d",
			 i);
	for (i = 0; i <= n; i++)
		vt_check(!vt_post_send(a.qp, IBV_WR_SEND, i, &s, 1, 0, 0),
			 "post_send %d", i);
	expect_events(b.cq, b.qp);
	expect_state(b.qp, IBV_QPS_ERR);
	expect_completions(b.cq, n, 100, IBV_WC_RECV);
	/* Every message was placed before the receiver failed. */
	expect_completions(a.cq, n + 1, 0, IBV_WC_SEND);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

int main(void)
{
	vt_open(&v, vt_dev());
	smr = vt_reg(&v, sbuf, sizeof(sbuf), IBV_ACCESS_LOCAL_WRITE);
	rmr = vt_reg(&v, rbuf, sizeof(rbuf), RW);
	requester();
	responder();
	vt_check(!ibv_dereg_mr(smr), "dereg_mr");
	vt_check(!ibv_dereg_mr(rmr), "dereg_mr");
	vt_close(&v);
	printf("cq overflow: requester and responder CQ overrun\n");
	return 0;
}
