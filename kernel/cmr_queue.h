/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cmr: kernel side of the rings described in cmr-abi.h.
 *
 *   SQ, RQ, SRQ: user space owns producer, the kernel owns consumer.
 *   CQ:          the kernel owns producer, user space owns consumer.
 *
 * The index the kernel owns lives in struct cmr_queue.index and is only
 * ever published to the ring, never read back from it.  The index user
 * space owns is read with an acquire load and checked against our own (a
 * distance above num_entries is garbage); receive queues and CQs keep the
 * last sane value and read the ring again only when it is used up (struct
 * cmr_rq.producer, struct cmr_cq.consumer).  Entries are copied out of (or
 * into) the ring once; nothing is trusted in between.
 */
#ifndef CMR_QUEUE_H
#define CMR_QUEUE_H

#include <linux/types.h>
#include <rdma/ib_verbs.h>
#include <rdma/cmr-abi.h>

struct cmr_queue {
	struct cmr_ring *ring;		/* vmalloc'ed: header, then entries */
	struct rdma_user_mmap_entry *mmap;
	size_t size;			/* bytes mapped, page aligned */
	u32 num_entries;		/* power of two; 0 if the queue is absent */
	u32 stride;			/* bytes per entry, power of two */
	u32 index;			/* the index the kernel owns */
};

static inline void *cmr_queue_slot(const struct cmr_queue *q, u32 idx)
{
	return (u8 *)q->ring + CMR_RING_ENTRIES_OFFSET +
	       (size_t)(idx & (q->num_entries - 1)) * q->stride;
}

static inline u32 cmr_queue_user_producer(const struct cmr_queue *q)
{
	/* Pairs with the provider's release store publishing new WQEs. */
	return smp_load_acquire(&q->ring->producer);
}

static inline u32 cmr_queue_user_consumer(const struct cmr_queue *q)
{
	/* Pairs with the provider's release store after it read CQEs. */
	return smp_load_acquire(&q->ring->consumer);
}

static inline void cmr_queue_publish_consumer(struct cmr_queue *q)
{
	/* Our reads of the WQEs below are done; pairs with its acquire. */
	smp_store_release(&q->ring->consumer, q->index);
}

static inline void cmr_queue_publish_producer(struct cmr_queue *q)
{
	/* The CQEs below are written; pairs with the provider's acquire. */
	smp_store_release(&q->ring->producer, q->index);
}

/*
 * WQEs posted and not consumed, given the user's producer.  A value above
 * num_entries means user space wrote garbage.
 */
static inline u32 cmr_queue_pending(const struct cmr_queue *q, u32 producer)
{
	return producer - q->index;
}

/*
 * The need-wakeup flag.  Setting it is followed by a full barrier and a
 * re-read of the producer (the provider publishes the producer, issues a
 * full barrier and then reads the flag), so a WQE is either seen by our
 * re-read or announced by a doorbell.
 */
static inline void cmr_queue_set_flags(struct cmr_queue *q, u32 flags)
{
	WRITE_ONCE(q->ring->flags, flags);
	/* Flag before the producer re-read; pairs with the provider's fence. */
	smp_mb();
}

#endif /* CMR_QUEUE_H */
