// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * An MR writes only where its process may write.  A file mapped read-only
 * (shared, and private) is registered for reading, then ibv_rereg_mr()
 * grants local write and an RDMA READ lands in it: the kernel must pin
 * the pages anew for writing (a private copy, or EFAULT where the mapping
 * forbids writing), never let the device write the file's page cache
 * through the read-only pin (which, for a shared mapping, 6.12 allows).
 * The file, read back with pread(), stays as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vt.h"

#define LEN 4096
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

/* A LEN-byte file of 'F' bytes, opened read-only and already unlinked. */
static int make_file(void)
{
	char path[] = "/tmp/vmtest_mr_rereg.XXXXXX", buf[LEN];
	int fd, ro;

	fd = mkstemp(path);
	vt_check(fd >= 0, "mkstemp: %s", strerror(errno));
	memset(buf, 'F', LEN);
	vt_check(write(fd, buf, LEN) == LEN, "write");
	ro = open(path, O_RDONLY);
	vt_check(ro >= 0, "open: %s", strerror(errno));
	unlink(path);
	close(fd);
	return ro;
}

/*
 * One mapping of the file (MAP_SHARED or MAP_PRIVATE, PROT_READ) through a
 * read-only MR made writable, on a fresh QP pair (an error completion
 * leaves its QP in ERR).  src: LEN bytes of 'W' behind src_mr.
 */
static void check_mapping(struct vt_ctx *v, int fd, int flags,
			  const char *src, struct ibv_mr *src_mr)
{
	const char *name = flags == MAP_SHARED ? "shared" : "private";
	struct vt_end a, b;
	struct ibv_sge sge;
	struct ibv_wc wc;
	struct ibv_mr *mr;
	char file[LEN];
	char *map;
	int ret;

	map = mmap(NULL, LEN, PROT_READ, flags, fd, 0);
	vt_check(map != MAP_FAILED, "mmap: %s", strerror(errno));
	vt_check(map[0] == 'F', "mapping reads the file");

	/* 6.1 pins even a read-only MR for writing: EFAULT when shared. */
	mr = ibv_reg_mr(v->pd, map, LEN, 0);
	vt_check(mr || errno == EFAULT, "%s: read-only registration: %s",
		 name, strerror(errno));
	if (!mr)
		goto out;

	ret = ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
			   IBV_ACCESS_LOCAL_WRITE);
	vt_check(!ret || errno == EFAULT,
		 "%s: rereg to write: %d (%s), expected success or EFAULT",
		 name, ret, strerror(errno));

	/* RDMA READ from src into the mapping through the MR. */
	vt_pair(v, &a, &b);
	sge = (struct ibv_sge){ .addr = (uintptr_t)map, .length = LEN,
				.lkey = mr->lkey };
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_READ, 1, &sge, 1,
			       (uintptr_t)src, src_mr->rkey), "post");
	vt_poll(a.cq, &wc, 5000);
	if (ret) {
		/* A failed rereg leaves the MR read-only. */
		vt_check(wc.status == IBV_WC_LOC_PROT_ERR,
			 "%s: read into a read-only MR: status %d", name,
			 wc.status);
	} else {
		/* Pinned anew for writing: the process's private copy. */
		vt_check(wc.status == IBV_WC_SUCCESS, "%s: status %d", name,
			 wc.status);
		vt_check(map[0] == 'W' && map[LEN - 1] == 'W',
			 "%s: the process does not see what the MR received",
			 name);
	}
	vt_end_destroy(&a);
	vt_end_destroy(&b);
	vt_check(!ibv_dereg_mr(mr), "dereg");
out:
	vt_check(pread(fd, file, LEN, 0) == LEN, "pread");
	for (int i = 0; i < LEN; i++)
		vt_check(file[i] == 'F', "%s: the file changed at byte %d",
			 name, i);
	munmap(map, LEN);
}

int main(void)
{
	static char src[LEN];
	struct ibv_mr *src_mr;
	struct vt_ctx v;
	int fd;

	fd = make_file();
	vt_open(&v, vt_dev());
	memset(src, 'W', LEN);
	src_mr = vt_reg(&v, src, LEN, RW);

	check_mapping(&v, fd, MAP_SHARED, src, src_mr);
	check_mapping(&v, fd, MAP_PRIVATE, src, src_mr);

	vt_check(!ibv_dereg_mr(src_mr), "dereg src");
	vt_close(&v);
	close(fd);
	return 0;
}
