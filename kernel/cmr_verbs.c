// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: verbs entry points for the device, port, user context, rings,
 * PD, AH, CQ and SRQ.  QPs live in cmr_qp.c, MRs in cmr_mr.c and
 * cmr_odp.c.  Only user space creates objects: kernel callers get
 * -EOPNOTSUPP.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/log2.h>
#include <linux/vmalloc.h>
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
	attr->max_qp = CMR_MAX_QP;
	attr->max_qp_wr = CMR_MAX_QP_WR;
	attr->device_cap_flags = IB_DEVICE_RC_RNR_NAK_GEN |
				 IB_DEVICE_SYS_IMAGE_GUID |
				 IB_DEVICE_SRQ_RESIZE;
	attr->max_send_sge = CMR_MAX_SGE;
	attr->max_recv_sge = CMR_MAX_SGE;
	attr->max_sge_rd = CMR_MAX_SGE;
	attr->max_cq = CMR_MAX_CQ;
	attr->max_cqe = CMR_MAX_CQE;
	attr->max_mr = CMR_MAX_MR;
	attr->max_pd = CMR_MAX_PD;
	attr->max_qp_rd_atom = CMR_MAX_RD_ATOM;
	attr->max_qp_init_rd_atom = CMR_MAX_RD_ATOM;
	attr->max_res_rd_atom = CMR_MAX_RD_ATOM * CMR_MAX_QP;
	/* 8-byte atomics are CPU atomic instructions on the target word. */
	attr->atomic_cap = IB_ATOMIC_HCA;
	attr->max_ah = CMR_MAX_AH;
	attr->max_srq = CMR_MAX_SRQ;
	attr->max_srq_wr = CMR_MAX_SRQ_WR;
	attr->max_srq_sge = CMR_MAX_SGE;
	attr->max_pkeys = 1;
	attr->local_ca_ack_delay = 15;
	if (IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING)) {
		u32 caps = IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
			   IB_ODP_SUPPORT_SRQ_RECV;

		attr->kernel_cap_flags = IBK_ON_DEMAND_PAGING;
		attr->odp_caps.general_caps = IB_ODP_SUPPORT |
					      IB_ODP_SUPPORT_IMPLICIT;
		attr->odp_caps.per_transport_caps.rc_odp_caps =
			caps | IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_READ |
			IB_ODP_SUPPORT_ATOMIC;
		attr->odp_caps.per_transport_caps.ud_odp_caps = caps;
	}
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
	attr->max_msg_sz = 1U << CMR_MAX_MSG_SHIFT;
	attr->lid = cmr_lid(cdev);
	attr->sm_lid = cmr_lid(cdev);
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
	gid->global.subnet_prefix = cpu_to_be64(CMR_GID_PREFIX);
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

/* User context and ring mappings */

/* The fast doorbell */

static void cmr_db_put(struct cmr_dbfile *db)
{
	if (refcount_dec_and_test(&db->ref))
		kfree(db);
}

/* A reference to SRQ srq_num of device dev_index, or NULL. */
static struct cmr_srq *cmr_srq_get(u32 dev_index, u32 srq_num)
{
	struct cmr_srq *srq = NULL;
	struct cmr_dev *dev;
	int idx;

	idx = srcu_read_lock(&cmr_srcu);
	dev = cmr_dev_lookup(dev_index);
	if (dev) {
		xa_lock(&dev->srq_xa);
		srq = xa_load(&dev->srq_xa, srq_num);
		if (srq && !refcount_inc_not_zero(&srq->ref))
			srq = NULL;
		xa_unlock(&dev->srq_xa);
	}
	srcu_read_unlock(&cmr_srcu, idx);
	return srq;
}

static void cmr_srq_put(struct cmr_srq *srq)
{
	if (refcount_dec_and_test(&srq->ref))
		complete(&srq->released);
}

/*
 * ioctl(fd, CMR_IOCTL_DB_*, number): the doorbells of this context's
 * queues without the uverbs round trip.  Only a hint to look at a ring:
 * everything else comes from the ring, as for the uverbs doorbells.
 */
static long cmr_db_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct cmr_dbfile *db = file->private_data;
	struct cmr_sq_hold hold;
	struct cmr_srq *srq;
	struct cmr_qp *qp;
	long ret = 0;
	int idx;

	if (arg > U32_MAX)
		return -EINVAL;
	switch (cmd) {
	case CMR_IOCTL_DB_SQ:
		cmr_sq_hold_begin(&hold);
		qp = cmr_qp_lookup(db->dev_index, arg);
		if (qp && qp->uc->db == db)
			cmr_sq_doorbell(qp, &hold);
		else
			ret = -EINVAL;
		cmr_sq_hold_end(qp, &hold);
		return ret;
	case CMR_IOCTL_DB_RQ:
		/* The requesters it resumes run outside our section. */
		idx = srcu_read_lock(&cmr_srcu);
		qp = cmr_qp_lookup(db->dev_index, arg);
		if (qp && (qp->uc->db != db || !refcount_inc_not_zero(&qp->ref)))
			qp = NULL;
		srcu_read_unlock(&cmr_srcu, idx);
		if (!qp)
			return -EINVAL;
		this_cpu_inc(qp->dev->db->rq);
		if (!qp->srq)
			cmr_rq_doorbell(&qp->rq, qp);
		cmr_qp_put(qp);
		return 0;
	case CMR_IOCTL_DB_SRQ:
		srq = cmr_srq_get(db->dev_index, arg);
		if (!srq)
			return -EINVAL;
		if (srq->uc->db == db) {
			this_cpu_inc(to_cmr_dev(srq->ibsrq.device)->db->srq);
			cmr_rq_doorbell(&srq->rq, NULL);
		} else {
			ret = -EINVAL;
		}
		cmr_srq_put(srq);
		return ret;
	default:
		return -ENOTTY;
	}
}

static int cmr_db_release(struct inode *inode, struct file *file)
{
	cmr_db_put(file->private_data);
	return 0;
}

static const struct file_operations cmr_db_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = cmr_db_ioctl,
	.compat_ioctl = cmr_db_ioctl,
	.release = cmr_db_release,
	.llseek = noop_llseek,
};

/* A new doorbell fd for uc, reserved in *fd and not yet installed. */
static struct file *cmr_db_create(struct cmr_ucontext *uc, int *fd)
{
	struct cmr_dbfile *db;
	struct file *file;

	db = kzalloc(sizeof(*db), GFP_KERNEL);
	if (!db)
		return ERR_PTR(-ENOMEM);
	refcount_set(&db->ref, 2);
	db->dev_index = to_cmr_dev(uc->ibuc.device)->index;

	*fd = get_unused_fd_flags(O_CLOEXEC);
	if (*fd < 0) {
		kfree(db);
		return ERR_PTR(*fd);
	}
	file = anon_inode_getfile("[cmr_doorbell]", &cmr_db_fops, db,
				  O_RDWR | O_CLOEXEC);
	if (IS_ERR(file)) {
		put_unused_fd(*fd);
		kfree(db);
		return file;
	}
	uc->db = db;
	return file;
}

/* User context and ring mappings */

/*
 * Copy the driver part of a command, at most size bytes: a shorter one
 * (an older provider) leaves the rest of cmd as the caller set it, a
 * longer one is refused unless all we do not know of it is zero.
 */
int cmr_copy_cmd(struct ib_udata *udata, void *cmd, size_t size)
{
	if (udata->inlen > size &&
	    !ib_is_udata_cleared(udata, size, udata->inlen - size))
		return -EOPNOTSUPP;
	return ib_copy_from_udata(cmd, udata, min(udata->inlen, size));
}

int cmr_alloc_ucontext(struct ib_ucontext *ibuc, struct ib_udata *udata)
{
	struct cmr_alloc_ucontext_resp_ex resp = {
		.base.max_inline_data = CMR_MAX_INLINE,
	};
	struct cmr_ucontext *uc = to_cmr_uc(ibuc);
	struct cmr_alloc_ucontext_cmd cmd = {};
	size_t resp_len = sizeof(resp.base);
	struct file *file = NULL;
	int fd = -1, err;

	if (!udata)
		return -EOPNOTSUPP;
	if (udata->outlen < sizeof(resp.base))
		return -EINVAL;
	err = cmr_copy_cmd(udata, &cmd, sizeof(cmd));
	if (err)
		return err;
	if ((cmd.comp_mask & ~CMR_UCTX_DOORBELL_FD) || cmd.reserved)
		return -EOPNOTSUPP;
	if ((cmd.comp_mask & CMR_UCTX_DOORBELL_FD) &&
	    udata->outlen >= sizeof(resp)) {
		file = cmr_db_create(uc, &fd);
		if (IS_ERR(file))
			return PTR_ERR(file);
		resp.comp_mask = CMR_UCTX_DOORBELL_FD;
		resp.doorbell_fd = fd;
		resp_len = sizeof(resp);
	}

	err = ib_copy_to_udata(udata, &resp, resp_len);
	if (err) {
		if (file) {
			put_unused_fd(fd);
			fput(file);	/* drops the file's reference */
			cmr_db_put(uc->db);
			uc->db = NULL;
		}
		return err;
	}
	cmr_uc_cobjs_init(uc);
	if (file)
		fd_install(fd, file);
	return 0;
}

void cmr_dealloc_ucontext(struct ib_ucontext *ibuc)
{
	struct cmr_ucontext *uc = to_cmr_uc(ibuc);

	cmr_uc_cobjs_fini(uc);
	if (uc->db)
		cmr_db_put(uc->db);
}

int cmr_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *entry;
	unsigned long off;
	void *buf;
	int err = 0;

	/* Its size is the mapping's: rdma_user_mmap_entry_get() checks. */
	entry = rdma_user_mmap_entry_get(ibuc, vma);
	if (!entry)
		return -EINVAL;
	buf = to_cmr_mmap(entry)->buf;
	for (off = 0; off < vma->vm_end - vma->vm_start; off += PAGE_SIZE) {
		err = vm_insert_page(vma, vma->vm_start + off,
				     vmalloc_to_page(buf + off));
		if (err)
			break;
	}
	if (!err)
		cmr_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	rdma_user_mmap_entry_put(entry);
	return err;
}

/*
 * The last reference to a removed entry is gone: no mmap() can reach the
 * ring any more.  Pages user space still maps stay alive on their own
 * (vm_insert_page() holds a reference to each).
 */
void cmr_mmap_free(struct rdma_user_mmap_entry *entry)
{
	struct cmr_mmap_entry *e = to_cmr_mmap(entry);

	vfree(e->buf);
	kfree(e);
}

/*
 * Allocate a ring of num_entries entries of stride bytes, zeroed, and make
 * it mappable through the user context; describe it in info.
 */
int cmr_queue_init(struct ib_udata *udata, struct cmr_queue *q,
		   u32 num_entries, u32 stride, struct cmr_queue_info *info)
{
	struct cmr_ucontext *uc =
		rdma_udata_to_drv_context(udata, struct cmr_ucontext, ibuc);
	struct cmr_mmap_entry *entry;
	size_t size;
	int err;

	size = PAGE_ALIGN(CMR_RING_ENTRIES_OFFSET +
			  (size_t)num_entries * stride);
	/* Charged to the creator's memory cgroup, as all it allocates. */
	q->ring = __vmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!q->ring)
		return -ENOMEM;
	q->size = size;
	q->num_entries = num_entries;
	q->stride = stride;
	q->index = 0;

	entry = kzalloc(sizeof(*entry), GFP_KERNEL_ACCOUNT);
	if (!entry) {
		err = -ENOMEM;
		goto err_free_ring;
	}
	entry->buf = q->ring;
	err = rdma_user_mmap_entry_insert(&uc->ibuc, &entry->rdma, size);
	if (err) {
		kfree(entry);
		goto err_free_ring;
	}
	q->mmap = &entry->rdma;

	info->mmap_offset = rdma_user_mmap_get_offset(q->mmap);
	info->mmap_size = size;
	info->num_entries = num_entries;
	info->stride = stride;
	return 0;

err_free_ring:
	vfree(q->ring);
	q->ring = NULL;
	return err;
}

/*
 * The kernel stops touching the ring here.  A mapped ring is freed with
 * its mmap entry (cmr_mmap_free()), not now: an mmap() of it running
 * concurrently holds the entry and is still reading the vmalloc area.
 */
void cmr_queue_free(struct cmr_queue *q)
{
	if (q->mmap)
		rdma_user_mmap_entry_remove(q->mmap);
	else
		vfree(q->ring);
	q->mmap = NULL;
	q->ring = NULL;
}

/* Protection domain */

int cmr_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct cmr_dev *cdev = to_cmr_dev(ibpd->device);

	if (!udata)
		return -EOPNOTSUPP;
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

/* Address vectors and address handles */

/* Which cmr device a path leads to: by LID, else by GID. */
static u32 cmr_av_dev_index(const struct cmr_av *av)
{
	u64 guid;

	if (av->dlid && av->dlid <= CMR_MAX_DEVICES)
		return av->dlid - 1;
	if (!(av->ah_flags & IB_AH_GRH))
		return U32_MAX;
	if (be64_to_cpu(av->dgid.global.subnet_prefix) != CMR_GID_PREFIX)
		return U32_MAX;
	guid = be64_to_cpu(av->dgid.global.interface_id);
	if ((guid & ~0xffffULL) != CMR_GUID_BASE ||
	    (guid & 0xffff) >= CMR_MAX_DEVICES)
		return U32_MAX;
	return guid & 0xffff;
}

int cmr_av_from_attr(struct cmr_av *av, const struct rdma_ah_attr *attr)
{
	const struct ib_global_route *grh;

	if (attr->type != RDMA_AH_ATTR_TYPE_IB)
		return -EINVAL;
	memset(av, 0, sizeof(*av));
	av->dlid = rdma_ah_get_dlid(attr);
	av->sl = rdma_ah_get_sl(attr);
	av->static_rate = rdma_ah_get_static_rate(attr);
	av->ah_flags = rdma_ah_get_ah_flags(attr) & IB_AH_GRH;
	if (av->ah_flags & IB_AH_GRH) {
		grh = rdma_ah_read_grh(attr);
		av->dgid = grh->dgid;
		av->flow_label = grh->flow_label;
		av->sgid_index = grh->sgid_index;
		av->hop_limit = grh->hop_limit;
		av->traffic_class = grh->traffic_class;
	}
	av->dev_index = cmr_av_dev_index(av);
	return 0;
}

void cmr_av_to_attr(const struct cmr_av *av, struct rdma_ah_attr *attr)
{
	union ib_gid dgid = av->dgid;

	memset(attr, 0, sizeof(*attr));
	attr->type = RDMA_AH_ATTR_TYPE_IB;
	rdma_ah_set_port_num(attr, CMR_PORT);
	rdma_ah_set_dlid(attr, av->dlid);
	rdma_ah_set_sl(attr, av->sl);
	rdma_ah_set_static_rate(attr, av->static_rate);
	if (av->ah_flags & IB_AH_GRH)
		rdma_ah_set_grh(attr, &dgid, av->flow_label,
				av->sgid_index, av->hop_limit,
				av->traffic_class);
}

int cmr_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init_attr,
		  struct ib_udata *udata)
{
	struct cmr_dev *dev = to_cmr_dev(ibah->device);
	struct cmr_ah *ah = to_cmr_ah(ibah);
	struct cmr_create_ah_resp resp = {};
	int err;

	if (!udata)
		return -EOPNOTSUPP;
	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	err = cmr_av_from_attr(&ah->av, init_attr->ah_attr);
	if (err)
		return err;
	if (atomic_inc_return(&dev->num_ah) > CMR_MAX_AH) {
		err = -ENOMEM;
		goto err_dec;
	}
	err = xa_alloc_cyclic(&dev->ah_xa, &ah->ah_num, ah,
			      XA_LIMIT(1, U32_MAX), &dev->ah_next,
			      (init_attr->flags & RDMA_CREATE_AH_SLEEPABLE) ?
			      GFP_KERNEL : GFP_ATOMIC);
	if (err < 0)
		goto err_dec;

	resp.ah_num = ah->ah_num;
	err = ib_copy_to_udata(udata, &resp, sizeof(resp));
	if (err)
		goto err_erase;
	return 0;

err_erase:
	xa_erase(&dev->ah_xa, ah->ah_num);
err_dec:
	atomic_dec(&dev->num_ah);
	return err;
}

int cmr_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	struct cmr_dev *dev = to_cmr_dev(ibah->device);

	/* Readers copy the AV under the xa lock: nobody holds it after. */
	xa_erase(&dev->ah_xa, to_cmr_ah(ibah)->ah_num);
	atomic_dec(&dev->num_ah);
	return 0;
}

/*
 * Copy the AV of AH ah_num if it belongs to pd.  Returns false if there is
 * no such AH.
 */
bool cmr_ah_lookup(struct cmr_dev *dev, u32 ah_num, struct ib_pd *pd,
		   struct cmr_av *av)
{
	struct cmr_ah *ah;
	bool found = false;

	xa_lock(&dev->ah_xa);
	ah = xa_load(&dev->ah_xa, ah_num);
	if (ah && ah->ibah.pd == pd) {
		*av = ah->av;
		found = true;
	}
	xa_unlock(&dev->ah_xa);
	return found;
}

/* Completion queue */

int cmr_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		  struct cmr_create_cq_arg *arg)
{
	struct ib_udata *udata = cmr_create_cq_udata(arg);
	struct cmr_dev *dev = to_cmr_dev(ibcq->device);
	struct cmr_cq *cq = to_cmr_cq(ibcq);
	struct cmr_create_cq_resp resp = {};
	u32 entries;
	int err;

	if (!udata)
		return -EOPNOTSUPP;
	if (attr->flags)
		return -EOPNOTSUPP;
	if (attr->cqe < 1 || attr->cqe > CMR_MAX_CQE)
		return -EINVAL;
	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&dev->num_cq) > CMR_MAX_CQ) {
		err = -ENOMEM;
		goto err_dec;
	}

	spin_lock_init(&cq->lock);
	entries = roundup_pow_of_two(attr->cqe);
	err = cmr_queue_init(udata, &cq->q, entries, sizeof(struct cmr_cqe),
			     &resp.cq);
	if (err)
		goto err_dec;
	ibcq->cqe = entries;

	err = ib_copy_to_udata(udata, &resp, sizeof(resp));
	if (err)
		goto err_free_queue;
	return 0;

err_free_queue:
	cmr_queue_free(&cq->q);
err_dec:
	atomic_dec(&dev->num_cq);
	return err;
}

/* ib_core refuses this while a QP uses the CQ: no engine posts to it. */
int cmr_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	struct cmr_cq *cq = to_cmr_cq(ibcq);

	cmr_queue_free(&cq->q);
	atomic_dec(&to_cmr_dev(ibcq->device)->num_cq);
	return 0;
}

/*
 * A new ring that continues the old one: the CQEs user space has not
 * consumed move over at the same free-running indices, and the new ring's
 * producer and consumer start where the old ones were.  Fails with
 * -EINVAL if they do not fit.
 */
int cmr_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata)
{
	struct cmr_cq *cq = to_cmr_cq(ibcq);
	struct cmr_resize_cq_resp resp = {};
	struct cmr_queue nq = {}, oq;
	u32 entries, cons, idx;
	int err;

	if (!udata || udata->outlen < sizeof(resp))
		return -EINVAL;
	if (cqe < 1 || cqe > CMR_MAX_CQE)
		return -EINVAL;
	entries = roundup_pow_of_two(cqe);
	err = cmr_queue_init(udata, &nq, entries, sizeof(struct cmr_cqe),
			     &resp.cq);
	if (err)
		return err;
	/* Before the swap: a fault here must leave the old ring in use. */
	err = ib_copy_to_udata(udata, &resp, sizeof(resp));
	if (err)
		goto err_free_queue;

	spin_lock(&cq->lock);
	cons = cmr_queue_user_consumer(&cq->q);
	if (cq->q.index - cons > entries) {
		spin_unlock(&cq->lock);
		err = -EINVAL;
		goto err_free_queue;
	}
	for (idx = cons; idx != cq->q.index; idx++)
		memcpy(cmr_queue_slot(&nq, idx), cmr_queue_slot(&cq->q, idx),
		       sizeof(struct cmr_cqe));
	nq.index = cq->q.index;
	nq.ring->consumer = cons;
	nq.ring->producer = nq.index;
	nq.ring->flags = cq->q.ring->flags;
	oq = cq->q;
	cq->q = nq;
	cq->consumer = cons;
	cq->overflow = false;
	spin_unlock(&cq->lock);

	cmr_queue_free(&oq);
	ibcq->cqe = entries;
	return 0;

err_free_queue:
	cmr_queue_free(&nq);
	return err;
}

/* Completions are polled from the ring by the provider. */
int cmr_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc)
{
	return -EOPNOTSUPP;
}

/* Shared receive queue */

int cmr_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		   struct ib_udata *udata)
{
	struct cmr_dev *dev = to_cmr_dev(ibsrq->device);
	struct cmr_srq *srq = to_cmr_srq(ibsrq);
	struct cmr_create_srq_resp resp = {};
	u32 entries, sges, stride;
	int err;

	if (!udata)
		return -EOPNOTSUPP;
	if (init->srq_type != IB_SRQT_BASIC)
		return -EOPNOTSUPP;
	if (!init->attr.max_wr || init->attr.max_wr > CMR_MAX_SRQ_WR ||
	    init->attr.max_sge > CMR_MAX_SGE ||
	    init->attr.srq_limit > init->attr.max_wr)
		return -EINVAL;
	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&dev->num_srq) > CMR_MAX_SRQ) {
		err = -ENOMEM;
		goto err_dec;
	}

	entries = roundup_pow_of_two(init->attr.max_wr);
	sges = max_t(u32, init->attr.max_sge, 1);
	stride = roundup_pow_of_two(sizeof(struct cmr_recv_wqe) +
				    sges * sizeof(struct cmr_sge));
	refcount_set(&srq->ref, 1);
	init_completion(&srq->released);
	srq->uc = rdma_udata_to_drv_context(udata, struct cmr_ucontext, ibuc);
	cmr_rq_init(&srq->rq, srq);
	srq->rq.max_sge = min_t(u32, CMR_MAX_SGE,
				(stride - sizeof(struct cmr_recv_wqe)) /
				sizeof(struct cmr_sge));
	srq->limit = init->attr.srq_limit;
	err = cmr_queue_init(udata, &srq->rq.q, entries, stride, &resp.rq);
	if (err)
		goto err_dec;
	/*
	 * Reserve the number, publish the SRQ only once the create cannot
	 * fail: a doorbell finding it takes a reference this error path
	 * would not wait for.
	 */
	err = xa_alloc_cyclic(&dev->srq_xa, &srq->srq_num, NULL,
			      XA_LIMIT(1, U32_MAX), &dev->srq_next,
			      GFP_KERNEL);
	if (err < 0)
		goto err_free_queue;

	resp.srq_num = srq->srq_num;
	err = ib_copy_to_udata(udata, &resp, sizeof(resp));
	if (err)
		goto err_erase;
	err = xa_err(xa_store(&dev->srq_xa, srq->srq_num, srq, GFP_KERNEL));
	if (err)
		goto err_erase;
	init->attr.max_wr = entries;
	init->attr.max_sge = srq->rq.max_sge;
	return 0;

err_erase:
	xa_erase(&dev->srq_xa, srq->srq_num);
err_free_queue:
	cmr_queue_free(&srq->rq.q);
err_dec:
	atomic_dec(&dev->num_srq);
	return err;
}

/*
 * IB_SRQ_MAX_WR: move the posted receive WQEs, at their indices, into a
 * new ring of that many entries, whose description goes to the user
 * address the provider named first (cmr_modify_srq_cmd), so that a fault
 * there changes nothing.  With IB_SRQ_LIMIT the limit is set under the same
 * lock; it must fit the new size, as the kept one must.
 */
static int cmr_srq_resize(struct cmr_srq *srq, u32 entries,
			  const struct ib_srq_attr *attr,
			  enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct cmr_modify_srq_cmd cmd;
	struct cmr_rq *rq = &srq->rq;
	struct cmr_queue_info info;
	struct cmr_queue nq = {}, oq;
	u32 prod, pending, idx;
	int err;

	if (udata->inlen < sizeof(cmd))
		return -EINVAL;
	err = cmr_copy_cmd(udata, &cmd, sizeof(cmd));
	if (err)
		return err;
	err = cmr_queue_init(udata, &nq, entries, rq->q.stride, &info);
	if (err)
		return err;
	if (copy_to_user(u64_to_user_ptr(cmd.ring_info_addr), &info,
			 sizeof(info))) {
		err = -EFAULT;
		goto out_free;
	}

	mutex_lock(&rq->lock);
	prod = cmr_queue_user_producer(&rq->q);
	pending = cmr_queue_pending(&rq->q, prod);
	/* More posted than fit, or a garbage producer: refused. */
	if (pending > entries || pending > rq->q.num_entries ||
	    ((mask & IB_SRQ_LIMIT) ? attr->srq_limit : srq->limit) > entries) {
		mutex_unlock(&rq->lock);
		err = -EINVAL;
		goto out_free;
	}
	for (idx = rq->q.index; idx != prod; idx++)
		memcpy(cmr_queue_slot(&nq, idx), cmr_queue_slot(&rq->q, idx),
		       rq->q.stride);
	nq.index = rq->q.index;
	nq.ring->consumer = nq.index;
	nq.ring->producer = prod;
	nq.ring->flags = rq->q.ring->flags;
	oq = rq->q;
	rq->q = nq;
	rq->producer = prod;
	if (mask & IB_SRQ_LIMIT)
		srq->limit = attr->srq_limit;
	mutex_unlock(&rq->lock);
	cmr_queue_free(&oq);
	return 0;

out_free:
	cmr_queue_free(&nq);
	return err;
}

int cmr_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		   enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct cmr_srq *srq = to_cmr_srq(ibsrq);

	if (mask & ~(IB_SRQ_LIMIT | IB_SRQ_MAX_WR))
		return -EOPNOTSUPP;
	if (mask & IB_SRQ_MAX_WR) {
		if (!udata || !attr->max_wr || attr->max_wr > CMR_MAX_SRQ_WR)
			return -EINVAL;
		return cmr_srq_resize(srq, roundup_pow_of_two(attr->max_wr),
				      attr, mask, udata);
	}
	if (!(mask & IB_SRQ_LIMIT))
		return 0;
	mutex_lock(&srq->rq.lock);
	if (attr->srq_limit > srq->rq.q.num_entries) {
		mutex_unlock(&srq->rq.lock);
		return -EINVAL;
	}
	srq->limit = attr->srq_limit;
	mutex_unlock(&srq->rq.lock);
	return 0;
}

int cmr_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct cmr_srq *srq = to_cmr_srq(ibsrq);

	mutex_lock(&srq->rq.lock);
	attr->max_wr = srq->rq.q.num_entries;
	attr->max_sge = srq->rq.max_sge;
	attr->srq_limit = srq->limit;
	mutex_unlock(&srq->rq.lock);
	return 0;
}

/* ib_core refuses this while a QP uses the SRQ. */
int cmr_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct cmr_dev *dev = to_cmr_dev(ibsrq->device);
	struct cmr_srq *srq = to_cmr_srq(ibsrq);

	/* Requesters still stalled here retry and find their peer gone. */
	cmr_rq_wake(&srq->rq, false);
	xa_erase(&dev->srq_xa, srq->srq_num);
	/* Wait for doorbells in progress. */
	cmr_srq_put(srq);
	wait_for_completion(&srq->released);
	cmr_queue_free(&srq->rq.q);
	mutex_destroy(&srq->rq.lock);
	atomic_dec(&dev->num_srq);
	return 0;
}

/* The doorbell: user space posted receives while NEED_WAKEUP was set. */
int cmr_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		      const struct ib_recv_wr **bad_wr)
{
	if (!ibsrq->uobject) {
		*bad_wr = wr;
		return -EOPNOTSUPP;
	}
	this_cpu_inc(to_cmr_dev(ibsrq->device)->db->srq);
	cmr_rq_doorbell(&to_cmr_srq(ibsrq)->rq, NULL);
	return 0;
}
