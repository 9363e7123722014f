// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr-bench-odp-prefetch: does ibv_advise_mr(PREFETCH) make the first WR
 * on fresh ODP memory faster?  For each trial, a fresh 1 MiB buffer (pages
 * touched by the CPU, so only the device's page faults differ) is
 * registered with ODP; the first RDMA READ of all of it is timed, once
 * without and once after a prefetch of the whole range.  Prints medians.
 */
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../tests/verbs/vt.h"

#define LEN (1 << 20)
#define TRIALS 15
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	double plain[TRIALS], advised[TRIALS];
	struct vt_ctx v;
	struct vt_end a, b;
	char *local = malloc(LEN);
	struct ibv_mr *lmr;

	vt_open(&v, vt_dev());
	vt_pair(&v, &a, &b);
	lmr = vt_reg(&v, local, LEN, RW);
	for (int t = 0; t < 2 * TRIALS; t++) {
		bool advise = t & 1;
		char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct ibv_mr *mr;
		struct ibv_sge s = { (uintptr_t)local, LEN, lmr->lkey };
		double t0, t1;

		memset(buf, t, LEN);
		mr = vt_reg(&v, buf, LEN, RW | IBV_ACCESS_ON_DEMAND);
		if (advise) {
			struct ibv_sge range = { (uintptr_t)buf, LEN, mr->lkey };

			vt_check(!ibv_advise_mr(v.pd,
						IBV_ADVISE_MR_ADVICE_PREFETCH,
						IBV_ADVISE_MR_FLAG_FLUSH, &range, 1),
				 "advise_mr");
		}
		t0 = now_us();
		vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_READ, t, &s, 1,
				       (uintptr_t)buf, mr->rkey), "post");
		vt_expect(a.cq, t, IBV_WC_SUCCESS);
		t1 = now_us();
		(advise ? advised : plain)[t / 2] = t1 - t0;
		ibv_dereg_mr(mr);
		munmap(buf, LEN);
	}
	qsort(plain, TRIALS, sizeof(double), cmp);
	qsort(advised, TRIALS, sizeof(double), cmp);
	printf("first 1 MiB RDMA READ from fresh ODP memory, median of %d:\n",
	       TRIALS);
	printf("  without prefetch: %9.1f us\n", plain[TRIALS / 2]);
	printf("  after prefetch:   %9.1f us  (ratio %.2f)\n",
	       advised[TRIALS / 2], advised[TRIALS / 2] / plain[TRIALS / 2]);
	ibv_dereg_mr(lmr);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
	vt_close(&v);
	return 0;
}
