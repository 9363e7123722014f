// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Two processes never see each other's memory through keys: a process
 * that learns another process's lkey/rkey (here through a pipe) and uses
 * it on its own QPs gets an error completion, and the owner's bytes stay
 * unread and unchanged.
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vt.h"

#define LEN 4096
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

struct secret {
	uint64_t addr;
	uint32_t key;
};

static void attacker(int rfd, int done_fd)
{
	static char buf[LEN];
	struct vt_ctx v;
	struct vt_end a, b;
	struct secret s;
	struct ibv_mr *mr;
	struct ibv_sge sge;
	char ok = 1;

	vt_check(read(rfd, &s, sizeof(s)) == sizeof(s), "read secret");
	vt_open(&v, vt_dev());
	vt_pair(&v, &a, &b);
	mr = vt_reg(&v, buf, LEN, RW);

	/* The foreign key as rkey: READ and WRITE are refused. */
	sge = (struct ibv_sge){ (uintptr_t)buf, 64, mr->lkey };
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_READ, 1, &sge, 1, s.addr,
			       s.key), "post read");
	vt_expect(a.cq, 1, IBV_WC_REM_ACCESS_ERR);
	vt_check(buf[0] != 'S', "read another process's memory");
	vt_end_destroy(&a);
	vt_end_destroy(&b);

	vt_pair(&v, &a, &b);
	memset(buf, 'X', 64);
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 2, &sge, 1, s.addr,
			       s.key), "post write");
	vt_expect(a.cq, 2, IBV_WC_REM_ACCESS_ERR);
	vt_end_destroy(&a);
	vt_end_destroy(&b);

	/* The foreign key as lkey of a local SGE. */
	vt_pair(&v, &a, &b);
	sge = (struct ibv_sge){ s.addr, 64, s.key };
	vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 3, &sge, 1,
			       (uintptr_t)buf, mr->rkey), "post");
	vt_expect(a.cq, 3, IBV_WC_LOC_PROT_ERR);
	vt_check(buf[0] == 'X', "copied from another process's memory");
	vt_end_destroy(&a);
	vt_end_destroy(&b);

	ibv_dereg_mr(mr);
	vt_close(&v);
	vt_check(write(done_fd, &ok, 1) == 1, "report");
}

int main(void)
{
	static char secret_buf[LEN];
	int to_child[2], from_child[2], st;
	struct vt_ctx v;
	struct ibv_mr *mr;
	struct secret s;
	pid_t pid;
	char ok;

	vt_check(!pipe(to_child) && !pipe(from_child), "pipe");
	pid = fork();
	vt_check(pid >= 0, "fork");
	if (!pid) {
		attacker(to_child[0], from_child[1]);
		_exit(0);
	}

	memset(secret_buf, 'S', LEN);
	vt_open(&v, vt_dev());
	mr = vt_reg(&v, secret_buf, LEN, RW);
	s.addr = (uintptr_t)secret_buf;
	s.key = mr->rkey;
	vt_check(write(to_child[1], &s, sizeof(s)) == sizeof(s), "send secret");
	vt_check(read(from_child[0], &ok, 1) == 1, "attacker died");
	vt_check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		 !WEXITSTATUS(st), "attacker failed");
	for (int i = 0; i < LEN; i++)
		vt_check(secret_buf[i] == 'S', "byte %d changed", i);
	ibv_dereg_mr(mr);
	vt_close(&v);
	return 0;
}
