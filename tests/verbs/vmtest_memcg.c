// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The kernel memory a process makes the device allocate is charged to its
 * memory cgroup, so a container's limit bounds it: the rings of a CQ, a
 * QP and an SRQ (megabytes each at their largest) show in the cgroup's
 * memory.current while they live and leave it when destroyed, and the
 * rings still work.
 *
 * Needs cgroup v2 with the memory controller (mounted here if it is not);
 * skips without.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <rdma/cmr-abi.h>

#include "vt.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CG CG_ROOT "/cmr-memcg-test"

static void put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	vt_check(fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s),
		 "write %s to %s: %s", s, path, strerror(errno));
	close(fd);
}

static long long charged(void)
{
	long long v = -1;
	FILE *f = fopen(CG "/memory.current", "r");

	vt_check(f && fscanf(f, "%lld", &v) == 1, "memory.current");
	fclose(f);
	return v;
}

/* Into a cgroup of our own; false if there is no memory controller. */
static bool enter_cgroup(void)
{
	char pid[32];

	if (access(CG_ROOT "/cgroup.controllers", F_OK) &&
	    mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
		return false;
	if (access(CG_ROOT "/cgroup.subtree_control", W_OK))
		return false;
	put(CG_ROOT "/cgroup.subtree_control", "+memory");
	vt_check(!mkdir(CG, 0755) || errno == EEXIST, "mkdir " CG);
	if (access(CG "/memory.current", R_OK))
		return false;
	snprintf(pid, sizeof(pid), "%d", getpid());
	put(CG "/cgroup.procs", pid);
	return true;
}

/*
 * What creating and destroying an object did to the cgroup's charge.  The
 * charge moves in per-CPU batches of up to 64 pages, so allow a tenth of
 * a ring of megabytes.
 */
static void check(const char *what, long long before, long long during,
		  long long after, long long ring)
{
	ring -= ring / 10;
	vt_check(during - before >= ring,
		 "%s: %lld bytes charged for a ring of %lld", what,
		 during - before, ring);
	vt_check(during - after >= ring,
		 "%s: %lld bytes uncharged of %lld", what, during - after,
		 ring);
}

int main(void)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 16384,
						  .max_sge = 16 } };
	struct vt_qp_opts o = { .rnr_retry = 7, .min_rnr_timer = 1,
				.access = IBV_ACCESS_LOCAL_WRITE };
	long long before, during, after;
	struct ibv_qp_init_attr qa;
	struct ibv_srq *srq;
	struct vt_ctx v;
	struct vt_end a, b;
	struct ibv_cq *cq;
	struct ibv_qp *qp;

	if (!enter_cgroup()) {
		printf("no cgroup v2 memory controller\n");
		return VT_SKIP;
	}
	vt_open(&v, vt_dev());

	before = charged();
	cq = ibv_create_cq(v.ctx, 65536, NULL, NULL, 0);
	vt_check(cq, "CQ of 65536");
	during = charged();
	ibv_destroy_cq(cq);
	after = charged();
	check("CQ", before, during, after, 65536LL * sizeof(struct cmr_cqe));

	cq = ibv_create_cq(v.ctx, 16, NULL, NULL, 0);
	vt_check(cq, "CQ");
	qa = (struct ibv_qp_init_attr){
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16384, .max_recv_wr = 16384,
			 .max_send_sge = 16, .max_recv_sge = 16 },
	};
	before = charged();
	qp = ibv_create_qp(v.pd, &qa);
	vt_check(qp, "QP of 16384 + 16384");
	during = charged();
	ibv_destroy_qp(qp);
	after = charged();
	check("QP", before, during, after,
	      2 * 16384LL * (sizeof(struct cmr_recv_wqe) +
			     16 * sizeof(struct cmr_sge)));
	ibv_destroy_cq(cq);

	before = charged();
	srq = ibv_create_srq(v.pd, &sa);
	vt_check(srq, "SRQ of 16384");
	during = charged();
	ibv_destroy_srq(srq);
	after = charged();
	check("SRQ", before, during, after,
	      16384LL * (sizeof(struct cmr_recv_wqe) +
			 16 * sizeof(struct cmr_sge)));

	/* Rings allocated so still carry traffic. */
	vt_end_create(&v, &a, 8);
	vt_end_create(&v, &b, 8);
	vt_connect(&v, &a, &b, &o);
	{
		static char buf[64];
		struct ibv_mr *mr = vt_reg(&v, buf, sizeof(buf),
					   IBV_ACCESS_LOCAL_WRITE);
		struct ibv_sge s = { (uintptr_t)buf, 8, mr->lkey };
		struct ibv_sge r = { (uintptr_t)buf + 32, 8, mr->lkey };

		memcpy(buf, "charged", 8);
		vt_check(!vt_post_recv(b.qp, 2, &r, 1), "post_recv");
		vt_check(!vt_post_send(a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0),
			 "post_send");
		vt_expect(a.cq, 1, IBV_WC_SUCCESS);
		vt_expect(b.cq, 2, IBV_WC_SUCCESS);
		vt_check(!memcmp(buf + 32, "charged", 8), "SEND's data");
		ibv_dereg_mr(mr);
	}
	vt_end_destroy(&a);
	vt_end_destroy(&b);
	vt_close(&v);

	put(CG_ROOT "/cgroup.procs", "0");
	rmdir(CG);
	return 0;
}
