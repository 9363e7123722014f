// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fork + copy-on-write.  The parent registers a buffer, forks; the child
 * writes its copy and then exits (or stays alive); the parent writes new
 * bytes.  For every MR kind — pinned, explicit ODP, implicit ODP — an RDMA
 * READ by a peer QP and compute WRs (a SHA-256 digest checked against
 * OpenSSL, a memcpy out of the buffer) must see exactly the parent's
 * current data, and an RDMA WRITE and a compute WR's output must land
 * where the parent reads.  The child, opening the device itself, gets no
 * access through the parent's keys.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "vt.h"
#include "../../examples/cmr_example.h"

#define LEN (8 * 4096)
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

enum mr_kind { PINNED, ODP, IMPLICIT_ODP };
static const char *const kind_name[] = { "pinned", "explicit ODP",
					 "implicit ODP" };

static struct vt_ctx v;
/* Compute WRs go through their own context, as an application's would. */
static struct cmr_session cs;

static struct ibv_mr *reg_kind(struct ibv_pd *pd, enum mr_kind kind,
			       void *buf, size_t len)
{
	struct ibv_mr *mr;

	if (kind == IMPLICIT_ODP)
		mr = ibv_reg_mr(pd, NULL, SIZE_MAX, RW | IBV_ACCESS_ON_DEMAND);
	else
		mr = ibv_reg_mr(pd, buf, len,
				RW | (kind == ODP ? IBV_ACCESS_ON_DEMAND : 0));
	vt_check(mr, "%s reg_mr", kind_name[kind]);
	return mr;
}

/* One compute WR, src -> dst (no dst for a digest); returns its completion. */
static struct cmr_done compute(enum cmrdv_alg alg, struct ibv_mr *smr,
			       void *src, struct ibv_mr *dmr, void *dst,
			       uint32_t len)
{
	struct cmr_done d;

	ibv_wr_start(cs.qpx);
	cs.qpx->wr_id = alg;
	cs.qpx->wr_flags = IBV_SEND_SIGNALED;
	if (alg == CMRDV_ALG_MEMCPY)
		cmrdv_wr_memcpy(cs.dqp);
	else
		cmrdv_wr_digest(cs.dqp, alg, NULL);
	ibv_wr_set_sge(cs.qpx, smr->lkey, (uintptr_t)src, len);
	if (dmr)
		cmrdv_wr_set_dst_sge(cs.dqp, dmr->lkey, (uintptr_t)dst, len);
	vt_check(!ibv_wr_complete(cs.qpx), "compute ibv_wr_complete");
	cmr_session_wait(&cs, &d);
	vt_check(d.status == IBV_WC_SUCCESS, "compute WR: %s",
		 cmr_done_error(&d));
	return d;
}

static void child_probe(uint64_t addr, uint32_t rkey)
{
	struct vt_ctx cv;
	struct vt_end a, b;
	static char buf[64];
	struct ibv_mr *mr;
	struct ibv_sge s;

	vt_open(&cv, vt_dev());
	vt_pair(&cv, &a, &b);
	mr = vt_reg(&cv, buf, sizeof(buf), RW);
	s = (struct ibv_sge){ (uintptr_t)buf, sizeof(buf), mr->lkey };
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_READ, 1, &s, 1, addr, rkey),
		 "post");
	vt_expect(a.cq, 1, IBV_WC_REM_ACCESS_ERR);
	_exit(0);
}

static void run(enum mr_kind kind, bool child_stays)
{
	struct vt_end a, b;
	struct ibv_mr *mr, *lmr, *cmr, *clmr;
	uint8_t md[SHA256_DIGEST_LENGTH];
	struct cmr_done d;
	char *buf, *local;
	struct ibv_sge s;
	int st;
	pid_t pid;

	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	local = malloc(LEN);
	vt_check(buf != MAP_FAILED && local, "alloc");
	memset(buf, 'A', LEN);
	vt_pair(&v, &a, &b);
	mr = reg_kind(v.pd, kind, buf, LEN);
	lmr = vt_reg(&v, local, LEN, RW);
	cmr = reg_kind(cs.pd, kind, buf, LEN);
	clmr = cmr_session_reg(&cs, local, LEN);

	/* The device has seen the pages before the fork. */
	s = (struct ibv_sge){ (uintptr_t)local, LEN, lmr->lkey };
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_READ, 1, &s, 1,
			       (uintptr_t)buf, mr->rkey), "post");
	vt_expect(a.cq, 1, IBV_WC_SUCCESS);
	compute(CMRDV_ALG_SHA256, cmr, buf, NULL, NULL, LEN);

	pid = fork();
	vt_check(pid >= 0, "fork");
	if (!pid) {
		memset(buf, 'C', LEN);		/* the child's COW copy */
		if (child_stays)
			child_probe((uintptr_t)buf, mr->rkey);
		_exit(0);
	}
	if (!child_stays)
		vt_check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
			 !WEXITSTATUS(st), "child");

	memset(buf, 'P', LEN);			/* the parent's new page */
	memset(local, 0, LEN);
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_READ, 2, &s, 1,
			       (uintptr_t)buf, mr->rkey), "post");
	vt_expect(a.cq, 2, IBV_WC_SUCCESS);
	for (int i = 0; i < LEN; i++)
		vt_check(local[i] == 'P', "%s%s: device read '%c' at %d, "
			 "the parent holds 'P'", kind_name[kind],
			 child_stays ? " (child alive)" : "", local[i], i);

	/* Compute WRs read the parent's current pages too. */
	d = compute(CMRDV_ALG_SHA256, cmr, buf, NULL, NULL, LEN);
	SHA256((uint8_t *)buf, LEN, md);
	vt_check(d.result_len == sizeof(md) && !memcmp(d.result, md, sizeof(md)),
		 "%s: the device digested other bytes than the parent's",
		 kind_name[kind]);
	memset(local, 0, LEN);
	compute(CMRDV_ALG_MEMCPY, cmr, buf, clmr, local, LEN);
	for (int i = 0; i < LEN; i++)
		vt_check(local[i] == 'P', "%s: compute WR read '%c' at %d, "
			 "the parent holds 'P'", kind_name[kind], local[i], i);

	/* The device's writes land in the parent's current pages. */
	memset(local, 'D', LEN);
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 3, &s, 1,
			       (uintptr_t)buf, mr->rkey), "post");
	vt_expect(a.cq, 3, IBV_WC_SUCCESS);
	for (int i = 0; i < LEN; i++)
		vt_check(buf[i] == 'D', "%s: the parent does not see the "
			 "device's write at %d", kind_name[kind], i);
	memset(local, 'E', LEN);
	compute(CMRDV_ALG_MEMCPY, clmr, local, cmr, buf, LEN);
	for (int i = 0; i < LEN; i++)
		vt_check(buf[i] == 'E', "%s: the parent does not see the "
			 "compute WR's output at %d", kind_name[kind], i);

	if (child_stays)
		vt_check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
			 !WEXITSTATUS(st), "child probe failed");
	ibv_dereg_mr(clmr);
	ibv_dereg_mr(cmr);
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(mr);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
	munmap(buf, LEN);
	free(local);
}

int main(void)
{
	struct ibv_device_attr_ex attr = {};
	int kinds = 1;

	vt_open(&v, vt_dev());
	cmr_session_open(&cs, vt_dev(), 4);
	vt_check(!ibv_query_device_ex(v.ctx, NULL, &attr), "query");
	if (attr.odp_caps.general_caps & IBV_ODP_SUPPORT)
		kinds = 2;
	if (attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT)
		kinds = 3;
	for (int k = 0; k < kinds; k++) {
		run(k, false);
		run(k, true);
	}
	cmr_session_close(&cs);
	vt_close(&v);
	if (kinds < 3) {
		printf("ODP kinds not reported by the device: tested pinned only\n");
		return VT_SKIP;
	}
	return 0;
}
