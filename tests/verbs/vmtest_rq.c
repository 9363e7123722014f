// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A receive queue kept full: every receive completion is answered with a
 * repost, which must always find room, while a post beyond the queue's
 * size must always fail with ENOMEM.  Covers the ways the provider learns
 * that receive slots are free (completions polled, or the ring's consumer
 * index when it has not polled them): a CQ of its own, a CQ shared by two
 * QPs, completions left unpolled, and a reset that discards the RQ.
 * An SRQ resized while full keeps its receives, in order, and takes as
 * many more as it grew by; a resize below what is posted is refused.
 */
#include <errno.h>
#include <string.h>

#include "vt.h"

#define DEPTH 4			/* a power of two: the RQ holds exactly this */
#define ROUNDS (8 * DEPTH)
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

static int post_recv(struct ibv_qp *qp, uint64_t wr_id)
{
	struct ibv_sge s = { .addr = (uintptr_t)rbuf, .length = sizeof(rbuf),
			     .lkey = rmr->lkey };

	return vt_post_recv(qp, wr_id, &s, 1);
}

static void send_one(struct vt_end *a, uint64_t wr_id)
{
	struct ibv_sge s = { .addr = (uintptr_t)sbuf, .length = 8,
			     .lkey = smr->lkey };

	vt_check(!vt_post_send(a->qp, IBV_WR_SEND, wr_id, &s, 1, 0, 0),
		 "post_send");
	vt_expect(a->cq, wr_id, IBV_WC_SUCCESS);
}

static void expect_recv(struct ibv_cq *cq, struct ibv_qp *qp, uint64_t wr_id)
{
	struct ibv_wc wc;

	vt_poll(cq, &wc, 5000);
	vt_check(wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_RECV &&
		 wc.wr_id == wr_id && wc.qp_num == qp->qp_num,
		 "status %s opcode %d wr_id %llu qp %u, expected wr_id %llu qp %u",
		 ibv_wc_status_str(wc.status), wc.opcode,
		 (unsigned long long)wc.wr_id, wc.qp_num,
		 (unsigned long long)wr_id, qp->qp_num);
}

/* Fill b's RQ from wr_id first on; one more must not fit. */
static void fill(struct ibv_qp *qp, uint64_t first)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		vt_check(!post_recv(qp, first + i), "post_recv %d of %d", i,
			 DEPTH);
	vt_check(post_recv(qp, ~0ULL) == ENOMEM, "a full RQ took one more");
}

/*
 * ROUNDS messages a -> b; b answers each receive completion with a repost,
 * after which its RQ is full again.  wr_ids run on from *next.
 */
static void ping(struct vt_end *a, struct ibv_qp *bqp, struct ibv_cq *bcq,
		 uint64_t *next)
{
	uint64_t head = *next - DEPTH;	/* oldest receive posted */
	int i;

	for (i = 0; i < ROUNDS; i++) {
		send_one(a, 1000 + i);
		expect_recv(bcq, bqp, head++);
		vt_check(!post_recv(bqp, (*next)++), "repost %d", i);
		vt_check(post_recv(bqp, ~0ULL) == ENOMEM,
			 "round %d: a full RQ took one more", i);
	}
}

/* Connect a and b, fill b's RQ and ping; wr_ids run on from *next. */
static void connect_fill_ping(struct vt_end *a, struct vt_end *b,
			      uint64_t *next)
{
	vt_connect(&v, a, b, &opts);
	fill(b->qp, *next);
	*next += DEPTH;
	ping(a, b->qp, b->cq, next);
}

static void own_cq(void)
{
	struct vt_end a, b;
	uint64_t next = 0;

	vt_end_create(&v, &a, DEPTH);
	vt_end_create(&v, &b, DEPTH);
	connect_fill_ping(&a, &b, &next);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

/* b1 and b2 receive on one CQ. */
static void shared_cq(void)
{
	struct ibv_qp_init_attr attr = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = DEPTH, .max_recv_wr = DEPTH,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct vt_end a1, a2, b1, b2;
	uint64_t n1 = 0, n2 = 100;

	vt_end_create(&v, &a1, DEPTH);
	vt_end_create(&v, &a2, DEPTH);
	vt_end_create(&v, &b1, DEPTH);
	b2.cq = b1.cq;
	attr.send_cq = attr.recv_cq = b1.cq;
	b2.qp = ibv_create_qp(v.pd, &attr);
	vt_check(b2.qp, "create_qp: %s", strerror(errno));
	vt_connect(&v, &a1, &b1, &opts);
	vt_connect(&v, &a2, &b2, &opts);
	fill(b1.qp, n1);
	fill(b2.qp, n2);
	n1 += DEPTH;
	n2 += DEPTH;
	ping(&a1, b1.qp, b1.cq, &n1);
	ping(&a2, b2.qp, b1.cq, &n2);
	ping(&a1, b1.qp, b1.cq, &n1);
	vt_check(!ibv_destroy_qp(b2.qp), "destroy_qp");
	vt_end_destroy(&b1);
	vt_end_destroy(&a1);
	vt_end_destroy(&a2);
}

/* Receives consumed but not polled yet still free their slots. */
static void unpolled(void)
{
	struct vt_end a, b;
	int i;

	vt_end_create(&v, &a, DEPTH);
	vt_end_create(&v, &b, DEPTH);
	vt_connect(&v, &a, &b, &opts);
	fill(b.qp, 0);
	send_one(&a, 1);
	send_one(&a, 2);
	/* The kernel consumed two: two fit again, a third does not. */
	vt_check(!post_recv(b.qp, DEPTH), "post after 2 consumed");
	vt_check(!post_recv(b.qp, DEPTH + 1), "post after 2 consumed");
	vt_check(post_recv(b.qp, ~0ULL) == ENOMEM, "a full RQ took one more");
	/* Polling them now frees nothing more. */
	expect_recv(b.cq, b.qp, 0);
	expect_recv(b.cq, b.qp, 1);
	vt_check(post_recv(b.qp, ~0ULL) == ENOMEM, "a full RQ took one more");
	for (i = 2; i < DEPTH + 2; i++) {
		send_one(&a, 10 + i);
		expect_recv(b.cq, b.qp, i);
	}
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

/* A reset discards the posted receives without completions. */
static void reset(void)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RESET };
	struct vt_end a, b;
	uint64_t next = 0;

	vt_end_create(&v, &a, DEPTH);
	vt_end_create(&v, &b, DEPTH);
	connect_fill_ping(&a, &b, &next);
	vt_check(!ibv_modify_qp(a.qp, &attr, IBV_QP_STATE), "a to RESET");
	vt_check(!ibv_modify_qp(b.qp, &attr, IBV_QP_STATE), "b to RESET");
	connect_fill_ping(&a, &b, &next);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

static int post_srq_recv(struct ibv_srq *srq, uint64_t wr_id)
{
	struct ibv_sge s = { .addr = (uintptr_t)rbuf, .length = sizeof(rbuf),
			     .lkey = rmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &s,
				  .num_sge = 1 }, *bad;

	return ibv_post_srq_recv(srq, &wr, &bad);
}

static uint32_t srq_max_wr(struct ibv_srq *srq)
{
	struct ibv_srq_attr a;

	vt_check(!ibv_query_srq(srq, &a), "query_srq");
	return a.max_wr;
}

/* Post receives from *next on until the SRQ refuses one; how many. */
static uint32_t srq_fill(struct ibv_srq *srq, uint64_t *next)
{
	uint32_t n = 0;
	int ret;

	while (!(ret = post_srq_recv(srq, *next))) {
		(*next)++;
		n++;
	}
	vt_check(ret == ENOMEM, "post_srq_recv: %d", ret);
	return n;
}

static void srq_resize(void)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = DEPTH,
						  .max_sge = 1 } };
	struct ibv_device_attr da;
	struct ibv_srq_attr ra = {};
	struct vt_end a, b;
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_send_sge = 1 },
	};
	uint64_t next = 0, head = 0;
	uint32_t n;

	vt_check(!ibv_query_device(v.ctx, &da), "query_device");
	vt_check(da.device_cap_flags & IBV_DEVICE_SRQ_RESIZE,
		 "SRQ resize not reported");
	qa.srq = ibv_create_srq(v.pd, &sa);
	vt_check(qa.srq, "create_srq");
	vt_end_create(&v, &a, 4);
	b.cq = ibv_create_cq(v.ctx, 64, NULL, NULL, 0);
	vt_check(b.cq, "create_cq");
	qa.send_cq = qa.recv_cq = b.cq;
	b.qp = ibv_create_qp(v.pd, &qa);
	vt_check(b.qp, "create_qp on the SRQ");
	vt_connect(&v, &a, &b, &opts);

	n = srq_fill(qa.srq, &next);
	vt_check(n == srq_max_wr(qa.srq), "%u posted, max_wr %u", n,
		 srq_max_wr(qa.srq));
	/* Two consumed: the ring's indices are not at 0 when it moves. */
	send_one(&a, 1);
	expect_recv(b.cq, b.qp, head++);
	send_one(&a, 2);
	expect_recv(b.cq, b.qp, head++);
	vt_check(srq_fill(qa.srq, &next) == 2, "refill");

	ra.max_wr = 4 * DEPTH;
	vt_check(!ibv_modify_srq(qa.srq, &ra, IBV_SRQ_MAX_WR), "grow");
	vt_check(srq_max_wr(qa.srq) >= 4 * DEPTH, "max_wr %u after growing",
		 srq_max_wr(qa.srq));
	n = srq_fill(qa.srq, &next);
	vt_check(n == srq_max_wr(qa.srq) - DEPTH,
		 "took %u more, grew from %u to %u", n, DEPTH,
		 srq_max_wr(qa.srq));
	ra.max_wr = DEPTH;
	vt_check(ibv_modify_srq(qa.srq, &ra, IBV_SRQ_MAX_WR) == EINVAL,
		 "shrunk below what is posted");
	/* Every receive, old ring's and new, in posting order. */
	while (head < next) {
		send_one(&a, 3);
		expect_recv(b.cq, b.qp, head++);
	}
	ra.max_wr = DEPTH;
	vt_check(!ibv_modify_srq(qa.srq, &ra, IBV_SRQ_MAX_WR), "shrink");
	vt_check(srq_fill(qa.srq, &next) == DEPTH, "after shrinking");
	while (head < next) {
		send_one(&a, 4);
		expect_recv(b.cq, b.qp, head++);
	}
	vt_end_destroy(&a);
	vt_end_destroy(&b);
	vt_check(!ibv_destroy_srq(qa.srq), "destroy_srq");
}

int main(void)
{
	vt_open(&v, vt_dev());
	smr = vt_reg(&v, sbuf, sizeof(sbuf), RW);
	rmr = vt_reg(&v, rbuf, sizeof(rbuf), RW);
	own_cq();
	shared_cq();
	unpolled();
	reset();
	srq_resize();
	vt_check(!ibv_dereg_mr(smr), "dereg_mr");
	vt_check(!ibv_dereg_mr(rmr), "dereg_mr");
	vt_close(&v);
	return 0;
}
