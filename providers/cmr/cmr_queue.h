/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * libcmr: the rings shared with cmr.ko (include/uapi/rdma/cmr-abi.h).
 *
 * Who owns which index:
 *   SQ, RQ, SRQ: user space owns ring->producer, the kernel owns
 *                ring->consumer.
 *   CQ:          the kernel owns ring->producer, user space owns
 *                ring->consumer.
 * Indices are free-running u32 and masked with (num_entries - 1) on use.
 *
 * The provider never reads back the index it owns: struct cmr_queue keeps
 * the private copy (q->index) and publishes it with a release store.  The
 * other side's index is read with an acquire load; for the work queues a
 * cached copy (q->peer) spares the shared cache line until the queue looks
 * full.  Threads of the process are ordered by the queue's lock: every
 * helper that touches q->index or q->peer is called under it.
 */
#ifndef CMR_QUEUE_H
#define CMR_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rdma/cmr-abi.h>

struct cmr_queue {
	struct cmr_ring *ring;		/* start of the mapping */
	size_t map_size;		/* 0: no queue (nothing mapped) */
	uint32_t mask;			/* num_entries - 1 */
	uint32_t stride_shift;		/* log2 of the entry size */
	uint32_t index;			/* private copy of the index we own */
	uint32_t peer;			/* last value read of the other index */
};

typedef _Atomic(uint32_t) cmr_atomic_u32;

/*
 * The lock of a queue's side (a work queue's producer, a CQ's consumer):
 * a test-and-test-and-set spinlock like pthread's, but inlined.
 * pthread_spin_lock() and _unlock() are calls into libc through the PLT,
 * and three lock/unlock pairs (poll, post_recv, post_send) lie on the path
 * of every message.
 */
struct cmr_spinlock {
	atomic_bool locked;
};

static inline void cmr_spin_init(struct cmr_spinlock *lock)
{
	atomic_init(&lock->locked, false);
}

static inline void cmr_cpu_relax(void)
{
#if defined(__i386__) || defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

static inline void cmr_spin_lock(struct cmr_spinlock *lock)
{
	while (atomic_exchange_explicit(&lock->locked, true,
					memory_order_acquire))
		while (atomic_load_explicit(&lock->locked,
					    memory_order_relaxed))
			cmr_cpu_relax();
}

static inline void cmr_spin_unlock(struct cmr_spinlock *lock)
{
	atomic_store_explicit(&lock->locked, false, memory_order_release);
}

static inline cmr_atomic_u32 *cmr_atomic(__u32 *p)
{
	return (cmr_atomic_u32 *)p;
}

static inline void *cmr_queue_entry(struct cmr_queue *q, uint32_t index)
{
	return (uint8_t *)q->ring + CMR_RING_ENTRIES_OFFSET +
	       ((size_t)(index & q->mask) << q->stride_shift);
}

/*
 * Work queues (SQ, RQ, SRQ): user space is the producer.
 */

/* Pairs with the kernel's release store of consumer once it copied a WQE. */
static inline uint32_t cmr_wq_load_consumer(struct cmr_queue *q)
{
	return atomic_load_explicit(cmr_atomic(&q->ring->consumer),
				    memory_order_acquire);
}

/* Caller holds the queue's lock: can entry 'index' be written? */
static inline bool cmr_wq_has_room(struct cmr_queue *q, uint32_t index)
{
	if (index - q->peer <= q->mask)
		return true;
	q->peer = cmr_wq_load_consumer(q);
	return index - q->peer <= q->mask;
}

/*
 * Caller holds the queue's lock: publish the WQEs below 'index' and tell
 * whether the kernel asked to be woken for them.  The release store pairs
 * with the kernel's acquire load of producer (the WQEs are written before
 * it can see them).  The full barrier orders that store before the flags
 * load and pairs with the kernel's barrier between setting NEED_WAKEUP and
 * re-reading producer: either the kernel sees our WQEs or we see the flag.
 * The flag is read under the lock because an SRQ's ring may be replaced
 * (ibv_modify_srq) once the lock is dropped.
 */
static inline bool cmr_wq_publish(struct cmr_queue *q, uint32_t index)
{
	q->index = index;
	atomic_store_explicit(cmr_atomic(&q->ring->producer), index,
			      memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(cmr_atomic(&q->ring->flags),
				    memory_order_relaxed) & CMR_RING_NEED_WAKEUP;
}

/*
 * Completion queues: user space is the consumer.
 */

/* Caller holds cq->lock; pairs with the kernel's release store of producer
 * after it wrote the CQEs below it. */
static inline uint32_t cmr_cq_load_producer(struct cmr_queue *q)
{
	q->peer = atomic_load_explicit(cmr_atomic(&q->ring->producer),
				       memory_order_acquire);
	return q->peer;
}

/* Caller holds cq->lock; pairs with the kernel's acquire load of consumer:
 * our reads of the CQEs below 'index' are done before it reuses them. */
static inline void cmr_cq_publish(struct cmr_queue *q, uint32_t index)
{
	q->index = index;
	atomic_store_explicit(cmr_atomic(&q->ring->consumer), index,
			      memory_order_release);
}

#endif /* CMR_QUEUE_H */
