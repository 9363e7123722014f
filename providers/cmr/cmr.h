/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* libcmr: provider objects, their converters and cross-file prototypes. */
#ifndef CMR_PROVIDER_H
#define CMR_PROVIDER_H

#include <pthread.h>
#include <infiniband/cmrdv.h>
#include <infiniband/driver.h>

#include "cmr-abi.h"
#include "cmr_queue.h"

struct cmr_device {
	struct verbs_device vdev;
};

struct cmr_context {
	struct verbs_context vctx;
	uint32_t max_inline_data;
	int db_fd;			/* fast doorbell, -1 if none */
};

/*
 * A PD as libcmr hands it out: a protection domain, or a parent domain
 * wrapping one (the kernel only ever sees the protection domain's handle).
 * A parent domain's allocators are accepted and never called: every queue
 * lives in kernel memory mapped into the process, none in user buffers.
 */
struct cmr_pd {
	struct ibv_pd ibpd;
	struct cmr_pd *protection;	/* itself for a protection domain */
	struct ibv_td *td;		/* parent domain's thread domain */
	void *pd_context;
	/*
	 * Of a protection domain: the parent domains wrapping it, which the
	 * kernel does not know of; it stays until they are gone (EBUSY).
	 */
	atomic_uint parents;
};

struct cmr_ah {
	struct ibv_ah ibah;
	uint32_t ah_num;
};

struct cmr_qp;

struct cmr_cq {
	struct verbs_cq vcq;
	/* The ring's consumer side and the recv_* fields. */
	struct cmr_spinlock lock;
	struct cmr_queue q;
	/* Extended polling: the CQE between start_poll and end_poll. */
	struct cmr_cqe *cur;
	/*
	 * recv_qp: the QP that takes its receive completions here, while it
	 * is the only QP that does and has its own RQ (else NULL).  Polling
	 * counts them in its rq.recv_done, skipping the recv_skip CQEs that
	 * were in the ring before it existed.
	 */
	struct cmr_qp *recv_qp;
	uint32_t recv_users;		/* QPs with this CQ as recv_cq */
	uint32_t recv_skip;
};

/*
 * The empty command that wakes the kernel for one work queue.  POST_SEND,
 * POST_RECV and POST_SRQ_RECV share this layout (qp.c checks).
 */
struct cmr_doorbell {
	struct ibv_post_send cmd;
	struct ib_uverbs_post_send_resp resp;
};

/* A work queue: the ring, its producer lock and the doorbell. */
struct cmr_wq {
	struct cmr_spinlock lock;	/* the ring's producer side */
	struct cmr_queue q;
	uint32_t max_sge;
	uint32_t max_inline;		/* SQ only */
	struct cmr_doorbell db;
	unsigned int fast_db;		/* CMR_IOCTL_DB_*, 0: none */
	uint32_t fast_db_num;		/* QPN or SRQ number */
	/*
	 * A QP's RQ: receive completions polled so far (see struct cmr_cq's
	 * recv_qp), a lower bound of the kernel's consumer index that lives
	 * in our cache, valid while recv_counted is set (a count that stops
	 * would turn into garbage once the indices wrap).  Both are written
	 * under the CQ's lock and read under ours.
	 */
	uint32_t recv_done;
	uint32_t recv_counted;
};

struct cmr_qp {
	struct verbs_qp vqp;
	struct cmrdv_qp_ex dv_qp;
	/* Behind vqp.qp.pd, which may be a parent domain freed before us. */
	struct ibv_pd *protection;
	struct cmr_wq sq;
	struct cmr_wq rq;		/* unused when the QP has an SRQ */
	bool sq_sig_all;
	bool compute;			/* may post CMR_OP_COMPUTE */
	/* ibv_wr_*() batch, under sq.lock from wr_start to complete/abort */
	uint32_t wr_index;		/* next free SQ entry */
	struct cmr_send_wqe *wr_cur;	/* last WQE built, NULL if none */
	int wr_err;			/* first error of the batch */
	/*
	 * Destination SGEs of the compute WR at wr_cur: they follow its
	 * source SGEs in the ring, so they are copied there only when the WQE
	 * is finished (next builder or wr_complete).  sq.max_sge entries,
	 * compute QPs only.
	 */
	struct cmr_sge *wr_dst;
	uint32_t wr_num_dst;
};

/* cmrdv objects; the kernel's handles and the numbers WQEs carry. */
struct cmrdv_key {
	struct ibv_pd *pd;		/* the protection domain */
	uint32_t handle;		/* CMR_OBJECT_KEY uobject */
	uint32_t key_num;		/* cmr_compute_params.key_handle */
	enum cmrdv_alg alg;
};

struct cmrdv_stream {
	struct ibv_pd *pd;		/* the protection domain */
	uint32_t handle;		/* CMR_OBJECT_STREAM uobject */
	uint32_t stream_num;		/* cmr_compute_params.stream_handle */
	enum cmrdv_alg alg;
	enum cmrdv_dir dir;
	uint8_t level;
	uint32_t flags;			/* framing */
};

struct cmr_srq {
	struct verbs_srq vsrq;
	struct cmr_wq rq;
	uint32_t srq_num;
};

static inline struct cmr_context *to_cmr_ctx(struct ibv_context *ibctx)
{
	return container_of(ibctx, struct cmr_context, vctx.context);
}

static inline struct cmr_pd *to_cmr_pd(struct ibv_pd *ibpd)
{
	return container_of(ibpd, struct cmr_pd, ibpd);
}

/* The protection domain behind a PD or parent domain. */
static inline struct ibv_pd *cmr_protection_domain(struct ibv_pd *ibpd)
{
	return &to_cmr_pd(ibpd)->protection->ibpd;
}

static inline struct cmr_ah *to_cmr_ah(struct ibv_ah *ibah)
{
	return container_of(ibah, struct cmr_ah, ibah);
}

static inline struct cmr_cq *to_cmr_cq(struct ibv_cq *ibcq)
{
	return container_of(ibcq, struct cmr_cq, vcq.cq);
}

static inline struct cmr_cq *to_cmr_cq_ex(struct ibv_cq_ex *ibcq)
{
	return container_of(ibcq, struct cmr_cq, vcq.cq_ex);
}

static inline struct cmr_qp *to_cmr_qp(struct ibv_qp *ibqp)
{
	return container_of(ibqp, struct cmr_qp, vqp.qp);
}

static inline struct cmr_qp *to_cmr_qp_ex(struct ibv_qp_ex *ibqp)
{
	return container_of(ibqp, struct cmr_qp, vqp.qp_ex);
}

static inline struct cmr_qp *to_cmr_qp_dv(struct cmrdv_qp_ex *dqp)
{
	return container_of(dqp, struct cmr_qp, dv_qp);
}

static inline struct cmr_srq *to_cmr_srq(struct ibv_srq *ibsrq)
{
	return container_of(ibsrq, struct cmr_srq, vsrq.srq);
}

/* cmr.c */
bool is_cmr_dev(struct ibv_device *ibdev);
int cmr_map_queue(struct ibv_context *ibctx, struct cmr_queue *q,
		  const struct cmr_queue_info *info, uint32_t min_stride);
void cmr_unmap_queue(struct cmr_queue *q);

/* cq.c */
void cmr_cq_add_recv_qp(struct cmr_cq *cq, struct cmr_qp *qp, bool own_rq);
void cmr_cq_del_recv_qp(struct cmr_cq *cq, struct cmr_qp *qp);
void cmr_cq_restart_recv(struct cmr_cq *cq, struct cmr_qp *qp);
struct ibv_cq *cmr_create_cq(struct ibv_context *ibctx, int cqe,
			     struct ibv_comp_channel *channel, int comp_vector);
struct ibv_cq_ex *cmr_create_cq_ex(struct ibv_context *ibctx,
				   struct ibv_cq_init_attr_ex *attr);
int cmr_destroy_cq(struct ibv_cq *ibcq);
int cmr_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc);
int cmr_resize_cq(struct ibv_cq *ibcq, int cqe);

/* qp.c */
struct ibv_qp *cmr_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
struct ibv_qp *cmr_create_qp_ex(struct ibv_context *ibctx,
				struct ibv_qp_init_attr_ex *attr);
struct ibv_qp *cmr_create_qp_flags(struct ibv_context *ibctx,
				   struct ibv_qp_init_attr_ex *attr,
				   uint32_t flags);
int cmr_destroy_qp(struct ibv_qp *ibqp);
int cmr_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask);
int cmr_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask,
		 struct ibv_qp_init_attr *init_attr);
int cmr_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr);
int cmr_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr);
struct ibv_srq *cmr_create_srq(struct ibv_pd *pd,
			       struct ibv_srq_init_attr *attr);
int cmr_destroy_srq(struct ibv_srq *ibsrq);
int cmr_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		   int mask);
int cmr_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr);
int cmr_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr);

#endif /* CMR_PROVIDER_H */
