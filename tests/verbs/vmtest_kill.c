// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A process killed with work requests in flight leaves nothing behind:
 * after SIGKILL, the device's restrack counts (rdma resource show) return
 * to zero, and the device still works for the next process.  The VM runner
 * then checks that rmmod cmr succeeds and the kernel log stays clean.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vt.h"

#define LEN (1 << 20)
#define RW (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	    IBV_ACCESS_REMOTE_READ)

static void busy_child(int ready_fd, int odp)
{
	struct vt_ctx v;
	struct vt_end a, b;
	struct ibv_mr *mr;
	struct ibv_sge s;
	struct ibv_wc wc[16];
	char *buf = malloc(2 * LEN);
	uint64_t n = 0;

	vt_open(&v, vt_dev());
	vt_pair(&v, &a, &b);
	mr = vt_reg(&v, buf, 2 * LEN, RW | (odp ? IBV_ACCESS_ON_DEMAND : 0));
	vt_check(write(ready_fd, "r", 1) == 1, "ready");
	for (;;) {
		s = (struct ibv_sge){ (uintptr_t)buf, LEN, mr->lkey };
		vt_post_send(a.qp, n & 1 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
			     n, &s, 1, (uintptr_t)buf + LEN, mr->rkey);
		s.length = 64;
		vt_post_recv(b.qp, n, &s, 1);
		vt_post_send(a.qp, IBV_WR_SEND, n, &s, 1, 0, 0);
		ibv_poll_cq(a.cq, 16, wc);
		ibv_poll_cq(b.cq, 16, wc);
		n++;
	}
}

/* Sum of the object counts rdma reports for our device. */
static long device_objects(void)
{
	char cmd[128], line[512], *p;
	long total = 0, n;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "rdma resource show %s", vt_dev());
	f = popen(cmd, "r");
	vt_check(f, "rdma resource show");
	while (fgets(line, sizeof(line), f)) {
		for (p = strtok(line, " \n"); p; p = strtok(NULL, " \n")) {
			/* "0: cmr0: pd 1 cq 2 qp 2 ...": skip "N:" */
			if (p[strlen(p) - 1] != ':' && sscanf(p, "%ld", &n) == 1)
				total += n;
		}
	}
	pclose(f);
	return total;
}

int main(void)
{
	int round, fds[2], st, i;
	long left;
	pid_t pid;
	char c;

	for (round = 0; round < 6; round++) {
		vt_check(!pipe(fds), "pipe");
		pid = fork();
		vt_check(pid >= 0, "fork");
		if (!pid)
			busy_child(fds[1], round & 1);
		vt_check(read(fds[0], &c, 1) == 1, "child failed to start");
		usleep(50000 + 30000 * round);
		kill(pid, SIGKILL);
		vt_check(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st),
			 "child did not die by SIGKILL");
		close(fds[0]);
		close(fds[1]);

		for (i = 0; i < 50 && (left = device_objects()) > 0; i++)
			usleep(100000);
		vt_check(left == 0, "round %d: %ld objects left behind", round,
			 left);
	}

	/* The device still serves a new process. */
	{
		struct vt_ctx v;
		struct vt_end a, b;
		static char buf[64];
		struct ibv_mr *mr;
		struct ibv_sge s;

		vt_open(&v, vt_dev());
		vt_pair(&v, &a, &b);
		mr = vt_reg(&v, buf, sizeof(buf), RW);
		s = (struct ibv_sge){ (uintptr_t)buf, 8, mr->lkey };
		vt_check(!vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
				       (uintptr_t)buf + 32, mr->rkey), "post");
		vt_expect(a.cq, 1, IBV_WC_SUCCESS);
		ibv_dereg_mr(mr);
		vt_end_destroy(&a);
		vt_end_destroy(&b);
		vt_close(&v);
	}
	return 0;
}
