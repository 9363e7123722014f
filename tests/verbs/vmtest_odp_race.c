// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Races: while threads munmap/mmap, madvise(DONTNEED) and fork
 * continuously, others post RDMA READs and WRITEs on the same ranges
 * through explicit and implicit ODP MRs, for a bounded time.  The ranges
 * only ever hold zero pages or pages filled with PATTERN, so every
 * successful READ must return only those bytes — anything else is a stale
 * or foreign page — and every failed WR must fail with an access error.
 * The VM runner checks the kernel log and the module unload afterwards.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vt.h"

#define PAGES 32
#define PATTERN 0x5c
#define SECONDS 8
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND)

static struct vt_ctx v;
static char *region;
static size_t page;
static atomic_bool stop;
static atomic_ulong reads_ok, writes_ok, errors;

static void *remapper(void *arg)
{
	unsigned int seed = 1;

	(void)arg;
	while (!atomic_load(&stop)) {
		size_t p = rand_r(&seed) % PAGES;
		char *at = region + p * page;

		switch (rand_r(&seed) % 3) {
		case 0:
			munmap(at, page);
			mmap(at, page, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 1:
			madvise(at, page, MADV_DONTNEED);
			break;
		default:
			memset(at, PATTERN, page);
			break;
		}
	}
	return NULL;
}

static void *forker(void *arg)
{
	int st;
	pid_t pid;

	(void)arg;
	while (!atomic_load(&stop)) {
		pid = fork();
		if (!pid)
			_exit(0);
		if (pid > 0)
			waitpid(pid, &st, 0);
		usleep(2000);
	}
	return NULL;
}

static void *poster(void *arg)
{
	bool implicit = (uintptr_t)arg;
	struct vt_end a, b;
	struct ibv_mr *mr, *lmr;
	char *local = malloc(4 * page);
	unsigned int seed = implicit ? 7 : 3;
	struct ibv_sge s;
	struct ibv_wc wc;
	uint64_t id = 0;

	lmr = vt_reg(&v, local, 4 * page, RW & ~IBV_ACCESS_ON_DEMAND);
	mr = implicit ? ibv_reg_mr(v.pd, NULL, SIZE_MAX, RW) :
			ibv_reg_mr(v.pd, region, PAGES * page, RW);
	vt_check(mr, "reg_mr");
	vt_pair(&v, &a, &b);
	while (!atomic_load(&stop)) {
		size_t off = rand_r(&seed) % ((PAGES - 3) * page);
		uint32_t len = 1 + rand_r(&seed) % (3 * page);
		bool write = rand_r(&seed) & 1;

		if (write)
			memset(local, PATTERN, len);
		else
			memset(local, 0xee, len);
		s = (struct ibv_sge){ (uintptr_t)local, len, lmr->lkey };
		vt_check(!vt_post_send(a.qp, write ? IBV_WR_RDMA_WRITE :
				       IBV_WR_RDMA_READ, ++id, &s, 1,
				       (uintptr_t)region + off, mr->rkey),
			 "post");
		vt_poll(a.cq, &wc, 10000);
		if (wc.status != IBV_WC_SUCCESS) {
			vt_check(wc.status == IBV_WC_REM_ACCESS_ERR,
				 "unexpected status %s",
				 ibv_wc_status_str(wc.status));
			atomic_fetch_add(&errors, 1);
			vt_end_destroy(&a);
			vt_end_destroy(&b);
			vt_pair(&v, &a, &b);
			continue;
		}
		if (write) {
			atomic_fetch_add(&writes_ok, 1);
			continue;
		}
		for (uint32_t i = 0; i < len; i++)
			vt_check(local[i] == 0 || local[i] == PATTERN,
				 "READ returned 0x%02x at +%u: a stale page",
				 (unsigned char)local[i], i);
		atomic_fetch_add(&reads_ok, 1);
	}
	vt_end_destroy(&a);
	vt_end_destroy(&b);
	ibv_dereg_mr(mr);
	ibv_dereg_mr(lmr);
	free(local);
	return NULL;
}

int main(void)
{
	struct ibv_device_attr_ex attr = {};
	pthread_t t[4];
	int i;

	page = sysconf(_SC_PAGESIZE);
	vt_open(&v, vt_dev());
	vt_check(!ibv_query_device_ex(v.ctx, NULL, &attr), "query");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT)) {
		printf("device reports no implicit ODP\n");
		return VT_SKIP;
	}
	region = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vt_check(region != MAP_FAILED, "mmap");
	memset(region, PATTERN, PAGES * page);

	pthread_create(&t[0], NULL, poster, (void *)0);
	pthread_create(&t[1], NULL, poster, (void *)1);
	pthread_create(&t[2], NULL, remapper, NULL);
	pthread_create(&t[3], NULL, forker, NULL);
	sleep(SECONDS);
	atomic_store(&stop, true);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);

	printf("reads ok %lu, writes ok %lu, access errors %lu\n",
	       atomic_load(&reads_ok), atomic_load(&writes_ok),
	       atomic_load(&errors));
	vt_check(atomic_load(&reads_ok) > 10 && atomic_load(&writes_ok) > 10,
		 "too little traffic to mean anything");
	munmap(region, PAGES * page);
	vt_close(&v);
	return 0;
}
