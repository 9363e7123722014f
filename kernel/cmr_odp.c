// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: on-demand paging.
 *
 * An ODP MR pins nothing.  The engine reaches a page through the umem's
 * dma_list, which (without a DMA device) holds the page's kernel virtual
 * address plus ODP_READ/WRITE_ALLOWED bits, and only while it holds the
 * umem's umem_mutex: the mmu notifier's invalidate takes the same mutex
 * before it clears entries, so an entry seen under the mutex stays valid
 * until the mutex is dropped.  Missing entries are faulted in with
 * ib_umem_odp_map_dma_and_lock(), which returns with the mutex held.
 *
 * An implicit MR (start 0, length U64_MAX) covers the whole address space
 * through children, one umem per 2 MiB chunk, created on first access for
 * chunks that the process has mapped, and freed when they map nothing (or
 * with the MR): kernel memory follows what the device uses, not the size
 * of the process's reservations.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <rdma/uverbs_ioctl.h>

#include "cmr_loc.h"

/* Largest range faulted in by one call while prefetching. */
#define CMR_PREFETCH_CHUNK	(1UL << CMR_IMPLICIT_CHUNK_SHIFT)

/*
 * A child of an implicit MR that maps nothing may go (cmr_odp_reap()).
 * private is NULL while the umem is being set up: its notifier is live
 * before its creator can say whose it is.
 */
static void cmr_odp_check_child(struct ib_umem_odp *odp)
{
	struct cmr_mr *mr = READ_ONCE(odp->private);

	/* A hint: the reaper looks again under umem_mutex. */
	if (mr && mr->kind == CMR_MR_IMPLICIT && !READ_ONCE(odp->npages))
		queue_work(cmr_wq, &mr->reap_work);
}

static bool cmr_odp_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct ib_umem_odp *odp =
		container_of(mni, struct ib_umem_odp, notifier);
	struct cmr_dev *dev = to_cmr_dev(odp->umem.ibdev);
	unsigned long start, end;

	if (!mmu_notifier_range_blockable(range))
		return false;

	mutex_lock(&odp->umem_mutex);
	mmu_interval_set_seq(mni, cur_seq);
	start = max_t(unsigned long, ib_umem_start(odp), range->start);
	end = min_t(unsigned long, ib_umem_end(odp), range->end);
	if (odp->npages && start < end)
		ib_umem_odp_unmap_dma_pages(odp, start, end);
	mutex_unlock(&odp->umem_mutex);
	atomic64_inc(&dev->odp.invalidations);
	cmr_odp_check_child(odp);
	return true;
}

static const struct mmu_interval_notifier_ops cmr_odp_ops = {
	.invalidate = cmr_odp_invalidate,
};

static void cmr_odp_free_child(struct cmr_mr *mr, struct ib_umem_odp *child)
{
	ib_umem_odp_release(child);
	atomic64_dec(&mr->dev->odp.implicit_children);
}

/*
 * Free the children that map nothing (their pages were unmapped, or a
 * prefetch without faulting found none): unpublish them, wait for the
 * engine contexts that may have found them, then release them.
 */
static void cmr_odp_reap(struct work_struct *work)
{
	struct cmr_mr *mr = container_of(work, struct cmr_mr, reap_work);
	struct ib_umem_odp *child;
	struct xarray dead;
	unsigned long idx;
	bool empty;

	xa_init(&dead);
	mutex_lock(&mr->child_lock);
	xa_for_each(&mr->children, idx, child) {
		mutex_lock(&child->umem_mutex);
		empty = !child->npages;
		mutex_unlock(&child->umem_mutex);
		if (empty && !xa_err(xa_store(&dead, idx, child, GFP_KERNEL)))
			xa_erase(&mr->children, idx);
		cond_resched();
	}
	mutex_unlock(&mr->child_lock);
	if (xa_empty(&dead))
		return;
	synchronize_srcu(&cmr_srcu);
	xa_for_each(&dead, idx, child)
		cmr_odp_free_child(mr, child);
	xa_destroy(&dead);
}

int cmr_odp_init_mr(struct cmr_mr *mr, u64 start, u64 length, u64 iova,
		    int access)
{
	struct ib_umem_odp *odp;

	if (!IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING))
		return -EOPNOTSUPP;

	if (start == 0 && length == U64_MAX) {
		if (iova != 0)
			return -EINVAL;
		odp = ib_umem_odp_alloc_implicit(&mr->dev->ibdev, access);
		if (IS_ERR(odp))
			return PTR_ERR(odp);
		/* Children are created from the root's mm: keep it. */
		mmgrab(odp->umem.owning_mm);
		mutex_init(&mr->child_lock);
		xa_init(&mr->children);
		INIT_WORK(&mr->reap_work, cmr_odp_reap);
		mr->kind = CMR_MR_IMPLICIT;
		mr->umem = &odp->umem;
		return 0;
	}

	odp = ib_umem_odp_get(&mr->dev->ibdev, start, length, access,
			      &cmr_odp_ops);
	if (IS_ERR(odp))
		return PTR_ERR(odp);
	WRITE_ONCE(odp->private, mr);
	mr->kind = CMR_MR_ODP;
	mr->umem = &odp->umem;
	return 0;
}

/* No engine context uses the MR any more. */
void cmr_odp_release_mr(struct cmr_mr *mr)
{
	struct ib_umem_odp *root = to_ib_umem_odp(mr->umem);
	struct ib_umem_odp *child;
	struct mm_struct *mm;
	unsigned long idx;

	if (mr->kind != CMR_MR_IMPLICIT) {
		ib_umem_odp_release(root);
		return;
	}
	mutex_lock(&mr->child_lock);
	xa_for_each(&mr->children, idx, child)
		cmr_odp_free_child(mr, child);
	xa_destroy(&mr->children);
	mutex_unlock(&mr->child_lock);
	/* With the children's notifiers gone, nothing queues it again. */
	cancel_work_sync(&mr->reap_work);
	mutex_destroy(&mr->child_lock);
	mm = root->umem.owning_mm;
	ib_umem_odp_release(root);
	mmdrop(mm);
}

/* Does the process map anything in [start, end)? */
static bool cmr_odp_range_mapped(struct mm_struct *mm, unsigned long start,
				 unsigned long end)
{
	bool mapped;

	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	mapped = find_vma_intersection(mm, start, end) != NULL;
	mmap_read_unlock(mm);
	mmput(mm);
	return mapped;
}

/* The child of implicit MR mr that covers va, created on first use. */
static struct ib_umem_odp *cmr_odp_child(struct cmr_mr *mr, u64 va)
{
	struct ib_umem_odp *root = to_ib_umem_odp(mr->umem);
	unsigned long idx = va >> CMR_IMPLICIT_CHUNK_SHIFT;
	unsigned long start = idx << CMR_IMPLICIT_CHUNK_SHIFT;
	unsigned long size = 1UL << CMR_IMPLICIT_CHUNK_SHIFT;
	struct ib_umem_odp *odp;
	int err;

	odp = xa_load(&mr->children, idx);
	if (odp)
		return odp;
	if (va >= TASK_SIZE_MAX)
		return ERR_PTR(-EFAULT);

	mutex_lock(&mr->child_lock);
	odp = xa_load(&mr->children, idx);
	if (odp)
		goto out_unlock;
	/* Only chunks the process maps: garbage addresses cost nothing. */
	if (!cmr_odp_range_mapped(root->umem.owning_mm, start, start + size)) {
		odp = ERR_PTR(-EFAULT);
		goto out_unlock;
	}
	odp = ib_umem_odp_alloc_child(root, start, size, &cmr_odp_ops);
	if (IS_ERR(odp))
		goto out_unlock;
	WRITE_ONCE(odp->private, mr);
	atomic64_inc(&mr->dev->odp.implicit_children);
	err = xa_err(xa_store(&mr->children, idx, odp, GFP_KERNEL));
	if (err) {
		cmr_odp_free_child(mr, odp);
		odp = ERR_PTR(err);
	}
out_unlock:
	mutex_unlock(&mr->child_lock);
	return odp;
}

/* The umem of ODP MR mr that covers va: its own, or an implicit child. */
struct ib_umem_odp *cmr_odp_at(struct cmr_mr *mr, u64 va)
{
	if (mr->kind == CMR_MR_IMPLICIT)
		return cmr_odp_child(mr, va);
	return to_ib_umem_odp(mr->umem);
}

/* Are all pages of [va, va + len) mapped with these permissions? */
static bool cmr_odp_present(struct ib_umem_odp *odp, u64 va, u64 len,
			    u64 perm)
{
	unsigned long first, last, i;

	first = (va - ib_umem_start(odp)) >> odp->page_shift;
	last = (va + len - 1 - ib_umem_start(odp)) >> odp->page_shift;
	for (i = first; i <= last; i++)
		if ((odp->dma_list[i] & perm) != perm)
			return false;
	return true;
}

/*
 * Make [va, va + len) (len > 0, inside the umem) accessible for reading,
 * or writing too, and return with odp->umem_mutex held.  A page that
 * cannot be faulted in fails the access: never stale data.
 */
int cmr_odp_lock(struct cmr_dev *dev, struct ib_umem_odp *odp, u64 va,
		 u64 len, bool write)
{
	u64 perm = ODP_READ_ALLOWED_BIT | (write ? ODP_WRITE_ALLOWED_BIT : 0);
	int tries, err;

	if (va < ib_umem_start(odp) || va + len > ib_umem_end(odp) ||
	    va + len < va)
		return -EFAULT;

	mutex_lock(&odp->umem_mutex);
	if (cmr_odp_present(odp, va, len, perm))
		return 0;
	mutex_unlock(&odp->umem_mutex);

	for (tries = 0; tries < 8; tries++) {
		atomic64_inc(&dev->odp.faults);
		err = ib_umem_odp_map_dma_and_lock(odp, va, len, perm, true);
		if (err < 0) {
			cmr_odp_check_child(odp);
			return err;
		}
		if (cmr_odp_present(odp, va, len, perm))
			return 0;
		/* Invalidated between mapping and our check: again. */
		mutex_unlock(&odp->umem_mutex);
		atomic64_inc(&dev->odp.retries);
	}
	return -EAGAIN;
}

/*
 * Fault in (or, without fault, map what is present of) the part of an MR
 * range at va that one prefetch chunk holds, at most len bytes.  Returns
 * the bytes done or a negative errno.
 */
static long cmr_odp_prefetch_chunk(struct cmr_mr *mr, u64 va, u64 len,
				   bool write, bool fault)
{
	u64 perm = ODP_READ_ALLOWED_BIT | (write ? ODP_WRITE_ALLOWED_BIT : 0);
	u64 n = min_t(u64, len, CMR_PREFETCH_CHUNK -
				(va & (CMR_PREFETCH_CHUNK - 1)));
	struct ib_umem_odp *odp = cmr_odp_at(mr, va);
	int err;

	if (IS_ERR(odp))
		return PTR_ERR(odp);
	if (fault)
		atomic64_inc(&mr->dev->odp.faults);
	err = ib_umem_odp_map_dma_and_lock(odp, va, n, perm, fault);
	if (err >= 0)
		mutex_unlock(&odp->umem_mutex);
	cmr_odp_check_child(odp);
	return err < 0 ? err : n;
}

/*
 * The next part of one advice's SGE, from off bytes in: look its MR up and
 * check the whole SGE, then prefetch one chunk.  Returns the bytes done
 * (all that are left for a pinned MR) or a negative errno.  Caller holds
 * cmr_srcu.
 */
static long cmr_advise_part(struct cmr_dev *dev, struct ib_pd *pd,
			    const struct ib_sge *sge, u64 off, bool write,
			    bool fault)
{
	struct cmr_mr *mr = cmr_mr_lookup(dev, sge->lkey);

	if (!mr)
		return -ENOENT;
	if (cmr_mr_check(mr, pd, sge->addr, sge->length,
			 write ? IB_ACCESS_LOCAL_WRITE : 0))
		return -EINVAL;
	if (mr->kind == CMR_MR_PINNED || !sge->length)
		return sge->length - off;
	return cmr_odp_prefetch_chunk(mr, mr->va + (sge->addr - mr->iova) + off,
				      sge->length - off, write, fault);
}

int cmr_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		  u32 flags, struct ib_sge *sg_list, u32 num_sge,
		  struct uverbs_attr_bundle *attrs)
{
	struct cmr_dev *dev = to_cmr_dev(pd->device);
	bool write = false, fault = true;
	u64 off;
	long n;
	int idx;
	u32 i;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
		write = true;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		fault = false;
		break;
	default:
		return -EOPNOTSUPP;
	}

	/*
	 * Done synchronously, so IB_UVERBS_ADVISE_MR_FLAG_FLUSH holds too; a
	 * chunk per cmr_srcu section, as every deregistration and destroy in
	 * the module waits for the section.
	 */
	for (i = 0; i < num_sge; i++) {
		off = 0;
		do {
			idx = srcu_read_lock(&cmr_srcu);
			n = cmr_advise_part(dev, pd, &sg_list[i], off, write,
					    fault);
			srcu_read_unlock(&cmr_srcu, idx);
			if (n < 0)
				return n;
			off += n;
			cond_resched();
		} while (off < sg_list[i].length);
		atomic64_inc(&dev->odp.prefetches);
	}
	return 0;
}
