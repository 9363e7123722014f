// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: computational memory regions.
 *
 * Module entry: the ops table and the registration of cmr0..cmrN-1.
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "cmr_loc.h"

#define CMR_MAX_DEVICES 16

static unsigned int num_devices = 1;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices, "number of cmr devices to register (1-16)");

/* Written only at module load and unload: no lock. */
static struct cmr_dev *cmr_devs[CMR_MAX_DEVICES];

static const struct ib_device_ops cmr_dev_ops = {
	.owner = THIS_MODULE,
	.uverbs_abi_ver = CMR_ABI_VERSION,
	.driver_id = RDMA_DRIVER_UNKNOWN,

	.alloc_pd = cmr_alloc_pd,
	.alloc_ucontext = cmr_alloc_ucontext,
	.create_cq = cmr_create_cq,
	.create_qp = cmr_create_qp,
	.dealloc_pd = cmr_dealloc_pd,
	.dealloc_ucontext = cmr_dealloc_ucontext,
	.dereg_mr = cmr_dereg_mr,
	.destroy_cq = cmr_destroy_cq,
	.destroy_qp = cmr_destroy_qp,
	.get_dma_mr = cmr_get_dma_mr,
	.get_port_immutable = cmr_get_port_immutable,
	.modify_qp = cmr_modify_qp,
	.poll_cq = cmr_poll_cq,
	.post_recv = cmr_post_recv,
	.post_send = cmr_post_send,
	.query_device = cmr_query_device,
	.query_gid = cmr_query_gid,
	.query_pkey = cmr_query_pkey,
	.query_port = cmr_query_port,
	.reg_user_mr = cmr_reg_user_mr,
	.req_notify_cq = cmr_req_notify_cq,

	INIT_RDMA_OBJ_SIZE(ib_pd, cmr_pd, ibpd),
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
	/* Locally administered EUI-64, unique per device index. */
	cdev->ibdev.node_guid = cpu_to_be64(0x02c0de0000000000ULL | index);
	cdev->ibdev.node_type = RDMA_NODE_IB_CA;
	cdev->ibdev.phys_port_cnt = 1;
	cdev->ibdev.num_comp_vectors = 1;
	strscpy(cdev->ibdev.node_desc, "cmr computational memory regions",
		sizeof(cdev->ibdev.node_desc));
	ib_set_device_ops(&cdev->ibdev, &cmr_dev_ops);

	/* No DMA device: ib_core falls back to virtual addressing. */
	err = ib_register_device(&cdev->ibdev, "cmr%d", NULL);
	if (err) {
		ib_dealloc_device(&cdev->ibdev);
		return ERR_PTR(err);
	}
	return cdev;
}

static void cmr_dev_remove(struct cmr_dev *cdev)
{
	ib_unregister_device(&cdev->ibdev);
	ib_dealloc_device(&cdev->ibdev);
}

static void cmr_remove_all(void)
{
	int i;

	for (i = CMR_MAX_DEVICES - 1; i >= 0; i--) {
		if (cmr_devs[i])
			cmr_dev_remove(cmr_devs[i]);
		cmr_devs[i] = NULL;
	}
}

static int __init cmr_init(void)
{
	struct cmr_dev *cdev;
	u32 i;

	BUILD_BUG_ON(sizeof(struct cmr_ring) != CMR_RING_ENTRIES_OFFSET);
	BUILD_BUG_ON(sizeof(struct cmr_send_wqe) != 64);
	BUILD_BUG_ON(sizeof(struct cmr_recv_wqe) != 16);
	BUILD_BUG_ON(sizeof(struct cmr_cqe) != 64);

	if (num_devices < 1 || num_devices > CMR_MAX_DEVICES)
		return -EINVAL;

	for (i = 0; i < num_devices; i++) {
		cdev = cmr_dev_add(i);
		if (IS_ERR(cdev)) {
			cmr_remove_all();
			return PTR_ERR(cdev);
		}
		cmr_devs[i] = cdev;
	}
	return 0;
}

static void __exit cmr_exit(void)
{
	cmr_remove_all();
}

module_init(cmr_init);
module_exit(cmr_exit);

MODULE_AUTHOR("cmr developers");
MODULE_DESCRIPTION("cmr: compression and crypto offload as an RDMA device");
MODULE_LICENSE("Dual BSD/GPL");
