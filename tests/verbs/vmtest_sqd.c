// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * SQ drain: a QP moved to SQD while its head SEND waits for the peer to
 * post a receive (RNR) raises IBV_EVENT_SQ_DRAINED only once that SEND
 * has completed; a WR posted in SQD waits for RTS.  Without a waiting WR
 * the event comes at once.
 */
#include <poll.h>
#include <string.h>

#include "vt.h"

#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

static struct vt_ctx v;
static char buf[64];

/* The next async event within timeout_ms, if any, must be SQ_DRAINED of qp. */
static bool sq_drained(struct ibv_qp *qp, int timeout_ms)
{
	struct pollfd pfd = { .fd = v.ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	vt_check(!ibv_get_async_event(v.ctx, &ev), "get_async_event");
	vt_check(ev.event_type == IBV_EVENT_SQ_DRAINED && ev.element.qp == qp,
		 "unexpected async event %s",
		 ibv_event_type_str(ev.event_type));
	ibv_ack_async_event(&ev);
	return true;
}

static void to_sqd(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_SQD,
				    .en_sqd_async_notify = 1 };

	vt_check(!ibv_modify_qp(qp, &attr, IBV_QP_STATE |
				IBV_QP_EN_SQD_ASYNC_NOTIFY), "to SQD");
}

static void to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RTS };

	vt_check(!ibv_modify_qp(qp, &attr, IBV_QP_STATE), "to RTS");
}

int main(void)
{
	struct vt_qp_opts o = { .rnr_retry = 7, .min_rnr_timer = 1,
				.access = RW };
	struct ibv_sge s;
	struct vt_end a, b;
	struct ibv_mr *mr;
	struct ibv_wc wc;

	vt_open(&v, vt_dev());
	mr = vt_reg(&v, buf, sizeof(buf), RW);
	s = (struct ibv_sge){ .addr = (uintptr_t)buf, .length = 8,
			      .lkey = mr->lkey };
	vt_end_create(&v, &a, 8);
	vt_end_create(&v, &b, 8);
	vt_connect(&v, &a, &b, &o);

	/* Nothing outstanding: drained at once. */
	to_sqd(a.qp);
	vt_check(sq_drained(a.qp, 5000), "no SQ_DRAINED for an idle SQ");
	to_rts(a.qp);

	/* SEND 1 waits for a receive; SQD comes meanwhile. */
	vt_check(!vt_post_send(a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0), "post 1");
	vt_check(!vt_try_poll(a.cq, &wc, 100), "SEND 1 completed unreceived");
	to_sqd(a.qp);
	vt_check(!vt_post_send(a.qp, IBV_WR_SEND, 2, &s, 1, 0, 0), "post 2");
	vt_check(!sq_drained(a.qp, 300),
		 "SQ_DRAINED while SEND 1 still waits for the peer");

	/* The receive lets SEND 1 finish; then the SQ is drained. */
	vt_check(!vt_post_recv(b.qp, 10, &s, 1), "post_recv 10");
	vt_expect(a.cq, 1, IBV_WC_SUCCESS);
	vt_expect(b.cq, 10, IBV_WC_SUCCESS);
	vt_check(sq_drained(a.qp, 5000), "no SQ_DRAINED after SEND 1");

	/* SEND 2 waits for RTS, even with a receive posted. */
	vt_check(!vt_post_recv(b.qp, 11, &s, 1), "post_recv 11");
	vt_check(!vt_try_poll(a.cq, &wc, 300), "SEND 2 ran in SQD");
	to_rts(a.qp);
	vt_expect(a.cq, 2, IBV_WC_SUCCESS);
	vt_expect(b.cq, 11, IBV_WC_SUCCESS);

	vt_end_destroy(&a);
	vt_end_destroy(&b);
	ibv_dereg_mr(mr);
	vt_close(&v);
	return 0;
}
