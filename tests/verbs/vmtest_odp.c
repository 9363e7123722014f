// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ODP invalidation during traffic: explicit and implicit ODP MRs stay
 * correct while the process zaps (MADV_DONTNEED) and remaps their pages
 * between and during RDMA operations; the device's invalidation and fault
 * counters move.  Skips if the device reports no ODP.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vt.h"

#define PAGES 64
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

static struct vt_ctx v;
static size_t page;
static atomic_bool stop;

static const char *stat_file(const char *name)
{
	static char path[64];

	snprintf(path, sizeof(path), "odp_stats/%s", name);
	return path;
}

/* Zaps the second half of the region while the first half carries traffic. */
static void *zapper(void *arg)
{
	char *half = arg;

	while (!atomic_load(&stop)) {
		madvise(half, PAGES / 2 * page, MADV_DONTNEED);
		sched_yield();
	}
	return NULL;
}

static void traffic(struct ibv_mr *odp_mr, char *region, const char *what)
{
	struct vt_end a, b;
	struct ibv_mr *src_mr;
	char *src = malloc(PAGES * page), *dst = region;
	struct ibv_sge s;
	pthread_t t;
	int i, j;
	uint64_t inval0 = vt_sysfs_u64(vt_dev(), stat_file("invalidations"));
	uint64_t fault0 = vt_sysfs_u64(vt_dev(), stat_file("faults"));

	vt_pair(&v, &a, &b);
	src_mr = vt_reg(&v, src, PAGES * page, RW);
	atomic_store(&stop, false);
	pthread_create(&t, NULL, zapper, region + PAGES / 2 * page);

	for (i = 0; i < 200; i++) {
		size_t off = (i % (PAGES / 2)) * page, len = page + 123;

		if (off + len > PAGES / 2 * page)
			off = 0;
		/* Zap our own target too, so each WRITE meets a fresh fault. */
		if (i % 3 == 0)
			madvise(dst, PAGES / 2 * page, MADV_DONTNEED);
		for (j = 0; j < (int)len; j++)
			src[off + j] = (char)(i * 7 + j);
		s = (struct ibv_sge){ (uintptr_t)src + off, len, src_mr->lkey };
		vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, i, &s, 1,
				       (uintptr_t)dst + off, odp_mr->rkey),
			 "post write");
		vt_expect(a.cq, i, IBV_WC_SUCCESS);
		vt_check(!memcmp(dst + off, src + off, len),
			 "%s: iteration %d: the CPU does not see the device's write",
			 what, i);

		/* And back: READ from the ODP MR sees what the CPU wrote. */
		memset(dst + off, (char)i, 64);
		s = (struct ibv_sge){ (uintptr_t)src, 64, src_mr->lkey };
		vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_READ, i, &s, 1,
				       (uintptr_t)dst + off, odp_mr->rkey),
			 "post read");
		vt_expect(a.cq, i, IBV_WC_SUCCESS);
		for (j = 0; j < 64; j++)
			vt_check(src[j] == (char)i,
				 "%s: iteration %d: the device read stale data",
				 what, i);
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);

	vt_check(vt_sysfs_u64(vt_dev(), stat_file("invalidations")) > inval0,
		 "%s: invalidation counter did not move", what);
	vt_check(vt_sysfs_u64(vt_dev(), stat_file("faults")) > fault0,
		 "%s: fault counter did not move", what);
	ibv_dereg_mr(src_mr);
	free(src);
	vt_end_destroy(&a);
	vt_end_destroy(&b);
}

int main(void)
{
	struct ibv_device_attr_ex attr = {};
	struct ibv_mr *mr;
	char *region;

	page = sysconf(_SC_PAGESIZE);
	vt_open(&v, vt_dev());
	vt_check(!ibv_query_device_ex(v.ctx, NULL, &attr), "query_device_ex");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT)) {
		printf("device reports no ODP\n");
		return VT_SKIP;
	}

	region = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vt_check(region != MAP_FAILED, "mmap");
	mr = vt_reg(&v, region, PAGES * page, RW | IBV_ACCESS_ON_DEMAND);
	traffic(mr, region, "explicit ODP");
	ibv_dereg_mr(mr);

	if (attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT) {
		mr = ibv_reg_mr(v.pd, NULL, SIZE_MAX,
				RW | IBV_ACCESS_ON_DEMAND);
		vt_check(mr, "implicit ODP reg_mr");
		traffic(mr, region, "implicit ODP");
		ibv_dereg_mr(mr);
	} else {
		vt_die("device reports ODP but not implicit ODP");
	}
	munmap(region, PAGES * page);
	vt_close(&v);
	return 0;
}
