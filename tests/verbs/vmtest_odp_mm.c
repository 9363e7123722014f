// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ODP MRs against everything the process can do to its address space:
 * munmap (then a WR on the range is an error completion, never stale data;
 * mmap again at the same address and implicit ODP sees the new contents),
 * mremap, mprotect(PROT_READ) on a destination, MAP_SHARED file-backed
 * memory, transparent huge pages, and a mapping larger than the VM's RAM
 * registered whole but touched only in places; an implicit MR keeps no
 * kernel memory for what maps nothing.  Pinned MRs are checked
 * where their documented semantics differ: they keep the pages they
 * pinned, whatever the process does to the mapping.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vt.h"

#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)
#define ODP_RW (RW | IBV_ACCESS_ON_DEMAND)

static struct vt_ctx v;
static struct vt_end a, b;
static char *local;
static struct ibv_mr *lmr;
static size_t page;
static uint64_t wr_id;

static void *map(void *addr, size_t len, int flags)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	vt_check(p != MAP_FAILED, "mmap");
	return p;
}

/* RDMA op between the local buffer and (addr, rkey); returns the status. */
static enum ibv_wc_status rdma(enum ibv_wr_opcode op, void *addr,
			       uint32_t rkey, uint32_t len)
{
	struct ibv_sge s = { (uintptr_t)local, len, lmr->lkey };
	struct ibv_wc wc;

	vt_check(!vt_post_send(a.qp, op, ++wr_id, &s, 1, (uintptr_t)addr, rkey),
		 "post");
	vt_poll(a.cq, &wc, 5000);
	vt_check(wc.wr_id == wr_id, "wr_id");
	if (wc.status != IBV_WC_SUCCESS) {
		/* An error leaves the pair in ERR: make a fresh one. */
		vt_end_destroy(&a);
		vt_end_destroy(&b);
		vt_pair(&v, &a, &b);
	}
	return wc.status;
}

static void munmap_then_wr(void)
{
	char *buf = map(NULL, 4 * page, 0);
	struct ibv_mr *mr, *imr;
	enum ibv_wc_status st;

	memset(buf, 'x', 4 * page);
	mr = vt_reg(&v, buf, 4 * page, ODP_RW);
	imr = ibv_reg_mr(v.pd, NULL, SIZE_MAX, ODP_RW);
	vt_check(imr, "implicit reg");
	vt_check(rdma(IBV_WR_RDMA_READ, buf, mr->rkey, page) == IBV_WC_SUCCESS,
		 "read before munmap");
	vt_check(!munmap(buf, 4 * page), "munmap");

	memset(local, 0, page);
	st = rdma(IBV_WR_RDMA_READ, buf, mr->rkey, page);
	vt_check(st == IBV_WC_REM_ACCESS_ERR,
		 "READ of an unmapped explicit ODP range: %s",
		 ibv_wc_status_str(st));
	st = rdma(IBV_WR_RDMA_WRITE, buf + page, imr->rkey, page);
	vt_check(st == IBV_WC_REM_ACCESS_ERR,
		 "WRITE to an unmapped implicit ODP range: %s",
		 ibv_wc_status_str(st));
	for (int i = 0; i < (int)page; i++)
		vt_check(local[i] == 0, "stale data reached the requester");

	/* Same address, new pages: implicit ODP follows. */
	vt_check(map(buf, 4 * page, MAP_FIXED) == buf, "remap");
	memset(buf, 'n', 4 * page);
	vt_check(rdma(IBV_WR_RDMA_READ, buf + page, imr->rkey, page) ==
		 IBV_WC_SUCCESS, "read after remap");
	for (int i = 0; i < (int)page; i++)
		vt_check(local[i] == 'n', "implicit ODP read old contents");
	ibv_dereg_mr(mr);
	ibv_dereg_mr(imr);
	munmap(buf, 4 * page);
}

static void pinned_keeps_pages(void)
{
	char *buf = map(NULL, page, 0);
	struct ibv_mr *mr;

	memset(buf, 'p', page);
	mr = vt_reg(&v, buf, page, RW);
	vt_check(!munmap(buf, page), "munmap");
	/* The pinned page is still the MR's; its contents are what they were. */
	memset(local, 0, page);
	vt_check(rdma(IBV_WR_RDMA_READ, buf, mr->rkey, page) == IBV_WC_SUCCESS,
		 "pinned read after munmap");
	vt_check(local[0] == 'p' && local[page - 1] == 'p',
		 "pinned MR lost its pages");
	ibv_dereg_mr(mr);
}

static void mremap_moves(void)
{
	char *buf = map(NULL, 2 * page, 0), *moved;
	struct ibv_mr *mr, *imr;
	enum ibv_wc_status st;

	memset(buf, 'm', 2 * page);
	mr = vt_reg(&v, buf, 2 * page, ODP_RW);
	imr = ibv_reg_mr(v.pd, NULL, SIZE_MAX, ODP_RW);
	vt_check(imr, "implicit reg");
	vt_check(rdma(IBV_WR_RDMA_READ, buf, mr->rkey, page) == IBV_WC_SUCCESS,
		 "read");
	moved = mremap(buf, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED,
		       buf + 64 * page);
	vt_check(moved != MAP_FAILED, "mremap");
	st = rdma(IBV_WR_RDMA_READ, buf, mr->rkey, page);
	vt_check(st == IBV_WC_REM_ACCESS_ERR,
		 "READ of the range mremap left: %s", ibv_wc_status_str(st));
	memset(local, 0, page);
	vt_check(rdma(IBV_WR_RDMA_READ, moved, imr->rkey, page) ==
		 IBV_WC_SUCCESS, "implicit read at the new address");
	vt_check(local[0] == 'm', "implicit ODP misses moved pages");
	ibv_dereg_mr(mr);
	ibv_dereg_mr(imr);
	munmap(moved, 2 * page);
}

static void readonly_destination(void)
{
	char *buf = map(NULL, page, 0);
	struct ibv_mr *mr;
	enum ibv_wc_status st;

	memset(buf, 'r', page);
	mr = vt_reg(&v, buf, page, ODP_RW);
	vt_check(!mprotect(buf, page, PROT_READ), "mprotect");
	memset(local, 'w', page);
	st = rdma(IBV_WR_RDMA_WRITE, buf, mr->rkey, page);
	vt_check(st == IBV_WC_REM_ACCESS_ERR,
		 "WRITE into a PROT_READ page: %s", ibv_wc_status_str(st));
	vt_check(buf[0] == 'r', "a read-only page was written");
	/* Reading it is still fine. */
	vt_check(rdma(IBV_WR_RDMA_READ, buf, mr->rkey, page) == IBV_WC_SUCCESS,
		 "read of a PROT_READ page");
	ibv_dereg_mr(mr);
	munmap(buf, page);
}

static void shared_file(void)
{
	char path[] = "/tmp/cmr-odp-XXXXXX", rd[64];
	int fd = mkstemp(path);
	struct ibv_mr *mr;
	char *buf;

	vt_check(fd >= 0 && !ftruncate(fd, 4 * page), "tmpfile");
	unlink(path);
	buf = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	vt_check(buf != MAP_FAILED, "mmap file");
	mr = vt_reg(&v, buf, 4 * page, ODP_RW);
	memset(local, 'f', 64);
	vt_check(rdma(IBV_WR_RDMA_WRITE, buf + page, mr->rkey, 64) ==
		 IBV_WC_SUCCESS, "write to file mapping");
	vt_check(pread(fd, rd, 64, page) == 64 && !memcmp(rd, local, 64),
		 "the file does not hold the device's write");
	vt_check(pwrite(fd, "through the file", 16, 2 * page) == 16, "pwrite");
	vt_check(rdma(IBV_WR_RDMA_READ, buf + 2 * page, mr->rkey, 16) ==
		 IBV_WC_SUCCESS, "read file mapping");
	vt_check(!memcmp(local, "through the file", 16),
		 "the device does not see the file's contents");
	ibv_dereg_mr(mr);
	munmap(buf, 4 * page);
	close(fd);
}

static void huge_pages(void)
{
	size_t huge = 2 << 20;
	char *raw = map(NULL, 3 * huge, 0);
	char *buf = (char *)(((uintptr_t)raw + huge - 1) & ~(huge - 1));
	struct ibv_mr *mr;

	madvise(buf, huge, MADV_HUGEPAGE);
	for (size_t i = 0; i < huge; i += 4096)
		buf[i] = (char)(i >> 12);
	mr = vt_reg(&v, buf, huge, ODP_RW);
	/* A transfer that crosses 4 KiB boundaries inside the huge page. */
	vt_check(rdma(IBV_WR_RDMA_READ, buf + huge / 2 - 8, mr->rkey, page) ==
		 IBV_WC_SUCCESS, "read THP");
	vt_check(local[8] == (char)((huge / 2) >> 12), "THP contents");
	memset(local, 'h', page);
	vt_check(rdma(IBV_WR_RDMA_WRITE, buf + huge - page, mr->rkey, page) ==
		 IBV_WC_SUCCESS, "write THP");
	vt_check(buf[huge - 1] == 'h', "THP write");
	ibv_dereg_mr(mr);
	munmap(raw, 3 * huge);
}

static void larger_than_ram(void)
{
	size_t len = (size_t)16 << 30;	/* the VM has far less */
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct ibv_mr *mr;
	size_t off;

	vt_check(buf != MAP_FAILED, "mmap 16 GiB");
	mr = vt_reg(&v, buf, len, ODP_RW);
	for (off = 0; off < len; off += len / 8 + 12345 * page) {
		memset(local, (char)(off >> 30) + 1, 256);
		vt_check(rdma(IBV_WR_RDMA_WRITE, buf + off, mr->rkey, 256) ==
			 IBV_WC_SUCCESS, "write at %zu GiB", off >> 30);
		vt_check(buf[off] == (char)(off >> 30) + 1 &&
			 buf[off + 255] == (char)(off >> 30) + 1,
			 "write landed at %zu", off);
	}
	ibv_dereg_mr(mr);
	munmap(buf, len);
}

/* Wait up to 10 s for the device's implicit ODP children to number n. */
static bool children_settle(uint64_t n)
{
	for (int i = 0; i < 1000; i++) {
		if (vt_sysfs_u64(vt_dev(), "odp_stats/implicit_children") == n)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * An implicit MR holds kernel memory (a child umem) only for the 2 MiB
 * chunks that map something: a prefetch without faulting over 1 GiB of
 * untouched reservation leaves none behind, and neither does memory the
 * device used once the process unmaps it.
 */
static void implicit_children_reaped(void)
{
	const size_t len = (size_t)1 << 30, used = (size_t)8 << 20;
	uint64_t before = vt_sysfs_u64(vt_dev(), "odp_stats/implicit_children");
	char *res = map(NULL, len, MAP_NORESERVE);
	struct ibv_mr *mr;
	struct ibv_sge sge;
	uint64_t during;

	mr = ibv_reg_mr(v.pd, NULL, SIZE_MAX, ODP_RW);
	vt_check(mr, "implicit ODP reg_mr");
	sge = (struct ibv_sge){ .addr = (uintptr_t)res, .length = len,
				.lkey = mr->lkey };
	vt_check(!ibv_advise_mr(v.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
				IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1),
		 "prefetch without faults");
	vt_check(children_settle(before),
		 "%llu children left for an untouched reservation",
		 (unsigned long long)(vt_sysfs_u64(vt_dev(),
				"odp_stats/implicit_children") - before));

	/* Faulted in for the device: children while mapped, none after. */
	sge.length = used;
	vt_check(!ibv_advise_mr(v.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1),
		 "prefetch for writing");
	during = vt_sysfs_u64(vt_dev(), "odp_stats/implicit_children");
	vt_check(during >= before + used / (2 << 20),
		 "%llu children for %zu MiB in use",
		 (unsigned long long)(during - before), used >> 20);
	vt_check(rdma(IBV_WR_RDMA_WRITE, res + used - 256, mr->rkey, 256) ==
		 IBV_WC_SUCCESS, "write into the used range");
	munmap(res, len);
	vt_check(children_settle(before), "children outlive the unmapped range");
	ibv_dereg_mr(mr);
}

int main(void)
{
	struct ibv_device_attr_ex attr = {};

	page = sysconf(_SC_PAGESIZE);
	vt_open(&v, vt_dev());
	vt_check(!ibv_query_device_ex(v.ctx, NULL, &attr), "query");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT)) {
		printf("device reports no implicit ODP\n");
		return VT_SKIP;
	}
	local = malloc(4 * page);
	lmr = vt_reg(&v, local, 4 * page, RW);
	vt_pair(&v, &a, &b);

	munmap_then_wr();
	pinned_keeps_pages();
	mremap_moves();
	readonly_destination();
	shared_file();
	huge_pages();
	larger_than_ram();
	implicit_children_reaped();

	vt_end_destroy(&a);
	vt_end_destroy(&b);
	ibv_dereg_mr(lmr);
	vt_close(&v);
	return 0;
}
