/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* cmr: objects of the device and their converters. */
#ifndef CMR_H
#define CMR_H

#include <rdma/ib_verbs.h>
#include <rdma/cmr-abi.h>

#define CMR_VENDOR_ID	0xffffff	/* no IEEE OUI: a software device */
#define CMR_PORT	1

/* Limits the device enforces; query_device reports exactly these. */
enum cmr_limits {
	CMR_MAX_PD = 1 << 16,
};

struct cmr_dev {
	struct ib_device ibdev;
	u32 index;		/* cmr<index>; also the port's LID - 1 */
	atomic_t num_pd;
};

struct cmr_ucontext {
	struct ib_ucontext ibuc;
};

struct cmr_pd {
	struct ib_pd ibpd;
};

static inline struct cmr_dev *to_cmr_dev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct cmr_dev, ibdev);
}

static inline struct cmr_ucontext *to_cmr_uc(struct ib_ucontext *ibuc)
{
	return container_of(ibuc, struct cmr_ucontext, ibuc);
}

static inline struct cmr_pd *to_cmr_pd(struct ib_pd *ibpd)
{
	return container_of(ibpd, struct cmr_pd, ibpd);
}

#endif /* CMR_H */
