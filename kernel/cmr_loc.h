/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* cmr: prototypes shared between files, grouped by the file defining them. */
#ifndef CMR_LOC_H
#define CMR_LOC_H

#include <rdma/uverbs_ioctl.h>

#include "cmr.h"

struct uverbs_attr_bundle;
struct cmr_sq_hold;		/* below, cmr_engine.c */

/* cmr_main.c */
extern struct workqueue_struct *cmr_wq;
int cmr_index_alloc(struct cmr_index *ix, u32 *id);
void cmr_index_set(struct cmr_index *ix, u32 id, void *obj);

/* cmr_verbs.c */
int cmr_query_device(struct ib_device *ibdev, struct ib_device_attr *attr,
		     struct ib_udata *udata);
int cmr_query_port(struct ib_device *ibdev, u32 port,
		   struct ib_port_attr *attr);
int cmr_get_port_immutable(struct ib_device *ibdev, u32 port,
			   struct ib_port_immutable *immutable);
int cmr_query_gid(struct ib_device *ibdev, u32 port, int index,
		  union ib_gid *gid);
int cmr_query_pkey(struct ib_device *ibdev, u32 port, u16 index, u16 *pkey);
int cmr_copy_cmd(struct ib_udata *udata, void *cmd, size_t size);
int cmr_alloc_ucontext(struct ib_ucontext *ibuc, struct ib_udata *udata);
void cmr_dealloc_ucontext(struct ib_ucontext *ibuc);
int cmr_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma);
void cmr_mmap_free(struct rdma_user_mmap_entry *entry);
int cmr_queue_init(struct ib_udata *udata, struct cmr_queue *q,
		   u32 num_entries, u32 stride, struct cmr_queue_info *info);
void cmr_queue_free(struct cmr_queue *q);
int cmr_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
int cmr_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
int cmr_av_from_attr(struct cmr_av *av, const struct rdma_ah_attr *attr);
void cmr_av_to_attr(const struct cmr_av *av, struct rdma_ah_attr *attr);
int cmr_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init_attr,
		  struct ib_udata *udata);
int cmr_destroy_ah(struct ib_ah *ibah, u32 flags);
bool cmr_ah_lookup(struct cmr_dev *dev, u32 ah_num, struct ib_pd *pd,
		   struct cmr_av *av);
int cmr_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		  struct cmr_create_cq_arg *arg);
int cmr_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int cmr_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata);
int cmr_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc);
int cmr_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		   struct ib_udata *udata);
int cmr_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		   enum ib_srq_attr_mask mask, struct ib_udata *udata);
int cmr_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int cmr_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);
int cmr_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		      const struct ib_recv_wr **bad_wr);

/* cmr_uverbs.c */
extern const struct uapi_definition cmr_uapi_defs[];
void cmr_uc_cobjs_init(struct cmr_ucontext *uc);
void cmr_uc_cobjs_fini(struct cmr_ucontext *uc);
struct cmr_cobj *cmr_cobj_get(struct cmr_ucontext *uc,
			      enum cmr_cobj_type type, u32 num,
			      struct ib_pd *pd);
void cmr_cobj_put(struct cmr_cobj *obj);

/* cmr_sqpoll.c */
int cmr_sqp_init(void);
void cmr_sqp_exit(void);
bool cmr_sqp_enabled(void);
void cmr_sqp_add(struct cmr_qp *qp);
void cmr_sqp_del(struct cmr_qp *qp);
void cmr_sqp_kick(struct cmr_sqp *sqp);

/* cmr_cq.c */
bool cmr_cq_post(struct cmr_cq *cq, const struct cmr_cqe *cqe,
		 bool solicited);
void cmr_cq_clean(struct cmr_cq *cq, u32 qpn);
int cmr_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);

/* cmr_qp.c */
void cmr_qp_put(struct cmr_qp *qp);
void cmr_qp_event(struct cmr_qp *qp, enum ib_event_type type);
void cmr_srq_event(struct cmr_srq *srq, enum ib_event_type type);
void cmr_qp_error(struct cmr_qp *qp, enum ib_event_type event);
void cmr_qp_sq_drained(struct cmr_qp *qp);
void cmr_qp_fatal(struct cmr_qp *qp);
void cmr_rq_init(struct cmr_rq *rq, struct cmr_srq *srq);
void cmr_rq_wake(struct cmr_rq *rq, bool direct);
void cmr_rq_doorbell(struct cmr_rq *rq, struct cmr_qp *qp);
u8 cmr_sq_wc_opcode(u8 opcode);
void cmr_qp_rnr_unwait(struct cmr_qp *qp);
void cmr_qp_flush(struct cmr_qp *qp);
void cmr_sq_doorbell(struct cmr_qp *qp, struct cmr_sq_hold *hold);
int cmr_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		  struct ib_udata *udata);
int cmr_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int cmr_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		  const struct ib_send_wr **bad_wr);
int cmr_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		  const struct ib_recv_wr **bad_wr);
int cmr_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_udata *udata);
int cmr_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		 struct ib_qp_init_attr *init);

/* cmr_engine.c */

/*
 * What keeps a QP whose SQ runs: the caller's cmr_srcu section, under
 * which it found the QP or which it entered holding it otherwise.  The
 * run may leave the section and enter a new one (srcu_idx) while a
 * compute backend runs or between the slices of a message (RDMA READ,
 * WRITE, SEND), and then takes a reference (ref) to the QP, which
 * cmr_sq_hold_end() drops: only after sq_mutex is released.
 */
struct cmr_sq_hold {
	int srcu_idx;
	bool ref;
};

static inline void cmr_sq_hold_begin(struct cmr_sq_hold *hold)
{
	hold->srcu_idx = srcu_read_lock(&cmr_srcu);
	hold->ref = false;
}

static inline void cmr_sq_hold_end(struct cmr_qp *qp,
				   struct cmr_sq_hold *hold)
{
	srcu_read_unlock(&cmr_srcu, hold->srcu_idx);
	if (hold->ref)
		cmr_qp_put(qp);
}

void cmr_sq_run_locked(struct cmr_qp *qp);
void cmr_qp_run_sq(struct cmr_qp *qp, u32 budget,
		   struct cmr_sq_hold *hold);
void cmr_qp_compute_free(struct cmr_qp *qp);

/* cmr_mr.c */
bool cmr_mr_invalidate(struct cmr_dev *dev, struct ib_pd *pd, u32 key,
		       bool remote);
int cmr_copy(void *bounce, struct cmr_seg *dst, unsigned int ndst,
	     struct cmr_seg *src, unsigned int nsrc, u64 len, bool *dst_fault);
int cmr_atomic(const struct cmr_seg *seg, u64 iova, bool cmp_swap,
	       u64 compare_add, u64 swap, u64 *orig);
struct ib_mr *cmr_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			      u64 iova, int access, struct ib_udata *udata);
int cmr_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);
struct ib_mr *cmr_rereg_user_mr(struct ib_mr *ibmr, int flags, u64 start,
				u64 length, u64 iova, int access,
				struct ib_pd *pd, struct ib_udata *udata);
struct ib_mr *cmr_get_dma_mr(struct ib_pd *ibpd, int access);

/* cmr_odp.c */
int cmr_odp_init_mr(struct cmr_mr *mr, u64 start, u64 length, u64 iova,
		    int access);
void cmr_odp_release_mr(struct cmr_mr *mr);
struct ib_umem_odp *cmr_odp_at(struct cmr_mr *mr, u64 va);
int cmr_odp_lock(struct cmr_dev *dev, struct ib_umem_odp *odp, u64 va,
		 u64 len, bool write);
int cmr_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		  u32 flags, struct ib_sge *sg_list, u32 num_sge,
		  struct uverbs_attr_bundle *attrs);

#endif /* CMR_LOC_H */
