// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: computational memory regions.
 *
 * Module entry: the ops table, the registration of cmr0..cmrN-1 and the
 * table that finds a destination device by LID or GID.
 */
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/percpu.h>
#include <linux/slab.h>

#include "cmr_loc.h"
#include "cmr_compute.h"

static unsigned int num_devices = 1;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices, "number of cmr devices to register (1-16)");

/* See cmr.h: the engine's read side. */
struct srcu_struct cmr_srcu;

/* See cmr.h: registered devices by index. */
struct cmr_dev __rcu *cmr_devs[CMR_MAX_DEVICES];

/* Runs QP work off the doorbell path (RNR timers, wake-ups, flushes). */
struct workqueue_struct *cmr_wq;

/* Object tables */

static int cmr_index_init(struct cmr_index *ix, u32 min, u32 max)
{
	struct cmr_table *t;

	t = kvzalloc(struct_size(t, slot, 64), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->size = 64;
	mutex_init(&ix->lock);
	RCU_INIT_POINTER(ix->tbl, t);
	ix->min = min;
	ix->max = max;
	ix->next = min;
	return 0;
}

static void cmr_index_destroy(struct cmr_index *ix)
{
	kvfree(rcu_dereference_protected(ix->tbl, true));
	mutex_destroy(&ix->lock);
}

/*
 * Reserve a number: the next free one from a cyclic cursor (so numbers
 * are not reused at once), growing the array when it is full.
 */
int cmr_index_alloc(struct cmr_index *ix, u32 *id)
{
	struct cmr_table *t, *nt;
	u32 i, n, span, size, old;

	mutex_lock(&ix->lock);
	t = rcu_dereference_protected(ix->tbl, lockdep_is_held(&ix->lock));
	span = t->size - ix->min;
	for (n = 0; n < span; n++) {
		i = ix->min + (ix->next - ix->min + n) % span;
		if (!t->slot[i])
			goto found;
	}
	if (t->size > ix->max) {
		mutex_unlock(&ix->lock);
		return -ENOMEM;
	}
	size = min_t(u64, (u64)t->size * 2, (u64)ix->max + 1);
	nt = kvzalloc(struct_size(nt, slot, size), GFP_KERNEL);
	if (!nt) {
		mutex_unlock(&ix->lock);
		return -ENOMEM;
	}
	nt->size = size;
	old = t->size;
	memcpy(nt->slot, t->slot, old * sizeof(t->slot[0]));
	rcu_assign_pointer(ix->tbl, nt);
	synchronize_srcu(&cmr_srcu);
	kvfree(t);
	t = nt;
	i = old;
found:
	WRITE_ONCE(t->slot[i], CMR_SLOT_RESERVED);
	ix->next = i + 1 < t->size ? i + 1 : ix->min;
	mutex_unlock(&ix->lock);
	*id = i;
	return 0;
}

/* Make a reserved number find obj (NULL: free the number). */
void cmr_index_set(struct cmr_index *ix, u32 id, void *obj)
{
	struct cmr_table *t;

	mutex_lock(&ix->lock);
	t = rcu_dereference_protected(ix->tbl, lockdep_is_held(&ix->lock));
	rcu_assign_pointer(t->slot[id], obj);
	mutex_unlock(&ix->lock);
}

/*
 * sysfs: /sys/class/infiniband/cmrN/compute_backends, and the counters in
 * odp_stats/ and doorbell_stats/.  ib_core takes one driver group, created
 * with the device; the counter directories are added right after
 * registration.
 */

#define CMR_STAT(group, name)						\
static ssize_t group##_##name##_show(struct device *device,		\
				     struct device_attribute *attr,	\
				     char *buf)				\
{									\
	struct cmr_dev *dev = rdma_device_to_drv_device(device,	\
						struct cmr_dev, ibdev);	\
									\
	return sysfs_emit(buf, "%llu\n",				\
			  (u64)atomic64_read(&dev->group.name));	\
}									\
static struct device_attribute dev_attr_##group##_##name =		\
	__ATTR(name, 0444, group##_##name##_show, NULL)

CMR_STAT(odp, faults);
CMR_STAT(odp, invalidations);
CMR_STAT(odp, prefetches);
CMR_STAT(odp, retries);
CMR_STAT(odp, implicit_children);

static struct attribute *cmr_odp_attrs[] = {
	&dev_attr_odp_faults.attr,
	&dev_attr_odp_invalidations.attr,
	&dev_attr_odp_prefetches.attr,
	&dev_attr_odp_retries.attr,
	&dev_attr_odp_implicit_children.attr,
	NULL,
};

static const struct attribute_group cmr_odp_group = {
	.name = "odp_stats",
	.attrs = cmr_odp_attrs,
};

/* Doorbell system calls: with SQ pollers awake, sq stays still. */
#define CMR_DB_STAT(name)						\
static ssize_t db_##name##_show(struct device *device,			\
				struct device_attribute *attr, char *buf) \
{									\
	struct cmr_dev *dev = rdma_device_to_drv_device(device,	\
						struct cmr_dev, ibdev);	\
	u64 sum = 0;							\
	int cpu;							\
									\
	for_each_possible_cpu(cpu)					\
		sum += per_cpu_ptr(dev->db, cpu)->name;			\
	return sysfs_emit(buf, "%llu\n", sum);				\
}									\
static struct device_attribute dev_attr_db_##name =			\
	__ATTR(name, 0444, db_##name##_show, NULL)

CMR_DB_STAT(sq);
CMR_DB_STAT(rq);
CMR_DB_STAT(srq);

static struct attribute *cmr_db_attrs[] = {
	&dev_attr_db_sq.attr,
	&dev_attr_db_rq.attr,
	&dev_attr_db_srq.attr,
	NULL,
};

static const struct attribute_group cmr_db_group = {
	.name = "doorbell_stats",
	.attrs = cmr_db_attrs,
};

static const struct attribute_group *cmr_stat_groups[] = {
	&cmr_odp_group,
	&cmr_db_group,
	NULL,
};

/* "algorithm backend" per line: who serves each compute algorithm. */
static ssize_t compute_backends_show(struct device *device,
				     struct device_attribute *attr, char *buf)
{
	return cmr_compute_backends_show(buf);
}
static DEVICE_ATTR_RO(compute_backends);

static struct attribute *cmr_dev_attrs[] = {
	&dev_attr_compute_backends.attr,
	NULL,
};

static const struct attribute_group cmr_dev_group = {
	.attrs = cmr_dev_attrs,
};

static const struct ib_device_ops cmr_dev_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = CMR_ABI_VERSION,

	.device_group = &cmr_dev_group,

	.advise_mr = cmr_advise_mr,
	.alloc_pd = cmr_alloc_pd,
	.alloc_ucontext = cmr_alloc_ucontext,
	.create_cq = cmr_create_cq,
	.create_qp = cmr_create_qp,
	.create_srq = cmr_create_srq,
	.create_user_ah = cmr_create_ah,
	.dealloc_pd = cmr_dealloc_pd,
	.dealloc_ucontext = cmr_dealloc_ucontext,
	.dereg_mr = cmr_dereg_mr,
	.destroy_ah = cmr_destroy_ah,
	.destroy_cq = cmr_destroy_cq,
	.destroy_qp = cmr_destroy_qp,
	.destroy_srq = cmr_destroy_srq,
	.get_dma_mr = cmr_get_dma_mr,
	.get_port_immutable = cmr_get_port_immutable,
	.mmap = cmr_mmap,
	.mmap_free = cmr_mmap_free,
	.modify_qp = cmr_modify_qp,
	.modify_srq = cmr_modify_srq,
	.poll_cq = cmr_poll_cq,
	.post_recv = cmr_post_recv,
	.post_send = cmr_post_send,
	.post_srq_recv = cmr_post_srq_recv,
	.query_device = cmr_query_device,
	.query_gid = cmr_query_gid,
	.query_pkey = cmr_query_pkey,
	.query_port = cmr_query_port,
	.query_qp = cmr_query_qp,
	.query_srq = cmr_query_srq,
	.reg_user_mr = cmr_reg_user_mr,
	.rereg_user_mr = cmr_rereg_user_mr,
	.req_notify_cq = cmr_req_notify_cq,
	.resize_cq = cmr_resize_cq,

	INIT_RDMA_OBJ_SIZE(ib_ah, cmr_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, cmr_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_pd, cmr_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, cmr_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, cmr_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, cmr_ucontext, ibuc),
};

static struct cmr_dev *cmr_dev_add(u32 index)
{
	struct cmr_dev *cdev;
	int err;

	cdev = ib_alloc_device(cmr_dev, ibdev);
	if (!cdev)
		return ERR_PTR(-ENOMEM);

	cdev->index = index;
	cdev->db = alloc_percpu(struct cmr_db_stats);
	if (!cdev->db) {
		err = -ENOMEM;
		goto err_dealloc;
	}
	err = cmr_index_init(&cdev->qps, CMR_MIN_QPN, CMR_MAX_QPN);
	if (err)
		goto err_free_db;
	err = cmr_index_init(&cdev->mrs, 1, CMR_MAX_MR_INDEX);
	if (err)
		goto err_destroy_qps;
	xa_init_flags(&cdev->ah_xa, XA_FLAGS_ALLOC1);
	xa_init_flags(&cdev->srq_xa, XA_FLAGS_ALLOC1);

	/* Locally administered EUI-64, unique per device index. */
	cdev->ibdev.node_guid = cpu_to_be64(CMR_GUID_BASE | index);
	cdev->ibdev.node_type = RDMA_NODE_IB_CA;
	cdev->ibdev.phys_port_cnt = 1;
	cdev->ibdev.num_comp_vectors = 1;
	strscpy(cdev->ibdev.node_desc, "cmr computational memory regions",
		sizeof(cdev->ibdev.node_desc));
	ib_set_device_ops(&cdev->ibdev, &cmr_dev_ops);
	/* Keys, streams and QUERY_COMPUTE: see cmr_uverbs.c. */
	cdev->ibdev.driver_def = cmr_uapi_defs;
	/* The doorbells and CQ arming are uverbs write() commands. */
	cdev->ibdev.uverbs_cmd_mask |=
		BIT_ULL(IB_USER_VERBS_CMD_POST_SEND) |
		BIT_ULL(IB_USER_VERBS_CMD_POST_RECV) |
		BIT_ULL(IB_USER_VERBS_CMD_POST_SRQ_RECV) |
		BIT_ULL(IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);

	/* No DMA device: ib_core falls back to virtual addressing. */
	err = ib_register_device(&cdev->ibdev, "cmr%d", NULL);
	if (err)
		goto err_destroy_mrs;
	err = device_add_groups(&cdev->ibdev.dev, cmr_stat_groups);
	if (err)
		goto err_unregister;
	return cdev;

err_unregister:
	ib_unregister_device(&cdev->ibdev);
err_destroy_mrs:
	cmr_index_destroy(&cdev->mrs);
err_destroy_qps:
	cmr_index_destroy(&cdev->qps);
err_free_db:
	free_percpu(cdev->db);
err_dealloc:
	ib_dealloc_device(&cdev->ibdev);
	return ERR_PTR(err);
}

static void cmr_dev_remove(struct cmr_dev *cdev)
{
	device_remove_groups(&cdev->ibdev.dev, cmr_stat_groups);
	ib_unregister_device(&cdev->ibdev);
	cmr_index_destroy(&cdev->qps);
	cmr_index_destroy(&cdev->mrs);
	xa_destroy(&cdev->ah_xa);
	xa_destroy(&cdev->srq_xa);
	free_percpu(cdev->db);
	ib_dealloc_device(&cdev->ibdev);
}

static void cmr_remove_all(void)
{
	struct cmr_dev *cdev;
	int i;

	for (i = CMR_MAX_DEVICES - 1; i >= 0; i--) {
		cdev = rcu_dereference_protected(cmr_devs[i], true);
		if (!cdev)
			continue;
		/* No engine context finds it after the grace period. */
		RCU_INIT_POINTER(cmr_devs[i], NULL);
		synchronize_srcu(&cmr_srcu);
		cmr_dev_remove(cdev);
	}
}

static int __init cmr_init(void)
{
	struct cmr_dev *cdev;
	int err;
	u32 i;

	BUILD_BUG_ON(sizeof(struct cmr_ring) != CMR_RING_ENTRIES_OFFSET);
	BUILD_BUG_ON(sizeof(struct cmr_send_wqe) != 64);
	BUILD_BUG_ON(sizeof(struct cmr_recv_wqe) != 16);
	BUILD_BUG_ON(sizeof(struct cmr_sge) != 16);
	BUILD_BUG_ON(sizeof(struct cmr_cqe) != 64);
	BUILD_BUG_ON(sizeof(struct cmr_queue_info) != 24);
	BUILD_BUG_ON(sizeof(struct ib_grh) != CMR_UD_GRH_LEN);
	BUILD_BUG_ON(sizeof(struct cmr_compute_params) != 40);
	BUILD_BUG_ON(sizeof(struct cmr_stream_params) != 16);
	BUILD_BUG_ON(sizeof(struct cmr_compute_caps) !=
		     24 + CMR_NUM_ALGS * sizeof(struct cmr_alg_caps));
	BUILD_BUG_ON(sizeof(struct cmr_alg_caps) != 80);
	BUILD_BUG_ON(sizeof(struct cmr_create_qp_cmd) != 8);

	if (num_devices < 1 || num_devices > CMR_MAX_DEVICES)
		return -EINVAL;

	err = init_srcu_struct(&cmr_srcu);
	if (err)
		return err;
	cmr_wq = alloc_workqueue("cmr", WQ_UNBOUND, 0);
	if (!cmr_wq) {
		err = -ENOMEM;
		goto err_cleanup_srcu;
	}
	err = cmr_compute_init();
	if (err)
		goto err_destroy_wq;
	err = cmr_sqp_init();
	if (err)
		goto err_compute_exit;

	for (i = 0; i < num_devices; i++) {
		cdev = cmr_dev_add(i);
		if (IS_ERR(cdev)) {
			err = PTR_ERR(cdev);
			goto err_remove_all;
		}
		rcu_assign_pointer(cmr_devs[i], cdev);
	}
	return 0;

err_remove_all:
	cmr_remove_all();
	cmr_sqp_exit();
err_compute_exit:
	cmr_compute_exit();
err_destroy_wq:
	destroy_workqueue(cmr_wq);
err_cleanup_srcu:
	cleanup_srcu_struct(&cmr_srcu);
	return err;
}

static void __exit cmr_exit(void)
{
	/* Devices first: their QPs leave the SQ pollers. */
	cmr_remove_all();
	cmr_sqp_exit();
	cmr_compute_exit();
	destroy_workqueue(cmr_wq);
	cleanup_srcu_struct(&cmr_srcu);
}

module_init(cmr_init);
module_exit(cmr_exit);

MODULE_AUTHOR("cmr developers");
MODULE_DESCRIPTION("cmr: compression and crypto offload as an RDMA device");
MODULE_LICENSE("Dual BSD/GPL");
MODULE_VERSION(CMR_VERSION);
