/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Helpers for the in-VM verbs tests: a connected pair of RC QPs on one
 * device, buffers and MRs, and polling with a deadline.  Each test binary
 * is run by tests/vm/suite; exit 0 pass, 1 fail, 77 skip.
 */
#ifndef VT_H
#define VT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <infiniband/verbs.h>

#define VT_SKIP 77

#define vt_die(...)                                                        \
	do {                                                                \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);             \
		fprintf(stderr, __VA_ARGS__);                               \
		fprintf(stderr, "\n");                                      \
		exit(1);                                                    \
	} while (0)

#define vt_check(cond, ...)                                                \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "check failed: %s: ", #cond);       \
			vt_die(__VA_ARGS__);                                \
		}                                                           \
	} while (0)

struct vt_ctx {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_port_attr port;
};

/* One end of a connection: its QP and the CQs it completes to. */
struct vt_end {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
};

struct vt_qp_opts {
	uint8_t rnr_retry;		/* 7 = infinite */
	uint8_t min_rnr_timer;
	uint32_t max_inline;
	int access;			/* qp_access_flags */
};

void vt_open(struct vt_ctx *v, const char *devname);
void vt_close(struct vt_ctx *v);
/* A QP of depth WRs each way on a CQ of 2 * depth (or cqe) entries. */
void vt_end_create(struct vt_ctx *v, struct vt_end *e, int depth);
void vt_end_create_cq(struct vt_ctx *v, struct vt_end *e, int depth, int cqe);
void vt_end_destroy(struct vt_end *e);
/* Bring an RC or UC QP from RESET to RTS, connected to QP dqpn of our port. */
void vt_to_rts(struct vt_ctx *v, struct ibv_qp *qp, uint32_t dqpn,
	       const struct vt_qp_opts *opts);
/* The same; 0, or the error number of the transition that failed. */
int vt_try_to_rts(struct vt_ctx *v, struct ibv_qp *qp, uint32_t dqpn,
		  const struct vt_qp_opts *opts);
/* Bring a and b to RTS, connected to each other. */
void vt_connect(struct vt_ctx *v, struct vt_end *a, struct vt_end *b,
		const struct vt_qp_opts *opts);
void vt_pair(struct vt_ctx *v, struct vt_end *a, struct vt_end *b);

struct ibv_mr *vt_reg(struct vt_ctx *v, void *buf, size_t len, int access);

/* Poll one completion; fails the test if none arrives in timeout_ms. */
void vt_poll(struct ibv_cq *cq, struct ibv_wc *wc, int timeout_ms);
/* True if a completion arrives within timeout_ms. */
bool vt_try_poll(struct ibv_cq *cq, struct ibv_wc *wc, int timeout_ms);

int vt_post_send(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
		 struct ibv_sge *sge, int nsge, uint64_t raddr, uint32_t rkey);
int vt_post_recv(struct ibv_qp *qp, uint64_t wr_id, struct ibv_sge *sge,
		 int nsge);
/* Expect one completion with this status (and opcode unless -1). */
void vt_expect(struct ibv_cq *cq, uint64_t wr_id, enum ibv_wc_status status);

/* Seconds on CLOCK_MONOTONIC. */
double vt_now_s(void);

/*
 * What the module's other users wait while long WRs run: a thread that,
 * half a second in, deregisters an MR and destroys a QP nobody uses (on
 * pd's context) and records how long each call took.
 */
struct vt_stall_probe {
	struct ibv_pd *pd;
	double dereg;		/* seconds an unrelated ibv_dereg_mr() took */
	double destroy;		/* and an unrelated ibv_destroy_qp() */
};
void *vt_stall_probe(void *probe);

const char *vt_dev(void);
uint64_t vt_sysfs_u64(const char *devname, const char *file);

#endif
