/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the examples share: a compute session on a cmr device — a PD, an
 * extended CQ, and an RC QP connected to itself (compute WRs need a QP in
 * RTS; connecting it to itself also lets the same QP post RDMA WRITEs
 * into its own MRs).
 */
#ifndef CMR_EXAMPLE_H
#define CMR_EXAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs.h>
#include <infiniband/cmrdv.h>

struct cmr_session {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq_ex *cq;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx;
	struct cmrdv_qp_ex *dqp;
	struct ibv_comp_channel *channel;	/* event mode; else NULL */
	uint32_t depth;
};

struct cmr_session_attr {
	const char *devname;		/* NULL: the first cmr device */
	uint32_t depth;			/* WRs in flight */
	uint32_t create_flags;		/* cmrdv QP create flags */
	bool events;			/* wait on a completion channel */
};

/* The result of one compute completion. */
struct cmr_done {
	uint64_t wr_id;
	enum ibv_wc_status status;
	uint32_t vendor_err;
	uint32_t byte_len;
	uint8_t result[32];
	size_t result_len;
};

/* Opens devname (NULL: the first cmr device); exits with a message on failure. */
void cmr_session_open(struct cmr_session *s, const char *devname,
		      uint32_t depth);
/* The same, with cmrdv QP create flags (e.g. CMRDV_QP_CREATE_SQ_POLL). */
void cmr_session_open_flags(struct cmr_session *s, const char *devname,
			    uint32_t depth, uint32_t create_flags);
void cmr_session_open_attr(struct cmr_session *s,
			   const struct cmr_session_attr *attr);
void cmr_session_close(struct cmr_session *s);
struct ibv_mr *cmr_session_reg(struct cmr_session *s, void *buf, size_t len);
/* Waits for the next completion: busy polling, or blocking in event mode. */
void cmr_session_wait(struct cmr_session *s, struct cmr_done *done);
const char *cmr_done_error(const struct cmr_done *done);

#endif
