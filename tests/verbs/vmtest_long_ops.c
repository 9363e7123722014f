// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Operations that take seconds here do not make the rest of the module
 * wait, and stop when what they use goes away.
 *
 * Long RDMA WRITEs, READs, SENDs and RDMA WRITEs with immediate (1 GiB,
 * over buffers whose 64 MiB of memory are mapped 16 times over): the data
 * arrives intact; the rest of the module does not wait for them (an
 * unrelated dereg_mr and destroy_qp meanwhile take less than a quarter of
 * one WR's time); and an MR deregistered under a running WR neither waits
 * for it nor lets it go on: the WR fails with a remote access error (the
 * remote MR of a WRITE, with immediate or not), a local protection error
 * (the local MR of a READ) or a remote operational error (the receive
 * buffer of a SEND, whose receive completes with a local protection
 * error).  A short SEND to another QP on the same SRQ, waiting for it,
 * makes nobody else wait either.
 *
 * The prefetch of a 16 GiB ODP MR over untouched memory (ibv_advise_mr,
 * synchronous, four SGEs): the same, and an MR deregistered under its prefetch ends
 * the prefetch (ENOENT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vt.h"

#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

/*
 * Each buffer: MEM bytes of memory seen len / MEM times in a row, so that
 * a message as long as the device takes needs little memory.  Every copy
 * of src holds the same bytes, so every copy of dst ends up with them.
 */
enum { MEM = 64 << 20 };
static size_t len = (size_t)1 << 30;

static struct vt_ctx v;
static uint8_t *src, *dst;

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t *w = (uint64_t *)p, x = seed;
	size_t i;

	for (i = 0; i < n / 8; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		w[i] = x;
	}
}

static uint8_t *aliased(size_t n)
{
	int fd = memfd_create("vmtest_long_ops", 0);
	uint8_t *p;
	size_t off;

	vt_check(fd >= 0 && !ftruncate(fd, MEM), "memfd");
	p = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vt_check(p != MAP_FAILED, "mmap %zu", n);
	for (off = 0; off < n; off += MEM)
		vt_check(mmap(p + off, MEM, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_FIXED, fd, 0) == p + off,
			 "mmap alias");
	close(fd);
	return p;
}

static const char *op_name(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
		return "RDMA WRITE";
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return "RDMA WRITE with immediate";
	case IBV_WR_SEND:
		return "SEND";
	default:
		return "RDMA READ";
	}
}

/* Does op deliver to a receive WQE of the peer? */
static bool op_receives(enum ibv_wr_opcode op)
{
	return op == IBV_WR_SEND || op == IBV_WR_RDMA_WRITE_WITH_IMM;
}

/*
 * k WRs of op between src (a's side) and dst (b's side), the first at
 * offset 0; returns their average time and the last completion.  A SEND
 * lands in a receive of all of dst posted on b first; a WRITE with
 * immediate consumes one.
 */
static double run(struct vt_end *a, struct vt_end *b, enum ibv_wr_opcode op,
		  struct ibv_mr *smr, struct ibv_mr *dmr, int k,
		  struct ibv_wc *wc)
{
	/* A WRITE sends src to dst; a READ fetches dst into src. */
	struct ibv_sge sge = {
		.addr = (uintptr_t)src, .length = len, .lkey = smr->lkey,
	};
	struct ibv_sge rsge = {
		.addr = (uintptr_t)dst, .length = len, .lkey = dmr->lkey,
	};
	double t0;
	int i;

	for (i = 0; i < k && op_receives(op); i++)
		vt_check(!vt_post_recv(b->qp, 100 + i, &rsge, 1), "post_recv");
	t0 = vt_now_s();
	for (i = 0; i < k; i++)
		vt_check(!vt_post_send(a->qp, op, i, &sge, 1, (uintptr_t)dst,
				       dmr->rkey), "post %s", op_name(op));
	for (i = 0; i < k; i++) {
		vt_poll(a->cq, wc, 600000);
		if (wc->status != IBV_WC_SUCCESS)
			break;
	}
	return (vt_now_s() - t0) / k;
}

/* Seconds one uninterrupted WR of each opcode took (intact()). */
static double wr_seconds[IBV_WR_DRIVER1 + 1];

/* Intact data, and nobody else waits for the WRs. */
static void intact(enum ibv_wr_opcode op)
{
	struct vt_stall_probe probe = { .pd = v.pd };
	struct ibv_mr *smr, *dmr;
	struct vt_end a, b;
	struct ibv_wc wc;
	pthread_t th;
	double one;

	fill(src, MEM, op);
	fill(dst, MEM, op + 100);
	vt_pair(&v, &a, &b);
	smr = vt_reg(&v, src, len, RW);
	dmr = vt_reg(&v, dst, len, RW);
	vt_check(!pthread_create(&th, NULL, vt_stall_probe, &probe), "thread");
	one = run(&a, &b, op, smr, dmr, 2, &wc);
	pthread_join(th, NULL);
	vt_check(wc.status == IBV_WC_SUCCESS, "%s: %s", op_name(op),
		 ibv_wc_status_str(wc.status));
	for (int i = 0; i < 2 && op_receives(op); i++) {
		vt_poll(b.cq, &wc, 10000);
		vt_check(wc.status == IBV_WC_SUCCESS && wc.byte_len == len,
			 "%s: receive %s, %u bytes", op_name(op),
			 ibv_wc_status_str(wc.status), wc.byte_len);
	}
	vt_check(!memcmp(src, dst, MEM), "%s: the data differs", op_name(op));
	printf("two %s WRs of %zu MiB: %.2f s each; meanwhile an unrelated dereg_mr took %.3f s, destroy_qp %.3f s\n",
	       op_name(op), len >> 20, one, probe.dereg, probe.destroy);
	vt_check(one > 0.25, "%.2f s WRs are too short to test this", one);
	wr_seconds[op] = one;
	vt_check(probe.dereg < one / 4 && probe.destroy < one / 4,
		 "dereg_mr %.3f s, destroy_qp %.3f s waited for %.2f s WRs",
		 probe.dereg, probe.destroy, one);
	vt_check(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr), "dereg_mr");
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

struct dereg_later {
	struct ibv_mr *mr;
	double start, took;
};

/* 0.3 s from now (the doorbell runs the WR in the posting thread). */
static void *dereg_later(void *arg)
{
	struct dereg_later *t = arg;

	usleep(300000);
	t->start = vt_now_s();
	vt_check(!ibv_dereg_mr(t->mr), "dereg_mr");
	t->took = vt_now_s() - t->start;
	return NULL;
}

/*
 * The MR a long WR writes into (dst of a WRITE or SEND, on the peer's
 * side; src of a READ, on ours) deregistered 0.3 s into it.
 */
static void mr_gone(enum ibv_wr_opcode op, enum ibv_wc_status expect)
{
	bool ours = op == IBV_WR_RDMA_READ;
	struct dereg_later t = {};
	struct ibv_mr *smr, *dmr;
	struct vt_end a, b;
	struct ibv_wc wc;
	double start, end;
	pthread_t th;

	vt_pair(&v, &a, &b);
	smr = vt_reg(&v, src, len, RW);
	dmr = vt_reg(&v, dst, len, RW);
	t.mr = ours ? smr : dmr;
	start = vt_now_s();
	vt_check(!pthread_create(&th, NULL, dereg_later, &t), "thread");
	run(&a, &b, op, smr, dmr, 1, &wc);
	end = vt_now_s();
	pthread_join(th, NULL);
	printf("%s: its %s MR deregistered %.2f s into it: dereg_mr took %.3f s, the WR ended %.2f s in: %s\n",
	       op_name(op), ours ? "local" : "remote",
	       t.start - start, t.took, end - start,
	       ibv_wc_status_str(wc.status));
	vt_check(t.start < end, "the WR ended before the dereg_mr");
	vt_check(wc.status == expect, "%s: %s, not %s", op_name(op),
		 ibv_wc_status_str(wc.status), ibv_wc_status_str(expect));
	/* The WR ends with the dereg_mr: measure against a whole one. */
	vt_check(t.took < wr_seconds[op] / 4,
		 "dereg_mr %.3f s waited for a %.2f s WR", t.took,
		 wr_seconds[op]);
	if (op == IBV_WR_SEND) {
		/* The receiver saw its buffer go: the receive says so. */
		vt_poll(b.cq, &wc, 10000);
		vt_check(wc.status == IBV_WC_LOC_PROT_ERR,
			 "the receive under the SEND: %s",
			 ibv_wc_status_str(wc.status));
	}
	vt_check(!ibv_dereg_mr(ours ? dmr : smr), "dereg_mr");
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

struct post_later {
	struct ibv_qp *qp;
	struct ibv_sge sge;
	useconds_t delay;
};

/* A SEND posted delay from now, in a thread of its own: the doorbell runs it. */
static void *post_later(void *arg)
{
	struct post_later *p = arg;

	usleep(p->delay);
	vt_check(!vt_post_send(p->qp, IBV_WR_SEND, 1, &p->sge, 1, 0, 0),
		 "post");
	return NULL;
}

/*
 * Two requesters on one SRQ: while the longest SEND the device takes fills
 * one receive, a short SEND to the other QP waits for the SRQ, and the
 * rest of the module must not wait with it: an unrelated dereg_mr 0.2 s
 * in, the short SEND posted 0.1 s before.
 */
static void srq_shared(void)
{
	const size_t big = (size_t)1 << 31;
	struct vt_qp_opts o = { .rnr_retry = 7, .min_rnr_timer = 1,
				.access = RW };
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 4, .max_sge = 1 } };
	static uint8_t small[64], other[64];
	struct post_later x = { .delay = 0 }, y = { .delay = 100000 };
	struct ibv_mr *smr, *dmr, *mmr, *omr;
	uint8_t *bsrc = aliased(big), *bdst = aliased(big);
	struct vt_end a1, a2, b1, b2;
	struct ibv_qp_init_attr qa;
	double t0, dereg_at, dereg, one;
	struct ibv_srq *srq;
	pthread_t tx, ty;
	struct ibv_sge r;
	struct ibv_wc wc;

	srq = ibv_create_srq(v.pd, &sa);
	vt_check(srq, "create_srq");
	vt_end_create(&v, &a1, 4);
	vt_end_create(&v, &a2, 4);
	for (int i = 0; i < 2; i++) {
		struct vt_end *b = i ? &b2 : &b1;

		b->cq = ibv_create_cq(v.ctx, 8, NULL, NULL, 0);
		vt_check(b->cq, "create_cq");
		qa = (struct ibv_qp_init_attr){
			.send_cq = b->cq, .recv_cq = b->cq, .srq = srq,
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = 1, .max_send_sge = 1 },
		};
		b->qp = ibv_create_qp(v.pd, &qa);
		vt_check(b->qp, "create_qp on the SRQ");
	}
	vt_connect(&v, &a1, &b1, &o);
	vt_connect(&v, &a2, &b2, &o);
	fill(bsrc, MEM, 7);
	smr = vt_reg(&v, bsrc, big, RW);
	dmr = vt_reg(&v, bdst, big, RW);
	mmr = vt_reg(&v, small, sizeof(small), RW);
	omr = vt_reg(&v, other, sizeof(other), RW);
	/* In order: the long SEND takes the first receive. */
	r = (struct ibv_sge){ (uintptr_t)bdst, big, dmr->lkey };
	vt_check(!ibv_post_srq_recv(srq, &(struct ibv_recv_wr){
		.wr_id = 1, .sg_list = &r, .num_sge = 1 },
		&(struct ibv_recv_wr *){ NULL }), "post_srq_recv");
	r = (struct ibv_sge){ (uintptr_t)small + 32, 8, mmr->lkey };
	vt_check(!ibv_post_srq_recv(srq, &(struct ibv_recv_wr){
		.wr_id = 2, .sg_list = &r, .num_sge = 1 },
		&(struct ibv_recv_wr *){ NULL }), "post_srq_recv");
	memcpy(small, "shortmsg", 8);
	x.qp = a1.qp;
	x.sge = (struct ibv_sge){ (uintptr_t)bsrc, big, smr->lkey };
	y.qp = a2.qp;
	y.sge = (struct ibv_sge){ (uintptr_t)small, 8, mmr->lkey };

	t0 = vt_now_s();
	vt_check(!pthread_create(&tx, NULL, post_later, &x) &&
		 !pthread_create(&ty, NULL, post_later, &y), "threads");
	usleep(200000);
	dereg_at = vt_now_s() - t0;
	vt_check(!ibv_dereg_mr(omr), "dereg_mr");
	dereg = vt_now_s() - t0 - dereg_at;
	vt_poll(a1.cq, &wc, 600000);
	one = vt_now_s() - t0;
	vt_check(wc.status == IBV_WC_SUCCESS, "long SEND: %s",
		 ibv_wc_status_str(wc.status));
	vt_poll(a2.cq, &wc, 600000);
	vt_check(wc.status == IBV_WC_SUCCESS, "short SEND: %s",
		 ibv_wc_status_str(wc.status));
	pthread_join(tx, NULL);
	pthread_join(ty, NULL);
	vt_poll(b1.cq, &wc, 10000);
	vt_check(wc.status == IBV_WC_SUCCESS && wc.wr_id == 1 &&
		 wc.byte_len == big, "long receive: %s, %u B",
		 ibv_wc_status_str(wc.status), wc.byte_len);
	vt_poll(b2.cq, &wc, 10000);
	vt_check(wc.status == IBV_WC_SUCCESS && wc.wr_id == 2 &&
		 wc.byte_len == 8 && !memcmp(small + 32, "shortmsg", 8),
		 "short receive: %s, %u B", ibv_wc_status_str(wc.status),
		 wc.byte_len);
	vt_check(!memcmp(bsrc, bdst, MEM), "the long SEND's data differs");
	printf("a %zu MiB SEND and a short one to another QP on its SRQ: %.2f s; an unrelated dereg_mr %.2f s in took %.3f s\n",
	       big >> 20, one, dereg_at, dereg);
	vt_check(dereg_at + 0.1 < one, "a %.2f s SEND is too short to test this",
		 one);
	vt_check(dereg < (one - dereg_at) / 4,
		 "dereg_mr %.3f s waited for a SEND to another QP", dereg);
	vt_check(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr) &&
		 !ibv_dereg_mr(mmr), "dereg_mr");
	vt_end_destroy(&a1);
	vt_end_destroy(&a2);
	vt_end_destroy(&b1);
	vt_end_destroy(&b2);
	vt_check(!ibv_destroy_srq(srq), "destroy_srq");
	munmap(bsrc, big);
	munmap(bdst, big);
}

/* Four SGEs of the most one holds: 16 GiB less four pages. */
#define PREFETCH_SGES	4
#define PREFETCH_SGE	0xfffff000u
#define PREFETCH_LEN	(PREFETCH_SGES * (size_t)PREFETCH_SGE)

/* The prefetch of all of an ODP MR over untouched (zero-page) memory. */
static int prefetch(struct ibv_mr *mr, uint8_t *buf)
{
	struct ibv_sge sge[PREFETCH_SGES];
	int i;

	for (i = 0; i < PREFETCH_SGES; i++)
		sge[i] = (struct ibv_sge){
			.addr = (uintptr_t)buf + i * (size_t)PREFETCH_SGE,
			.length = PREFETCH_SGE, .lkey = mr->lkey,
		};
	return ibv_advise_mr(v.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			     IBV_ADVISE_MR_FLAG_FLUSH, sge, PREFETCH_SGES);
}

static void long_prefetch(void)
{
	struct vt_stall_probe probe = { .pd = v.pd };
	struct dereg_later t = {};
	struct ibv_mr *mr;
	double one, start, end;
	uint8_t *buf;
	pthread_t th;
	int ret;

	buf = mmap(NULL, PREFETCH_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	vt_check(buf != MAP_FAILED, "mmap");
	mr = vt_reg(&v, buf, PREFETCH_LEN, IBV_ACCESS_ON_DEMAND | RW);
	vt_check(!pthread_create(&th, NULL, vt_stall_probe, &probe), "thread");
	start = vt_now_s();
	ret = prefetch(mr, buf);
	one = vt_now_s() - start;
	pthread_join(th, NULL);
	vt_check(!ret, "ibv_advise_mr: %s", strerror(ret));
	printf("the prefetch of a %zu MiB ODP MR: %.2f s; meanwhile an unrelated dereg_mr took %.3f s, destroy_qp %.3f s\n",
	       PREFETCH_LEN >> 20, one, probe.dereg, probe.destroy);
	vt_check(one > 0.75, "a %.2f s prefetch is too short to test this",
		 one);
	vt_check(probe.dereg < one / 4 && probe.destroy < one / 4,
		 "dereg_mr %.3f s, destroy_qp %.3f s waited for a %.2f s prefetch",
		 probe.dereg, probe.destroy, one);
	vt_check(!ibv_dereg_mr(mr), "dereg_mr");

	/* Unmapped pages are gone: the next prefetch faults them again. */
	vt_check(!munmap(buf, PREFETCH_LEN), "munmap");
	buf = mmap(NULL, PREFETCH_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	vt_check(buf != MAP_FAILED, "mmap");
	t.mr = vt_reg(&v, buf, PREFETCH_LEN, IBV_ACCESS_ON_DEMAND | RW);
	start = vt_now_s();
	vt_check(!pthread_create(&th, NULL, dereg_later, &t), "thread");
	ret = prefetch(t.mr, buf);
	end = vt_now_s();
	pthread_join(th, NULL);
	printf("its MR deregistered %.2f s into a prefetch: dereg_mr took %.3f s, the prefetch ended %.2f s in: %s\n",
	       t.start - start, t.took, end - start, strerror(ret));
	vt_check(t.start < end, "the prefetch ended before the dereg_mr");
	vt_check(ret == ENOENT, "ibv_advise_mr: %s, not ENOENT",
		 strerror(ret));
	vt_check(t.took < one / 4, "dereg_mr %.3f s waited for the prefetch",
		 t.took);
	munmap(buf, PREFETCH_LEN);
}

int main(void)
{
	const char *env = getenv("CMR_LONG_RDMA_MIB");

	if (env)
		len = (strtoull(env, NULL, 0) << 20) / MEM * MEM;
	vt_open(&v, vt_dev());
	src = aliased(len);
	dst = aliased(len);
	intact(IBV_WR_RDMA_WRITE);
	intact(IBV_WR_RDMA_READ);
	intact(IBV_WR_SEND);
	intact(IBV_WR_RDMA_WRITE_WITH_IMM);
	mr_gone(IBV_WR_RDMA_WRITE, IBV_WC_REM_ACCESS_ERR);
	mr_gone(IBV_WR_RDMA_READ, IBV_WC_LOC_PROT_ERR);
	mr_gone(IBV_WR_SEND, IBV_WC_REM_OP_ERR);
	mr_gone(IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WC_REM_ACCESS_ERR);
	srq_shared();
	long_prefetch();
	munmap(src, len);
	munmap(dst, len);
	vt_close(&v);
	return 0;
}
