// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* cmr: verbs entry points, by object. */
#include <rdma/ib_mad.h>
#include <rdma/uverbs_ioctl.h>

#include "cmr_loc.h"

/* Device and port */

int cmr_query_device(struct ib_device *ibdev, struct ib_device_attr *attr,
		     struct ib_udata *udata)
{
	if (udata->inlen || udata->outlen)
		return -EINVAL;

	memset(attr, 0, sizeof(*attr));
	attr->fw_ver = 1;
	attr->sys_image_guid = ibdev->node_guid;
	attr->max_mr_size = U64_MAX;
	attr->page_size_cap = PAGE_SIZE;
	attr->vendor_id = CMR_VENDOR_ID;
	attr->max_pd = CMR_MAX_PD;
	attr->max_pkeys = 1;
	return 0;
}

int cmr_query_port(struct ib_device *ibdev, u32 port,
		   struct ib_port_attr *attr)
{
	struct cmr_dev *cdev = to_cmr_dev(ibdev);

	memset(attr, 0, sizeof(*attr));
	attr->state = IB_PORT_ACTIVE;
	attr->phys_state = IB_PORT_PHYS_STATE_LINK_UP;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = IB_MTU_4096;
	attr->gid_tbl_len = 1;
	attr->pkey_tbl_len = 1;
	attr->max_msg_sz = 1U << 31;
	attr->lid = cdev->index + 1;
	attr->sm_lid = cdev->index + 1;
	attr->active_width = IB_WIDTH_4X;
	attr->active_speed = IB_SPEED_EDR;
	attr->max_vl_num = 1;
	return 0;
}

int cmr_get_port_immutable(struct ib_device *ibdev, u32 port,
			   struct ib_port_immutable *immutable)
{
	struct ib_port_attr attr;
	int err;

	err = cmr_query_port(ibdev, port, &attr);
	if (err)
		return err;
	immutable->gid_tbl_len = attr.gid_tbl_len;
	immutable->pkey_tbl_len = attr.pkey_tbl_len;
	/*
	 * InfiniBand addressing (LID, GID from the node GUID) between QPs of
	 * cmr devices, but no MAD, SMI or CM agents: there is no fabric.
	 */
	immutable->core_cap_flags = RDMA_CORE_CAP_PROT_IB;
	immutable->max_mad_size = 0;
	return 0;
}

int cmr_query_gid(struct ib_device *ibdev, u32 port, int index,
		  union ib_gid *gid)
{
	if (index != 0)
		return -EINVAL;
	gid->global.subnet_prefix = cpu_to_be64(0xfe80000000000000ULL);
	gid->global.interface_id = ibdev->node_guid;
	return 0;
}

int cmr_query_pkey(struct ib_device *ibdev, u32 port, u16 index, u16 *pkey)
{
	if (index != 0)
		return -EINVAL;
	*pkey = IB_DEFAULT_PKEY_FULL;
	return 0;
}

/* User context */

int cmr_alloc_ucontext(struct ib_ucontext *ibuc, struct ib_udata *udata)
{
	struct cmr_alloc_ucontext_resp resp = {};

	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	return ib_copy_to_udata(udata, &resp, sizeof(resp));
}

void cmr_dealloc_ucontext(struct ib_ucontext *ibuc)
{
}

/* Protection domain */

int cmr_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct cmr_dev *cdev = to_cmr_dev(ibpd->device);

	if (atomic_inc_return(&cdev->num_pd) > CMR_MAX_PD) {
		atomic_dec(&cdev->num_pd);
		return -ENOMEM;
	}
	return 0;
}

int cmr_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	atomic_dec(&to_cmr_dev(ibpd->device)->num_pd);
	return 0;
}

/*
 * Queues and memory regions arrive with the verbs device; until then the
 * device reports zero of each and refuses to create them.
 */

int cmr_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		  struct ib_udata *udata)
{
	return -EOPNOTSUPP;
}

int cmr_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	return 0;
}

int cmr_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc)
{
	return -EOPNOTSUPP;
}

int cmr_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	return -EOPNOTSUPP;
}

int cmr_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *attr,
		  struct ib_udata *udata)
{
	return -EOPNOTSUPP;
}

int cmr_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_udata *udata)
{
	return -EOPNOTSUPP;
}

int cmr_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	return 0;
}

int cmr_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		  const struct ib_send_wr **bad_wr)
{
	*bad_wr = wr;
	return -EOPNOTSUPP;
}

int cmr_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		  const struct ib_recv_wr **bad_wr)
{
	*bad_wr = wr;
	return -EOPNOTSUPP;
}

struct ib_mr *cmr_get_dma_mr(struct ib_pd *ibpd, int access)
{
	return ERR_PTR(-EOPNOTSUPP);
}

struct ib_mr *cmr_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			      u64 iova, int access, struct ib_udata *udata)
{
	return ERR_PTR(-EOPNOTSUPP);
}

int cmr_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	return 0;
}
