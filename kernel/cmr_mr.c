// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: memory regions: registration, keys, and the engine's access to
 * registered memory (copies between scatter lists, 8-byte atomics).
 *
 * Keys: lkey == rkey == index << 8 | variant, the index in the device's
 * mrs table.  A pinned MR keeps an array of its pages; an ODP MR reaches its
 * pages through the umem's dma_list (kernel virtual addresses, since we
 * register without a DMA device) while holding umem_mutex.
 */
#include <linux/highmem.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <rdma/uverbs_ioctl.h>

#include "cmr_loc.h"

/* Largest run copied under one ODP lock, and between cond_resched(). */
#define CMR_COPY_CHUNK	(64 * 1024)

#define CMR_MR_ACCESS	(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE | \
			 IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC | \
			 IB_ACCESS_ON_DEMAND | IB_ACCESS_HUGETLB |	  \
			 IB_ACCESS_RELAXED_ORDERING)

/*
 * LOCAL_INV and SEND_WITH_INV: the key stops working until the MR is
 * deregistered.  A remote peer may only invalidate keys that it could
 * use, those of MRs of the responder's PD with remote access.  Caller
 * holds cmr_srcu.
 */
bool cmr_mr_invalidate(struct cmr_dev *dev, struct ib_pd *pd, u32 key,
		       bool remote)
{
	struct cmr_mr *mr = cmr_mr_lookup(dev, key);

	if (!mr || mr->ibmr.pd != pd)
		return false;
	if (remote && !(mr->access & (IB_ACCESS_REMOTE_READ |
				      IB_ACCESS_REMOTE_WRITE |
				      IB_ACCESS_REMOTE_ATOMIC)))
		return false;
	WRITE_ONCE(mr->invalid, true);
	return true;
}

static __always_inline bool cmr_seg_is_odp(const struct cmr_seg *seg)
{
	return seg->mr && seg->mr->kind != CMR_MR_PINNED;
}

/*
 * How many bytes from iova can be locked at once: an implicit MR's
 * children each cover one chunk.
 */
static u64 cmr_seg_room(const struct cmr_seg *seg, u64 iova)
{
	u64 chunk = 1ULL << CMR_IMPLICIT_CHUNK_SHIFT;

	if (!seg->mr || seg->mr->kind != CMR_MR_IMPLICIT)
		return U64_MAX;
	return chunk - (iova & (chunk - 1));
}

/*
 * Make [iova, iova + len) of seg accessible; for ODP this faults pages in
 * as needed and returns with the umem's umem_mutex held in *locked.
 */
static int cmr_seg_lock(const struct cmr_seg *seg, u64 iova, u64 len,
			bool write, struct ib_umem_odp **locked)
{
	struct cmr_mr *mr = seg->mr;
	struct ib_umem_odp *odp;
	u64 va;
	int err;

	*locked = NULL;
	if (!cmr_seg_is_odp(seg))
		return 0;
	va = mr->va + (iova - mr->iova);
	odp = cmr_odp_at(mr, va);
	if (IS_ERR(odp))
		return PTR_ERR(odp);
	err = cmr_odp_lock(mr->dev, odp, va, len, write);
	if (err)
		return err;
	*locked = odp;
	return 0;
}

static void cmr_seg_unlock(struct ib_umem_odp *locked)
{
	if (locked)
		mutex_unlock(&locked->umem_mutex);
}

/*
 * Kernel address of iova in a kernel buffer or pinned MR segment, and in
 * *avail the bytes that follow it contiguously.  Pinned pages are mapped
 * with kmap_local_page(): unmap them (cmr_seg_unmap) in reverse order.
 */
static __always_inline void *cmr_seg_map_direct(const struct cmr_seg *seg,
						u64 iova, size_t *avail)
{
	struct cmr_mr *mr = seg->mr;
	unsigned long off, idx;

	if (!mr) {
		*avail = seg->len - (iova - seg->iova);
		return seg->kaddr + (iova - seg->iova);
	}
	off = (iova - mr->iova) + (mr->va & ~PAGE_MASK);
	idx = off >> PAGE_SHIFT;
	/* cmr_mr_check() bounded iova by the MR. */
	if (WARN_ON_ONCE(idx >= mr->npages))
		idx = 0;
	*avail = PAGE_SIZE - (off & ~PAGE_MASK);
	return kmap_local_page(mr->pages[idx]) + (off & ~PAGE_MASK);
}

/* The same for any segment; an ODP one needs its umem locked (odp). */
static void *cmr_seg_map(const struct cmr_seg *seg, u64 iova,
			 struct ib_umem_odp *odp, bool write, size_t *avail)
{
	struct cmr_mr *mr = seg->mr;
	unsigned long idx;
	size_t pgsz;
	dma_addr_t dma;
	u64 va;

	if (!cmr_seg_is_odp(seg))
		return cmr_seg_map_direct(seg, iova, avail);
	va = mr->va + (iova - mr->iova);
	pgsz = 1UL << odp->page_shift;
	idx = (va - ib_umem_start(odp)) >> odp->page_shift;
	dma = odp->dma_list[idx];
	if (!(dma & ODP_READ_ALLOWED_BIT) ||
	    (write && !(dma & ODP_WRITE_ALLOWED_BIT)))
		return NULL;
	*avail = pgsz - (va & (pgsz - 1));
	return (void *)(uintptr_t)(dma & ODP_DMA_ADDR_MASK) + (va & (pgsz - 1));
}

static __always_inline void cmr_seg_unmap(const struct cmr_seg *seg,
					  void *kaddr)
{
	if (seg->mr && seg->mr->kind == CMR_MR_PINNED)
		kunmap_local(kaddr);
}

/* cmr_copy_run() when neither side is ODP: nothing to lock or fault. */
static void cmr_copy_direct(const struct cmr_seg *dst, u64 diova,
			    const struct cmr_seg *src, u64 siova, u64 len)
{
	size_t savail, davail, n;
	void *s, *d;

	while (len) {
		s = cmr_seg_map_direct(src, siova, &savail);
		d = cmr_seg_map_direct(dst, diova, &davail);
		n = min3((size_t)len, savail, davail);
		memcpy(d, s, n);
		cmr_seg_unmap(dst, d);
		cmr_seg_unmap(src, s);
		siova += n;
		diova += n;
		len -= n;
	}
}

/*
 * Copy len bytes from src at siova to dst at diova, where the runs lie
 * within single segments and at most one side is ODP.  Returns 0 or a
 * negative errno; *dst_fault tells which side failed.
 */
static int cmr_copy_run(const struct cmr_seg *dst, u64 diova,
			const struct cmr_seg *src, u64 siova, u64 len,
			bool *dst_fault)
{
	struct ib_umem_odp *slock, *dlock;
	size_t savail, davail, n;
	void *s, *d;
	int err;

	err = cmr_seg_lock(src, siova, len, false, &slock);
	if (err) {
		*dst_fault = false;
		return err;
	}
	err = cmr_seg_lock(dst, diova, len, true, &dlock);
	if (err) {
		cmr_seg_unlock(slock);
		*dst_fault = true;
		return err;
	}
	while (len) {
		s = cmr_seg_map(src, siova, slock, false, &savail);
		if (!s) {
			*dst_fault = false;
			err = -EFAULT;
			break;
		}
		d = cmr_seg_map(dst, diova, dlock, true, &davail);
		if (!d) {
			cmr_seg_unmap(src, s);
			*dst_fault = true;
			err = -EFAULT;
			break;
		}
		n = min3((size_t)len, savail, davail);
		memcpy(d, s, n);
		cmr_seg_unmap(dst, d);
		cmr_seg_unmap(src, s);
		siova += n;
		diova += n;
		len -= n;
	}
	cmr_seg_unlock(dlock);
	cmr_seg_unlock(slock);
	return err;
}

/* Skip finished and empty segments; false if the list ran out. */
static bool cmr_cursor_next(struct cmr_seg **seg, struct cmr_seg *end,
			    u64 *off)
{
	while (*seg < end && *off >= (*seg)->len) {
		(*seg)++;
		*off = 0;
	}
	return *seg < end;
}

/*
 * Copy len bytes from the scatter list src to the scatter list dst (both
 * validated and long enough).  bounce is one page of kernel memory used
 * between two ODP MRs, so that no two umem_mutexes are ever held at once.
 * Returns 0, or a negative errno with *dst_fault saying which side failed.
 */
int cmr_copy(void *bounce, struct cmr_seg *dst, unsigned int ndst,
	     struct cmr_seg *src, unsigned int nsrc, u64 len, bool *dst_fault)
{
	struct cmr_seg *dend = dst + ndst, *send = src + nsrc;
	struct cmr_seg tmp = { .kaddr = bounce, .len = PAGE_SIZE };
	u64 doff = 0, soff = 0, n, diova, siova;
	int err;

	/* The common case: one buffer each side, no ODP, a short message. */
	if (ndst == 1 && nsrc == 1 && len <= CMR_COPY_CHUNK &&
	    len <= src->len && len <= dst->len &&
	    !cmr_seg_is_odp(src) && !cmr_seg_is_odp(dst)) {
		cmr_copy_direct(dst, dst->iova, src, src->iova, len);
		return 0;
	}

	while (len) {
		if (!cmr_cursor_next(&src, send, &soff)) {
			*dst_fault = false;
			return -EINVAL;
		}
		if (!cmr_cursor_next(&dst, dend, &doff)) {
			*dst_fault = true;
			return -EINVAL;
		}
		/* For kernel buffers (no MR) iova is the kernel address. */
		diova = dst->iova + doff;
		siova = src->iova + soff;
		n = min3(len, (u64)src->len - soff, (u64)dst->len - doff);
		n = min3(n, (u64)CMR_COPY_CHUNK, cmr_seg_room(src, siova));
		n = min(n, cmr_seg_room(dst, diova));

		if (!cmr_seg_is_odp(src) && !cmr_seg_is_odp(dst)) {
			cmr_copy_direct(dst, diova, src, siova, n);
			err = 0;
		} else if (cmr_seg_is_odp(src) && cmr_seg_is_odp(dst)) {
			n = min_t(u64, n, PAGE_SIZE);
			err = cmr_copy_run(&tmp, tmp.iova, src, siova, n,
					   dst_fault);
			if (!err)
				err = cmr_copy_run(dst, diova, &tmp, tmp.iova,
						   n, dst_fault);
		} else {
			err = cmr_copy_run(dst, diova, src, siova, n,
					   dst_fault);
		}
		if (err)
			return err;
		soff += n;
		doff += n;
		len -= n;
		if (len)
			cond_resched();
	}
	return 0;
}

/*
 * 8-byte atomic on the word at iova of seg (aligned, validated).  Stores
 * the original value in *orig.  A CPU atomic instruction: atomic against
 * every other cmr atomic and against the CPUs.
 */
int cmr_atomic(const struct cmr_seg *seg, u64 iova, bool cmp_swap,
	       u64 compare_add, u64 swap, u64 *orig)
{
	struct ib_umem_odp *locked;
	size_t avail;
	u64 *p, old, prev;
	int err;

	err = cmr_seg_lock(seg, iova, sizeof(u64), true, &locked);
	if (err)
		return err;
	p = cmr_seg_map(seg, iova, locked, true, &avail);
	if (!p) {
		cmr_seg_unlock(locked);
		return -EFAULT;
	}
	if (cmp_swap) {
		old = cmpxchg64(p, compare_add, swap);
	} else {
		old = READ_ONCE(*p);
		for (;;) {
			prev = cmpxchg64(p, old, old + compare_add);
			if (prev == old)
				break;
			old = prev;
		}
	}
	cmr_seg_unmap(seg, p);
	cmr_seg_unlock(locked);
	*orig = old;
	return 0;
}

/* Registration */

static int cmr_mr_init_pinned(struct cmr_mr *mr, u64 start, u64 length,
			      int access)
{
	struct sg_page_iter piter;
	struct ib_umem *umem;
	unsigned long i = 0;

	umem = ib_umem_get(&mr->dev->ibdev, start, length, access);
	if (IS_ERR(umem))
		return PTR_ERR(umem);
	mr->npages = ib_umem_num_pages(umem);
	mr->pages = kvcalloc(mr->npages, sizeof(*mr->pages), GFP_KERNEL);
	if (!mr->pages) {
		ib_umem_release(umem);
		return -ENOMEM;
	}
	for_each_sgtable_page(&umem->sgt_append.sgt, &piter, 0) {
		if (WARN_ON_ONCE(i >= mr->npages))
			break;
		mr->pages[i++] = sg_page_iter_page(&piter);
	}
	mr->umem = umem;
	mr->kind = CMR_MR_PINNED;
	return 0;
}

static int cmr_mr_init_mem(struct cmr_mr *mr, u64 start, u64 length,
			   u64 iova, int access)
{
	if (access & IB_ACCESS_ON_DEMAND)
		return cmr_odp_init_mr(mr, start, length, iova, access);
	return cmr_mr_init_pinned(mr, start, length, access);
}

/* No engine context uses the memory any more. */
static void cmr_mr_release_mem(struct cmr_mr *mr)
{
	if (mr->kind == CMR_MR_PINNED) {
		kvfree(mr->pages);
		ib_umem_release(mr->umem);
	} else {
		cmr_odp_release_mr(mr);
	}
}

struct ib_mr *cmr_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			      u64 iova, int access, struct ib_udata *udata)
{
	struct cmr_dev *dev = to_cmr_dev(ibpd->device);
	struct cmr_mr *mr;
	u32 index;
	int err;

	if (!udata)
		return ERR_PTR(-EOPNOTSUPP);
	if (access & ~CMR_MR_ACCESS)
		return ERR_PTR(-EOPNOTSUPP);
	if (!length)
		return ERR_PTR(-EINVAL);
	if (atomic_inc_return(&dev->num_mr) > CMR_MAX_MR) {
		err = -ENOMEM;
		goto err_dec;
	}
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr) {
		err = -ENOMEM;
		goto err_dec;
	}
	mr->dev = dev;
	mr->access = access;
	mr->iova = iova;
	mr->length = length;
	mr->va = start;
	/* ib_core sets ibmr.pd only after we return: lookups compare it. */
	mr->ibmr.pd = ibpd;

	err = cmr_mr_init_mem(mr, start, length, iova, access);
	if (err)
		goto err_free;

	/* Reserve the index; publish the MR once its key is set. */
	err = cmr_index_alloc(&dev->mrs, &index);
	if (err)
		goto err_release;
	mr->key = index << 8 | (atomic_inc_return(&dev->mr_variant) & 0xff);
	mr->ibmr.lkey = mr->key;
	mr->ibmr.rkey = mr->key;
	cmr_index_set(&dev->mrs, index, mr);
	ibdev_dbg_ratelimited(&dev->ibdev,
			      "MR[%#x] %s iova %#llx len %#llx access %#x\n",
			      mr->key, mr->kind == CMR_MR_PINNED ? "pinned" :
			      mr->kind == CMR_MR_ODP ? "odp" : "implicit odp",
			      iova, length, access);
	return &mr->ibmr;

err_release:
	cmr_mr_release_mem(mr);
err_free:
	kfree(mr);
err_dec:
	atomic_dec(&dev->num_mr);
	return ERR_PTR(err);
}

int cmr_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct cmr_mr *mr = to_cmr_mr(ibmr);
	struct cmr_dev *dev = mr->dev;

	cmr_index_set(&dev->mrs, mr->key >> 8, NULL);
	/* Wait for engine contexts still copying through this MR. */
	synchronize_srcu_expedited(&cmr_srcu);
	cmr_mr_release_mem(mr);
	kfree(mr);
	atomic_dec(&dev->num_mr);
	return 0;
}

/*
 * Change the PD, the access rights or the memory of an MR in place; its
 * keys stay.  The key is out of service while it changes (WRs using it
 * meanwhile fail as with a bad key).  Implicit ODP MRs keep their range.
 */
struct ib_mr *cmr_rereg_user_mr(struct ib_mr *ibmr, int flags, u64 start,
				u64 length, u64 iova, int access,
				struct ib_pd *pd, struct ib_udata *udata)
{
	struct cmr_mr *mr = to_cmr_mr(ibmr);
	struct cmr_mr mem = { .dev = mr->dev };
	u32 index = mr->key >> 8;
	bool new_mem;
	int err;

	if (!udata)
		return ERR_PTR(-EOPNOTSUPP);
	if (flags & ~(IB_MR_REREG_TRANS | IB_MR_REREG_PD | IB_MR_REREG_ACCESS))
		return ERR_PTR(-EOPNOTSUPP);
	if (!(flags & IB_MR_REREG_ACCESS))
		access = mr->access;
	if (access & ~CMR_MR_ACCESS)
		return ERR_PTR(-EOPNOTSUPP);
	if (!(flags & IB_MR_REREG_TRANS)) {
		start = mr->va;
		length = mr->length;
		iova = mr->iova;
	} else if (!length) {
		return ERR_PTR(-EINVAL);
	}
	/*
	 * Pages pinned for reading may be ones the process cannot write
	 * (since 6.2 a read-only pin of a shared mapping of a file opened
	 * read-only is the file's page cache): granting write access pins
	 * them anew, for writing.
	 */
	new_mem = (flags & IB_MR_REREG_TRANS) ||
		  ((access ^ mr->access) & IB_ACCESS_ON_DEMAND) ||
		  (mr->kind == CMR_MR_PINNED && ib_access_writable(access) &&
		   !mr->umem->writable);
	if (new_mem && (mr->kind == CMR_MR_IMPLICIT ||
			((access & IB_ACCESS_ON_DEMAND) && !start &&
			 length == U64_MAX)))
		return ERR_PTR(-EOPNOTSUPP);
	if (new_mem) {
		err = cmr_mr_init_mem(&mem, start, length, iova, access);
		if (err)
			return ERR_PTR(err);
	}

	cmr_index_set(&mr->dev->mrs, index, CMR_SLOT_RESERVED);
	synchronize_srcu_expedited(&cmr_srcu);
	if (new_mem) {
		swap(mr->kind, mem.kind);
		swap(mr->umem, mem.umem);
		swap(mr->pages, mem.pages);
		swap(mr->npages, mem.npages);
		if (mr->kind == CMR_MR_ODP)
			WRITE_ONCE(to_ib_umem_odp(mr->umem)->private, mr);
		mr->va = start;
		mr->iova = iova;
		mr->length = length;
	}
	mr->access = access;
	/* ib_core sets it too, after we return: lookups compare it. */
	if (flags & IB_MR_REREG_PD)
		mr->ibmr.pd = pd;
	cmr_index_set(&mr->dev->mrs, index, mr);
	if (new_mem)
		cmr_mr_release_mem(&mem);
	ibdev_dbg_ratelimited(&mr->dev->ibdev,
			      "MR[%#x] rereg flags %#x access %#x\n",
			      mr->key, flags, access);
	return NULL;
}

/* Kernel consumers only; cmr serves user space. */
struct ib_mr *cmr_get_dma_mr(struct ib_pd *ibpd, int access)
{
	return ERR_PTR(-EOPNOTSUPP);
}
