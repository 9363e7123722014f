/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* cmr: objects of the device and their converters. */
#ifndef CMR_H
#define CMR_H

#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_umem_odp.h>
#include <rdma/cmr-abi.h>

#include "cmr_queue.h"
#include "compat.h"

struct cmr_compute_ws;		/* cmr_compute.h */
struct cmr_key;
struct cmr_stream;
struct cmr_sqp;			/* cmr_sqpoll.c */

#define CMR_VENDOR_ID	0xffffff	/* no IEEE OUI: a software device */
#define CMR_PORT	1
#define CMR_MAX_DEVICES	16
#define CMR_GID_PREFIX	0xfe80000000000000ULL
#define CMR_GUID_BASE	0x02c0de0000000000ULL	/* | device index */

/* Limits the device enforces; query_device reports exactly these. */
enum cmr_limits {
	CMR_MAX_PD = 1 << 16,
	CMR_MAX_QP = 1 << 16,
	CMR_MAX_QP_WR = 1 << 14,
	CMR_MAX_SGE = 32,
	CMR_MAX_SQ_STRIDE = 1024,
	CMR_MAX_INLINE = CMR_MAX_SQ_STRIDE - sizeof(struct cmr_send_wqe),
	CMR_MAX_CQ = 1 << 16,
	CMR_MAX_CQE = 1 << 16,
	CMR_MAX_MR = 1 << 20,
	CMR_MAX_AH = 1 << 16,
	CMR_MAX_SRQ = 1 << 16,
	CMR_MAX_SRQ_WR = 1 << 14,
	CMR_MAX_RD_ATOM = 16,
	CMR_MAX_MSG_SHIFT = 31,		/* messages up to 2 GiB */
	CMR_UD_MTU = 4096,		/* UD messages are one packet */
	CMR_UD_GRH_LEN = 40,		/* GRH space at the start of UD buffers */
	CMR_MIN_QPN = 16,
	CMR_MAX_QPN = (1 << 24) - 1,
	CMR_MAX_MR_INDEX = (1 << 24) - 1, /* key = index << 8 | variant */
	CMR_IMPLICIT_CHUNK_SHIFT = 21,	/* implicit ODP children cover 2 MiB */
	CMR_MAX_COMPUTE_SIZE = 4 << 20,	/* compute WR source or destination */
	CMR_MAX_KEYS = 1 << 16,		/* per device */
	CMR_MAX_STREAMS = 1 << 10,	/* per device: each holds up to MiBs */
	CMR_MAX_SQ_POLL_THREADS = 64,
};

/*
 * Doorbell system calls (uverbs commands and the fast doorbell alike), per
 * CPU: a shared counter would bounce its cache line between the CPUs of
 * two processes ringing each other's QPs, on every message.
 */
struct cmr_db_stats {
	u64 sq;
	u64 rq;
	u64 srq;
};

struct cmr_odp_stats {
	atomic64_t faults;		/* calls that had to fault pages in */
	atomic64_t invalidations;	/* mmu notifier invalidations handled */
	atomic64_t prefetches;		/* advise_mr ranges prefetched */
	atomic64_t retries;		/* faults that raced an invalidation */
	atomic64_t implicit_children;	/* implicit MRs' child umems alive */
};

/*
 * The engine's read side.  Every engine context (a doorbell, a wake-up,
 * a QP's work) runs inside srcu_read_lock(&cmr_srcu); lookups of devices,
 * QPs and MRs inside it take no references and no locks, and the objects
 * stay valid until srcu_read_unlock().  Removal unpublishes an object and
 * calls synchronize_srcu() before freeing it.  SRCU, not RCU: an engine
 * context may sleep (ODP faults, receive queue mutexes, cond_resched).
 */
extern struct srcu_struct cmr_srcu;

/*
 * A numbered set of objects (QPs by QPN, MRs by key index): a flat array
 * read under cmr_srcu.  Writers hold lock; a grown array replaces the old
 * one, which is freed after an SRCU grace period.
 */
struct cmr_table {
	u32 size;
	void *slot[];
};

struct cmr_index {
	struct mutex lock;		/* writers: allocate, publish, remove */
	struct cmr_table __rcu *tbl;
	u32 min;			/* lowest number handed out */
	u32 max;			/* highest number handed out */
	u32 next;			/* where the cyclic search starts */
};

#define CMR_SLOT_RESERVED ((void *)1)	/* allocated, not yet published */

/* Caller holds cmr_srcu. */
static inline void *cmr_index_lookup(struct cmr_index *ix, u32 id)
{
	struct cmr_table *t = srcu_dereference(ix->tbl, &cmr_srcu);
	void *p;

	if (id >= t->size)
		return NULL;
	p = srcu_dereference(t->slot[array_index_nospec(id, t->size)],
			     &cmr_srcu);
	return p == CMR_SLOT_RESERVED ? NULL : p;
}

struct cmr_dev {
	struct ib_device ibdev;
	u32 index;		/* cmr<index>; the port's LID is index + 1 */

	atomic_t num_pd;
	atomic_t num_qp;
	atomic_t num_cq;
	atomic_t num_mr;
	atomic_t num_srq;
	atomic_t num_ah;
	atomic_t num_keys;
	atomic_t num_streams;

	/* The engine's lookups: see struct cmr_index. */
	struct cmr_index qps;	/* QPN -> struct cmr_qp */
	struct cmr_index mrs;	/* key >> 8 -> struct cmr_mr */
	atomic_t mr_variant;	/* low 8 bits of the next key */

	/*
	 * Each xarray's own lock protects its contents and its allocation
	 * cursor.
	 */
	struct xarray ah_xa;	/* ah_num -> struct cmr_ah; read under xa lock */
	u32 ah_next;
	struct xarray srq_xa;	/* srq_num -> struct cmr_srq (numbering only) */
	u32 srq_next;

	struct cmr_odp_stats odp;
	struct cmr_db_stats __percpu *db;
};

/* The fast doorbell of a user context (see cmr-abi.h). */
struct cmr_dbfile {
	refcount_t ref;			/* the open file and the ucontext */
	u32 dev_index;
};

enum cmr_cobj_type {
	CMR_COBJ_KEY,
	CMR_COBJ_STREAM,
	CMR_NUM_COBJ_TYPES
};

/*
 * A compute object of a user context: the CMR_OBJECT_KEY or
 * CMR_OBJECT_STREAM uobject's, found by the number compute WQEs carry.
 */
struct cmr_cobj {
	/* The uobject's reference, plus one per engine context using it. */
	refcount_t ref;
	struct cmr_dev *dev;
	struct ib_pd *pd;		/* holds its usecnt while in the table */
	enum cmr_cobj_type type;
	u32 num;
	union {
		struct cmr_key *key;
		struct cmr_stream *stream;
	};
};

struct cmr_ucontext {
	struct ib_ucontext ibuc;
	struct cmr_dbfile *db;		/* NULL if not asked for */
	/*
	 * Compute objects by number (key_num, stream_num; never 0).  The
	 * xarray's lock protects its contents, the allocation cursor and
	 * taking a reference on what a lookup finds.
	 */
	struct xarray cobjs[CMR_NUM_COBJ_TYPES];
	u32 cobj_next[CMR_NUM_COBJ_TYPES];
};

/* A mapping of one ring into user space. */
struct cmr_mmap_entry {
	struct rdma_user_mmap_entry rdma;
	void *buf;
};

struct cmr_pd {
	struct ib_pd ibpd;
};

/* Address vector: where a QP path or an AH points. */
struct cmr_av {
	u32 dev_index;		/* destination device, U32_MAX if none */
	u16 dlid;
	u8 sl;
	u8 ah_flags;		/* IB_AH_GRH */
	u8 static_rate;
	u8 sgid_index;
	u8 hop_limit;
	u8 traffic_class;
	u32 flow_label;
	union ib_gid dgid;
};

struct cmr_ah {
	struct ib_ah ibah;
	struct cmr_av av;
	u32 ah_num;
};

struct cmr_cq {
	struct ib_cq ibcq;
	/*
	 * Protects q (the ring, swapped by resize, and q.index, the
	 * producer), consumer, notify and overflow.
	 */
	spinlock_t lock;
	struct cmr_queue q;
	/*
	 * The ring's consumer index as last read.  It only moves forward, so
	 * while q.index - consumer < num_entries there is room, and the
	 * ring's consumer (a line user space writes on every poll) is read
	 * again only when the CQ looks full.
	 */
	u32 consumer;
	u8 notify;		/* 0, IB_CQ_SOLICITED or IB_CQ_NEXT_COMP */
	bool overflow;		/* CQ_ERR already reported */
};

/* A receive queue: the RQ of a QP or an SRQ. */
struct cmr_rq {
	/*
	 * Serialises consumers of this queue: protects q (an SRQ's ring is
	 * swapped by resize; q.index, the consumer), producer, the waiters
	 * list, the SRQ limit, and keeps receive completions in WQE order.
	 * A QP's reset cleans its CQs under it.  Taken after a QP's sq_mutex,
	 * never before.
	 */
	struct mutex lock;
	struct cmr_queue q;
	/*
	 * The ring's producer index as last read and found sane.  WQEs below
	 * it stay posted until we consume them, so the ring's producer (a
	 * line user space writes on every post) is read again only when
	 * those are used up.  Reset with q.index.
	 */
	u32 producer;
	u32 max_sge;
	struct list_head waiters;	/* requesters stalled by RNR */
	struct cmr_srq *srq;		/* owner if this is an SRQ */
};

struct cmr_srq {
	struct ib_srq ibsrq;
	refcount_t ref;			/* doorbell users + 1 while it exists */
	struct completion released;	/* ref reached zero */
	struct cmr_ucontext *uc;
	struct cmr_rq rq;
	u32 srq_num;
	u32 limit;		/* under rq.lock; 0 = not armed */
};

/* A piece of a scatter list, validated against its MR. */
struct cmr_seg {
	struct cmr_mr *mr;	/* NULL: a kernel buffer */
	union {
		u64 iova;	/* with an MR */
		void *kaddr;	/* without one (iova is then its address) */
	};
	u32 len;
};

enum cmr_mr_kind {
	CMR_MR_PINNED,
	CMR_MR_ODP,
	CMR_MR_IMPLICIT,
};

struct cmr_mr {
	struct ib_mr ibmr;
	struct cmr_dev *dev;
	u32 key;			/* lkey == rkey */
	enum cmr_mr_kind kind;
	int access;			/* IB_ACCESS_* */
	bool invalid;			/* after LOCAL_INV / SEND_WITH_INV */
	u64 iova;
	u64 length;
	u64 va;				/* user address of iova */
	struct ib_umem *umem;		/* pinned or explicit ODP, or root */

	/* CMR_MR_PINNED */
	struct page **pages;		/* every page of the umem, in order */
	unsigned long npages;

	/* CMR_MR_IMPLICIT */
	struct mutex child_lock;	/* serialises adding and reaping children */
	struct xarray children;		/* va >> chunk shift -> ib_umem_odp */
	struct work_struct reap_work;	/* frees children that map nothing */
};

struct cmr_qp {
	struct ib_qp ibqp;
	struct cmr_dev *dev;
	struct cmr_ucontext *uc;	/* outlives the QP */
	/*
	 * References from outside cmr_srcu: a requester stalled on our
	 * receive queue, a wake-up about to run us, a receive doorbell, a
	 * run of our SQ that left the section (struct cmr_sq_hold).  + 1
	 * while we exist.
	 */
	refcount_t ref;
	struct completion released;	/* ref reached zero */

	/*
	 * Protects attr and av: modify_qp (under sq_mutex too) writes them
	 * under it and checks there that the state is still what it
	 * validated; cmr_qp_error() moves the state to ERR under it alone.
	 * Peers read single fields (state, dest QPN, qkey, access flags)
	 * with READ_ONCE without it.
	 */
	spinlock_t state_lock;
	struct ib_qp_attr attr;		/* as set by modify_qp; no ah_attr */
	struct cmr_av av;		/* primary path */

	struct cmr_cq *scq;
	struct cmr_cq *rcq;
	struct cmr_srq *srq;
	bool sq_sig_all;
	u32 max_send_sge;
	u32 max_inline;

	/*
	 * Own RQ unless srq.  The engines of our peers write it for every
	 * message they deliver to us while ours writes the SQ state below
	 * for every message we send: separate cache lines, or a ping-pong
	 * between two CPUs bounces one line back and forth.  The fields
	 * above, which peers read, change rarely (modify_qp, RNR waits).
	 */
	struct cmr_rq rq ____cacheline_aligned_in_smp;

	/*
	 * Serialises execution of this QP's SQ: protects sq.index (the
	 * consumer), the scratch buffers below, the RNR state and dead.
	 */
	struct mutex sq_mutex ____cacheline_aligned_in_smp;
	struct cmr_queue sq;
	bool dead;			/* being destroyed: run nothing */
	void *wqe;			/* private copy of the SQ entry */
	void *recv_wqe;			/* private copy of a peer's recv WQE */
	void *bounce;			/* one page for ODP to ODP copies */
	struct cmr_seg lsegs[CMR_MAX_SGE];	/* this QP's WQE data */
	struct cmr_seg rsegs[CMR_MAX_SGE];	/* a peer's receive buffers */
	/* The running compute WR's digest or checksum, for its CQE. */
	u8 result[sizeof_field(struct cmr_cqe, result)];

	/* RNR wait: the head WQE waits for a receive at a peer. */
	struct cmr_qp *rnr_peer;	/* holds a reference */
	struct cmr_rq *rnr_rq;		/* where rnr_entry is queued */
	struct list_head rnr_entry;	/* in rnr_rq->waiters, under its lock */
	unsigned long rnr_deadline;	/* jiffies */
	unsigned int rnr_attempts;	/* timeouts so far for the head WQE */
	bool rnr_timing;		/* rnr_deadline is valid */

	/* Runs the SQ off the doorbell: RNR timer, wake-ups, flush. */
	struct delayed_work sq_work;

	u32 create_flags;		/* enum cmr_create_qp_flags */
	/*
	 * CMR_WQE_SRC_FROM_PREV: bytes the previous WR produced, and whether
	 * it failed; under sq_mutex, reset with the QP.
	 */
	u32 prev_len;
	bool prev_failed;

	/*
	 * Compute WRs, under sq_mutex: the backends' workspace and the
	 * linear buffers WRs are gathered into and computed into, all
	 * allocated on first use, grown up to CMR_MAX_COMPUTE_SIZE and kept
	 * until the QP is destroyed.
	 */
	struct cmr_compute_ws *ws;
	void *csrc;
	void *cdst;
	u32 csrc_size;
	u32 cdst_size;

	/*
	 * CMR_QP_FLAG_SQ_POLL: the poller thread running this SQ.  The
	 * entry is in sqp->qps (under sqp->lock, read under cmr_srcu)
	 * until sqp_unlisted; sqp_flagged, the poller's own, says whether
	 * it left CMR_RING_NEED_WAKEUP set in the SQ ring.
	 */
	struct cmr_sqp *sqp;
	struct list_head sqp_entry;
	bool sqp_unlisted;
	bool sqp_flagged;

	/* The creator's: charged for what WRs allocate in kernel threads. */
	struct mem_cgroup *memcg;
};

static inline struct cmr_dev *to_cmr_dev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct cmr_dev, ibdev);
}

static inline struct cmr_ucontext *to_cmr_uc(struct ib_ucontext *ibuc)
{
	return container_of(ibuc, struct cmr_ucontext, ibuc);
}

static inline struct cmr_mmap_entry *
to_cmr_mmap(struct rdma_user_mmap_entry *entry)
{
	return container_of(entry, struct cmr_mmap_entry, rdma);
}

static inline struct cmr_pd *to_cmr_pd(struct ib_pd *ibpd)
{
	return container_of(ibpd, struct cmr_pd, ibpd);
}

static inline struct cmr_ah *to_cmr_ah(struct ib_ah *ibah)
{
	return container_of(ibah, struct cmr_ah, ibah);
}

static inline struct cmr_cq *to_cmr_cq(struct ib_cq *ibcq)
{
	return container_of(ibcq, struct cmr_cq, ibcq);
}

static inline struct cmr_srq *to_cmr_srq(struct ib_srq *ibsrq)
{
	return container_of(ibsrq, struct cmr_srq, ibsrq);
}

static inline struct cmr_mr *to_cmr_mr(struct ib_mr *ibmr)
{
	return container_of(ibmr, struct cmr_mr, ibmr);
}

static inline struct cmr_qp *to_cmr_qp(struct ib_qp *ibqp)
{
	return container_of(ibqp, struct cmr_qp, ibqp);
}

static inline u16 cmr_lid(const struct cmr_dev *dev)
{
	return dev->index + 1;
}

/*
 * The engine's lookups and checks, inline: they run for every WQE.
 * Callers hold cmr_srcu.
 */

/*
 * Registered devices by index (cmr_main.c).  Written at module load and
 * unload only; the engine reads it to reach another device's QP table, and
 * removal waits for a grace period before unregistering.
 */
extern struct cmr_dev __rcu *cmr_devs[CMR_MAX_DEVICES];

static inline struct cmr_dev *cmr_dev_lookup(u32 index)
{
	if (index >= CMR_MAX_DEVICES)
		return NULL;
	return srcu_dereference(cmr_devs[array_index_nospec(index,
							    CMR_MAX_DEVICES)],
				&cmr_srcu);
}

/* The QP numbered qpn on device dev_index, or NULL. */
static inline struct cmr_qp *cmr_qp_lookup(u32 dev_index, u32 qpn)
{
	struct cmr_dev *dev = cmr_dev_lookup(dev_index);

	return dev ? cmr_index_lookup(&dev->qps, qpn) : NULL;
}

/* Can the QP receive in this state? */
static inline bool cmr_qp_state_receives(enum ib_qp_state state)
{
	return state == IB_QPS_RTR || state == IB_QPS_RTS ||
	       state == IB_QPS_SQD || state == IB_QPS_SQE;
}

/* The MR with this key, or NULL. */
static inline struct cmr_mr *cmr_mr_lookup(struct cmr_dev *dev, u32 key)
{
	struct cmr_mr *mr = cmr_index_lookup(&dev->mrs, key >> 8);

	return mr && mr->key == key ? mr : NULL;
}

/*
 * May [iova, iova + len) of mr be used by pd with these access rights?
 * 0, -EACCES if the rights are missing, -EPERM for anything else.
 */
static inline int cmr_mr_check(struct cmr_mr *mr, struct ib_pd *pd, u64 iova,
			       u64 len, int access)
{
	if (mr->ibmr.pd != pd || READ_ONCE(mr->invalid))
		return -EPERM;
	if (iova < mr->iova || len > mr->length ||
	    iova - mr->iova > mr->length - len)
		return -EPERM;
	if ((mr->access & access) != access)
		return -EACCES;
	return 0;
}

/*
 * The kernel address of the first len bytes of seg if one page of a pinned
 * MR holds them, else NULL.  Valid while the MR is, i.e. under cmr_srcu;
 * the bytes stay shared with user space.  Inline: the engine calls it
 * twice per compute WR.
 */
static inline void *cmr_seg_kaddr(const struct cmr_seg *seg, u64 len)
{
	struct cmr_mr *mr = seg->mr;
	unsigned long off;
	struct page *page;

	if (!mr || mr->kind != CMR_MR_PINNED || len > seg->len)
		return NULL;
	off = (seg->iova - mr->iova) + (mr->va & ~PAGE_MASK);
	if ((off & ~PAGE_MASK) + len > PAGE_SIZE ||
	    WARN_ON_ONCE((off >> PAGE_SHIFT) >= mr->npages))
		return NULL;
	page = mr->pages[off >> PAGE_SHIFT];
	if (PageHighMem(page))
		return NULL;
	return page_address(page) + (off & ~PAGE_MASK);
}

/* The receive queue a QP consumes: its SRQ's or its own. */
static inline struct cmr_rq *cmr_qp_rq(struct cmr_qp *qp)
{
	return qp->srq ? &qp->srq->rq : &qp->rq;
}

#endif /* CMR_H */
