// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Every completion error status the engine reports, provoked on purpose
 * and asserted exactly; each error moves the QP to ERR, after which
 * outstanding and newly posted WRs complete with IBV_WC_WR_FLUSH_ERR.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vt.h"

#define BUF 4096
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

static struct vt_ctx v;
static char abuf[BUF], bbuf[BUF];

struct pair {
	struct vt_end a, b;
	struct ibv_mr *amr, *bmr;
};

static void pair_open(struct pair *p, int bmr_access)
{
	vt_pair(&v, &p->a, &p->b);
	p->amr = vt_reg(&v, abuf, BUF, RW);
	p->bmr = vt_reg(&v, bbuf, BUF, bmr_access);
}

static void pair_close(struct pair *p)
{
	ibv_dereg_mr(p->amr);
	ibv_dereg_mr(p->bmr);
	vt_end_destroy(&p->a);
	vt_end_destroy(&p->b);
}

static struct ibv_sge sge(struct ibv_mr *mr, void *addr, uint32_t len)
{
	return (struct ibv_sge){ .addr = (uintptr_t)addr, .length = len,
				 .lkey = mr->lkey };
}

/* After an error the QP is in ERR: the next WR is flushed. */
static void expect_flush_next(struct pair *p)
{
	struct ibv_sge s = sge(p->amr, abuf, 8);

	vt_check(!vt_post_send(p->a.qp, IBV_WR_RDMA_WRITE, 99, &s, 1,
			       (uintptr_t)bbuf, p->bmr->rkey), "post");
	vt_expect(p->a.cq, 99, IBV_WC_WR_FLUSH_ERR);
}

static void bad_lkey(void)
{
	struct pair p;
	struct ibv_sge s;

	pair_open(&p, RW);
	s = sge(p.amr, abuf, 8);
	s.lkey ^= 0x5a5a00;
	vt_check(!vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
			       (uintptr_t)bbuf, p.bmr->rkey), "post");
	vt_expect(p.a.cq, 1, IBV_WC_LOC_PROT_ERR);
	expect_flush_next(&p);
	pair_close(&p);
}

static void sge_outside_mr(void)
{
	struct pair p;
	struct ibv_sge s;

	pair_open(&p, RW);
	s = sge(p.amr, abuf + BUF - 4, 8);	/* runs 4 bytes past the MR */
	vt_check(!vt_post_send(p.a.qp, IBV_WR_SEND, 2, &s, 1, 0, 0), "post");
	vt_expect(p.a.cq, 2, IBV_WC_LOC_PROT_ERR);
	pair_close(&p);
}

static void write_without_remote_write(void)
{
	struct pair p;
	struct ibv_sge s;

	pair_open(&p, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	memset(bbuf, 0x11, BUF);
	memset(abuf, 0x22, BUF);
	s = sge(p.amr, abuf, 64);
	vt_check(!vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 3, &s, 1,
			       (uintptr_t)bbuf, p.bmr->rkey), "post");
	vt_expect(p.a.cq, 3, IBV_WC_REM_ACCESS_ERR);
	vt_check(bbuf[0] == 0x11, "a refused write changed the target");
	expect_flush_next(&p);
	pair_close(&p);
}

/*
 * An RDMA operation the responder's QP does not enable is an invalid
 * request (IB's NAK, rxe's status), even at zero length; the MR's rights
 * are then not looked at.
 */
static void op_not_enabled_by_qp(enum ibv_wr_opcode opcode, uint32_t len,
				 int qp_access)
{
	struct vt_qp_opts o = { .rnr_retry = 7, .min_rnr_timer = 1,
				.access = qp_access };
	struct vt_end a, b;
	struct ibv_mr *amr = vt_reg(&v, abuf, BUF, RW);
	struct ibv_mr *bmr = vt_reg(&v, bbuf, BUF, RW);
	struct ibv_sge s = sge(amr, abuf, len);

	vt_end_create(&v, &a, 8);
	vt_end_create(&v, &b, 8);
	vt_connect(&v, &a, &b, &o);
	memset(bbuf, 0x11, BUF);
	memset(abuf, 0x22, BUF);
	vt_check(!vt_post_send(a.qp, opcode, 6, &s, 1, (uintptr_t)bbuf,
			       bmr->rkey), "post");
	vt_expect(a.cq, 6, IBV_WC_REM_INV_REQ_ERR);
	vt_check(bbuf[0] == 0x11 && abuf[0] == 0x22,
		 "a refused operation moved data");
	ibv_dereg_mr(amr);
	ibv_dereg_mr(bmr);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

static void bad_rkey_and_range(void)
{
	struct pair p;
	struct ibv_sge s;

	pair_open(&p, RW);
	s = sge(p.amr, abuf, 64);
	vt_check(!vt_post_send(p.a.qp, IBV_WR_RDMA_READ, 4, &s, 1,
			       (uintptr_t)bbuf, p.bmr->rkey + 0x100), "post");
	vt_expect(p.a.cq, 4, IBV_WC_REM_ACCESS_ERR);
	pair_close(&p);

	pair_open(&p, RW);
	s = sge(p.amr, abuf, 64);
	vt_check(!vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 5, &s, 1,
			       (uintptr_t)bbuf + BUF - 32, p.bmr->rkey), "post");
	vt_expect(p.a.cq, 5, IBV_WC_REM_ACCESS_ERR);
	pair_close(&p);
}

static void read_into_readonly_mr(void)
{
	struct pair p;
	struct ibv_mr *ro;
	struct ibv_sge s;
	static char rbuf[BUF];

	pair_open(&p, RW);
	ro = vt_reg(&v, rbuf, BUF, 0);
	s = sge(ro, rbuf, 64);
	vt_check(!vt_post_send(p.a.qp, IBV_WR_RDMA_READ, 6, &s, 1,
			       (uintptr_t)bbuf, p.bmr->rkey), "post");
	vt_expect(p.a.cq, 6, IBV_WC_LOC_PROT_ERR);
	ibv_dereg_mr(ro);
	pair_close(&p);
}

static void recv_too_small(void)
{
	struct pair p;
	struct ibv_sge s, r;

	pair_open(&p, RW);
	r = sge(p.bmr, bbuf, 16);
	vt_check(!vt_post_recv(p.b.qp, 70, &r, 1), "post_recv");
	s = sge(p.amr, abuf, 64);
	vt_check(!vt_post_send(p.a.qp, IBV_WR_SEND, 7, &s, 1, 0, 0), "post");
	vt_expect(p.b.cq, 70, IBV_WC_LOC_LEN_ERR);
	vt_expect(p.a.cq, 7, IBV_WC_REM_INV_REQ_ERR);
	pair_close(&p);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Busy clock ticks of all CPUs so far (user, nice, system, irq, softirq). */
static unsigned long long busy_ticks(void)
{
	unsigned long long t[7] = {};
	FILE *f = fopen("/proc/stat", "r");

	vt_check(f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu",
			     &t[0], &t[1], &t[2], &t[3], &t[4], &t[5],
			     &t[6]) == 7, "/proc/stat");
	fclose(f);
	return t[0] + t[1] + t[2] + t[5] + t[6];
}

/*
 * Every retry waits out the receiver's RNR timer anew: 4 retries of a
 * 30.72 ms timer take at least 4 timer periods, not one.
 */
static void rnr_retry_exceeded(void)
{
	struct vt_qp_opts o = { .rnr_retry = 4, .min_rnr_timer = 23,
				.access = IBV_ACCESS_LOCAL_WRITE };
	struct vt_end a, b;
	struct ibv_mr *mr = vt_reg(&v, abuf, BUF, RW);
	struct ibv_sge s = sge(mr, abuf, 8);
	double t;

	vt_end_create(&v, &a, 8);
	vt_end_create(&v, &b, 8);
	vt_connect(&v, &a, &b, &o);
	t = now_ms();
	vt_check(!vt_post_send(a.qp, IBV_WR_SEND, 8, &s, 1, 0, 0), "post");
	vt_expect(a.cq, 8, IBV_WC_RNR_RETRY_EXC_ERR);
	t = now_ms() - t;
	vt_check(t >= 4 * 30.72, "4 RNR retries of 30.72 ms took %.1f ms", t);
	ibv_dereg_mr(mr);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

/*
 * Retrying for ever waits between retries rather than spinning, and a
 * receive posted at last lets the SEND through.
 */
static void rnr_waits_idle(void)
{
	struct vt_qp_opts o = { .rnr_retry = 7, .min_rnr_timer = 1,
				.access = IBV_ACCESS_LOCAL_WRITE };
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long busy;
	struct ibv_mr *mr = vt_reg(&v, abuf, BUF, RW);
	struct ibv_sge s = sge(mr, abuf, 8), r = sge(mr, abuf + 64, 8);
	struct vt_end a, b;

	vt_end_create(&v, &a, 8);
	vt_end_create(&v, &b, 8);
	vt_connect(&v, &a, &b, &o);
	vt_check(!vt_post_send(a.qp, IBV_WR_SEND, 10, &s, 1, 0, 0), "post");
	usleep(100000);		/* the first retries are under way */
	busy = busy_ticks();
	sleep(1);
	busy = busy_ticks() - busy;
	vt_check(busy < (unsigned long long)hz / 2,
		 "CPUs busy for %llu of %ld ticks while a SEND waits for a "
		 "receive", busy, hz);
	vt_check(!vt_post_recv(b.qp, 11, &r, 1), "post_recv");
	vt_expect(b.cq, 11, IBV_WC_SUCCESS);
	vt_expect(a.cq, 10, IBV_WC_SUCCESS);
	ibv_dereg_mr(mr);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

static void flush_on_error_state(void)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct pair p;
	struct ibv_sge r;
	int i;

	pair_open(&p, RW);
	for (i = 0; i < 3; i++) {
		r = sge(p.bmr, bbuf + 64 * i, 64);
		vt_check(!vt_post_recv(p.b.qp, 80 + i, &r, 1), "post_recv");
	}
	vt_check(!ibv_modify_qp(p.b.qp, &attr, IBV_QP_STATE), "to ERR");
	for (i = 0; i < 3; i++)
		vt_expect(p.b.cq, 80 + i, IBV_WC_WR_FLUSH_ERR);
	/* Posted after the transition: flushed as well. */
	r = sge(p.bmr, bbuf, 64);
	vt_check(!vt_post_recv(p.b.qp, 90, &r, 1), "post_recv in ERR");
	vt_expect(p.b.cq, 90, IBV_WC_WR_FLUSH_ERR);
	pair_close(&p);
}

static void peer_gone(void)
{
	struct vt_qp_opts o = { .rnr_retry = 7, .min_rnr_timer = 1,
				.access = RW };
	struct vt_end a, b;
	struct ibv_mr *mr = vt_reg(&v, abuf, BUF, RW);
	struct ibv_sge s = sge(mr, abuf, 8);

	vt_end_create(&v, &a, 8);
	vt_end_create(&v, &b, 8);
	vt_connect(&v, &a, &b, &o);
	vt_end_destroy(&b);
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 9, &s, 1,
			       (uintptr_t)abuf, mr->rkey), "post");
	vt_expect(a.cq, 9, IBV_WC_RETRY_EXC_ERR);
	ibv_dereg_mr(mr);
	vt_end_destroy(&a);
}

int main(void)
{
	vt_open(&v, vt_dev());
	bad_lkey();
	sge_outside_mr();
	write_without_remote_write();
	op_not_enabled_by_qp(IBV_WR_RDMA_WRITE, 64, IBV_ACCESS_REMOTE_READ);
	op_not_enabled_by_qp(IBV_WR_RDMA_WRITE, 0, IBV_ACCESS_REMOTE_READ);
	op_not_enabled_by_qp(IBV_WR_RDMA_WRITE_WITH_IMM, 64,
			     IBV_ACCESS_REMOTE_READ);
	op_not_enabled_by_qp(IBV_WR_RDMA_READ, 64, IBV_ACCESS_REMOTE_WRITE);
	bad_rkey_and_range();
	read_into_readonly_mr();
	recv_too_small();
	rnr_retry_exceeded();
	rnr_waits_idle();
	flush_on_error_state();
	peer_gone();
	vt_close(&v);
	return 0;
}
