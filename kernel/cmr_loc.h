/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* cmr: prototypes shared between files, grouped by the file defining them. */
#ifndef CMR_LOC_H
#define CMR_LOC_H

#include "cmr.h"

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
int cmr_alloc_ucontext(struct ib_ucontext *ibuc, struct ib_udata *udata);
void cmr_dealloc_ucontext(struct ib_ucontext *ibuc);
int cmr_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
int cmr_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
int cmr_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		  struct ib_udata *udata);
int cmr_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int cmr_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc);
int cmr_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);
int cmr_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *attr,
		  struct ib_udata *udata);
int cmr_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_udata *udata);
int cmr_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int cmr_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		  const struct ib_send_wr **bad_wr);
int cmr_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		  const struct ib_recv_wr **bad_wr);
struct ib_mr *cmr_get_dma_mr(struct ib_pd *ibpd, int access);
struct ib_mr *cmr_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			      u64 iova, int access, struct ib_udata *udata);
int cmr_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);

#endif /* CMR_LOC_H */
