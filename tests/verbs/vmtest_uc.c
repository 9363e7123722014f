// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * UC QPs: SENDs and RDMA WRITEs, with immediate or not, arrive as on RC;
 * what UC has no acknowledgement for is dropped on the responder's side
 * while the requester completes successfully (no receive WQE, a bad
 * rkey or range, nobody at the destination QP number), a receive buffer
 * too small fails the receive and its QP only, and what UC cannot do
 * (RDMA READ, atomics, SEND with invalidate, RC-only attributes) is
 * refused where it is asked for.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <infiniband/verbs.h>

#include "vt.h"

#define LEN 4096
#define QUIET_MS 200		/* how long "nothing arrives" is watched */

struct uc_end {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	uint8_t *buf;
	struct ibv_mr *mr;
};

static struct ibv_qp *uc_create(struct vt_ctx *v, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr attr = {
		.qp_type = IBV_QPT_UC,
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 2, .max_recv_sge = 2 },
	};
	struct ibv_qp *qp = ibv_create_qp(v->pd, &attr);

	vt_check(qp, "create UC QP: %s", strerror(errno));
	return qp;
}

/* RESET -> RTS connected to dqpn; RC's RTS attributes refused. */
static void uc_to_rts(struct vt_ctx *v, struct ibv_qp *qp, uint32_t dqpn)
{
	static const struct vt_qp_opts opts = {
		.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
	};
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTS, .timeout = 14 };

	vt_to_rts(v, qp, dqpn, &opts);
	vt_check(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT) == EINVAL,
		 "UC took IBV_QP_TIMEOUT");
}

static void end_init(struct vt_ctx *v, struct uc_end *e)
{
	e->cq = ibv_create_cq(v->ctx, 64, NULL, NULL, 0);
	vt_check(e->cq, "create_cq");
	e->qp = uc_create(v, e->cq);
	e->buf = aligned_alloc(4096, LEN);
	vt_check(e->buf, "alloc");
	memset(e->buf, 0, LEN);
	e->mr = vt_reg(v, e->buf, LEN, IBV_ACCESS_LOCAL_WRITE |
		       IBV_ACCESS_REMOTE_WRITE);
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;

	vt_check(!ibv_query_qp(qp, &a, IBV_QP_STATE, &init), "query_qp");
	return a.qp_state;
}

static void post_recv(struct uc_end *e, uint64_t wr_id, uint32_t off,
		      uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)e->buf + off, len, e->mr->lkey };

	vt_check(!vt_post_recv(e->qp, wr_id, &sge, 1), "post_recv");
}

/* Post one WR from a's buffer at [off, off + len). */
static int post(struct uc_end *a, enum ibv_wr_opcode op, uint64_t wr_id,
		uint32_t off, uint32_t len, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)a->buf + off, len, a->mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.imm_data = htobe32(0x1234abcd),
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	}, *bad;

	return ibv_post_send(a->qp, &wr, &bad);
}

/* b's next completion: receive wr_id, successful. */
static struct ibv_wc expect_recv(struct uc_end *b, uint64_t wr_id)
{
	struct ibv_wc wc;

	vt_poll(b->cq, &wc, 2000);
	vt_check(wc.wr_id == wr_id && wc.status == IBV_WC_SUCCESS,
		 "receive %llu: wr_id %llu status %d",
		 (unsigned long long)wr_id, (unsigned long long)wc.wr_id,
		 wc.status);
	return wc;
}

static void expect_quiet(struct ibv_cq *cq, const char *what)
{
	struct ibv_wc wc;

	vt_check(!vt_try_poll(cq, &wc, QUIET_MS),
		 "%s: a completion arrived (wr_id %llu status %d)", what,
		 (unsigned long long)wc.wr_id, wc.status);
}

static void fill(uint8_t *p, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

int main(void)
{
	struct ibv_qp_init_attr_ex xa = {};
	struct vt_ctx v;
	struct uc_end a, b;
	struct ibv_qp *lone;
	struct ibv_wc wc;

	vt_open(&v, vt_dev());
	end_init(&v, &a);
	end_init(&v, &b);
	uc_to_rts(&v, a.qp, b.qp->qp_num);
	uc_to_rts(&v, b.qp, a.qp->qp_num);

	/* SEND, and SEND with immediate. */
	fill(a.buf, 100, 1);
	post_recv(&b, 10, 0, 256);
	vt_check(!post(&a, IBV_WR_SEND, 1, 0, 100, 0, 0), "post SEND");
	vt_expect(a.cq, 1, IBV_WC_SUCCESS);
	wc = expect_recv(&b, 10);
	vt_check(wc.opcode == IBV_WC_RECV && wc.byte_len == 100 &&
		 wc.src_qp == a.qp->qp_num, "SEND's receive: status %d len %u",
		 wc.status, wc.byte_len);
	vt_check(!memcmp(a.buf, b.buf, 100), "SEND data");
	post_recv(&b, 11, 0, 256);
	vt_check(!post(&a, IBV_WR_SEND_WITH_IMM, 2, 0, 8, 0, 0), "post");
	vt_expect(a.cq, 2, IBV_WC_SUCCESS);
	wc = expect_recv(&b, 11);
	vt_check((wc.wc_flags & IBV_WC_WITH_IMM) &&
		 wc.imm_data == htobe32(0x1234abcd), "SEND with immediate");

	/* RDMA WRITE, and with immediate. */
	fill(a.buf + 512, 300, 9);
	vt_check(!post(&a, IBV_WR_RDMA_WRITE, 3, 512, 300,
		       (uintptr_t)b.buf + 1024, b.mr->rkey), "post WRITE");
	vt_expect(a.cq, 3, IBV_WC_SUCCESS);
	vt_check(!memcmp(a.buf + 512, b.buf + 1024, 300), "WRITE data");
	post_recv(&b, 12, 0, 16);
	fill(a.buf + 512, 300, 33);
	vt_check(!post(&a, IBV_WR_RDMA_WRITE_WITH_IMM, 4, 512, 300,
		       (uintptr_t)b.buf + 2048, b.mr->rkey), "post");
	vt_expect(a.cq, 4, IBV_WC_SUCCESS);
	wc = expect_recv(&b, 12);
	vt_check(wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
		 wc.byte_len == 300 && (wc.wc_flags & IBV_WC_WITH_IMM),
		 "WRITE with immediate: status %d opcode %d", wc.status,
		 wc.opcode);
	vt_check(!memcmp(a.buf + 512, b.buf + 2048, 300), "WRITE_IMM data");

	/* No receive WQE: dropped, the requester does not wait (no RNR). */
	fill(a.buf, 64, 50);
	vt_check(!post(&a, IBV_WR_SEND, 5, 0, 64, 0, 0), "post");
	vt_expect(a.cq, 5, IBV_WC_SUCCESS);
	vt_check(!post(&a, IBV_WR_RDMA_WRITE_WITH_IMM, 6, 0, 64,
		       (uintptr_t)b.buf + 3072, b.mr->rkey), "post");
	vt_expect(a.cq, 6, IBV_WC_SUCCESS);
	expect_quiet(b.cq, "no receive WQE");
	memset(b.buf, 0, LEN);
	fill(a.buf, 64, 77);
	post_recv(&b, 13, 0, 256);
	vt_check(!post(&a, IBV_WR_SEND, 7, 0, 64, 0, 0), "post");
	vt_expect(a.cq, 7, IBV_WC_SUCCESS);
	expect_recv(&b, 13);
	vt_check(!memcmp(a.buf, b.buf, 64),
		 "the message after a dropped one arrives, and only it");
	vt_check(b.buf[3072] == 0, "a dropped WRITE with immediate wrote");

	/* A bad rkey, a range outside the MR: dropped, b carries on. */
	memset(b.buf, 0, LEN);
	vt_check(!post(&a, IBV_WR_RDMA_WRITE, 8, 0, 64,
		       (uintptr_t)b.buf, b.mr->rkey ^ 0x100), "post");
	vt_expect(a.cq, 8, IBV_WC_SUCCESS);
	vt_check(!post(&a, IBV_WR_RDMA_WRITE, 9, 0, 64,
		       (uintptr_t)b.buf + LEN - 32, b.mr->rkey), "post");
	vt_expect(a.cq, 9, IBV_WC_SUCCESS);
	post_recv(&b, 14, 0, 16);
	vt_check(!post(&a, IBV_WR_RDMA_WRITE_WITH_IMM, 15, 0, 64,
		       (uintptr_t)b.buf, b.mr->rkey ^ 0x100), "post");
	vt_expect(a.cq, 15, IBV_WC_SUCCESS);
	expect_quiet(b.cq, "bad rkey");
	for (int i = 0; i < LEN; i++)
		vt_check(!b.buf[i], "a dropped WRITE wrote byte %d", i);
	vt_check(qp_state(b.qp) == IBV_QPS_RTS, "b left RTS");
	vt_check(!post(&a, IBV_WR_SEND, 16, 0, 8, 0, 0), "post");
	vt_expect(a.cq, 16, IBV_WC_SUCCESS);
	/* The receive kept through the drops. */
	expect_recv(&b, 14);

	/* What UC cannot do is refused by the provider. */
	vt_check(post(&a, IBV_WR_RDMA_READ, 17, 0, 8, (uintptr_t)b.buf,
		      b.mr->rkey) == EINVAL, "RDMA READ posted on UC");
	vt_check(post(&a, IBV_WR_ATOMIC_FETCH_AND_ADD, 18, 0, 8,
		      (uintptr_t)b.buf, b.mr->rkey) == EINVAL,
		 "atomic posted on UC");
	vt_check(post(&a, IBV_WR_SEND_WITH_INV, 19, 0, 8, 0, 0) == EINVAL,
		 "SEND with invalidate posted on UC");
	xa.qp_type = IBV_QPT_UC;
	xa.send_cq = xa.recv_cq = a.cq;
	xa.cap = (struct ibv_qp_cap){ .max_send_wr = 1, .max_recv_wr = 1,
				      .max_send_sge = 1, .max_recv_sge = 1 };
	xa.pd = v.pd;
	xa.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	xa.send_ops_flags = IBV_QP_EX_WITH_RDMA_READ;
	vt_check(!ibv_create_qp_ex(v.ctx, &xa) && errno == EOPNOTSUPP,
		 "UC QP with RDMA READ builders");
	xa.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_SEND;
	lone = ibv_create_qp_ex(v.ctx, &xa);
	vt_check(lone, "UC QP with SEND and WRITE builders: %s",
		 strerror(errno));
	vt_check(!ibv_destroy_qp(lone), "destroy");

	/* Nobody at the destination: lost on the wire, not an error. */
	lone = uc_create(&v, a.cq);
	uc_to_rts(&v, lone, 0xfffff0);
	{
		struct ibv_sge sge = { (uintptr_t)a.buf, 8, a.mr->lkey };

		vt_check(!vt_post_send(lone, IBV_WR_SEND, 20, &sge, 1, 0, 0),
			 "post");
		vt_expect(a.cq, 20, IBV_WC_SUCCESS);
		vt_check(!vt_post_send(lone, IBV_WR_RDMA_WRITE, 21, &sge, 1,
				       (uintptr_t)b.buf, b.mr->rkey), "post");
		vt_expect(a.cq, 21, IBV_WC_SUCCESS);
	}
	vt_check(!ibv_destroy_qp(lone), "destroy");

	/*
	 * A receive buffer too small fails the receive (local length
	 * error) and its QP; the requester still completes successfully.
	 */
	post_recv(&b, 22, 0, 16);
	vt_check(!post(&a, IBV_WR_SEND, 23, 0, 64, 0, 0), "post");
	vt_expect(a.cq, 23, IBV_WC_SUCCESS);
	vt_expect(b.cq, 22, IBV_WC_LOC_LEN_ERR);
	vt_check(qp_state(b.qp) == IBV_QPS_ERR, "b not in ERR after a length error");
	vt_check(qp_state(a.qp) == IBV_QPS_RTS, "a left RTS");

	vt_check(!ibv_destroy_qp(a.qp) && !ibv_destroy_qp(b.qp), "destroy");
	vt_check(!ibv_dereg_mr(a.mr) && !ibv_dereg_mr(b.mr), "dereg");
	vt_check(!ibv_destroy_cq(a.cq) && !ibv_destroy_cq(b.cq), "destroy cq");
	vt_close(&v);
	puts("UC: data, drops, refusals and receive errors as specified");
	return 0;
}
