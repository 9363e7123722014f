// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: SQ poller threads for QPs created with CMR_QP_FLAG_SQ_POLL, in the
 * spirit of io_uring's SQPOLL.
 *
 * sq_poll_threads kernel threads share the SQ_POLL QPs of all devices
 * (each QP goes to the thread with the fewest).  A thread busy-polls the
 * producer index of its QPs' send queues and runs a QP's SQ with the
 * engine function the doorbell runs (cmr_qp_run_sq(), a few WQEs per
 * QP at a time), so sq_mutex orders it with the doorbell, modify_qp and the
 * QP's work.  While the thread is awake it keeps CMR_RING_NEED_WAKEUP
 * clear in its QPs' SQ rings, so the provider posts without a system call.
 * After sq_poll_idle_ms without work, or at once if another task wants its
 * CPU, it sets the flag on every SQ ring, issues a full barrier and looks
 * at every producer once more before it sleeps: the provider publishes its
 * producer, issues a full barrier and then reads the flag, so a WQE posted
 * meanwhile is either seen by that last look or announced by a doorbell,
 * which wakes the thread (cmr_sqp_kick()) instead of running the SQ itself.
 *
 * Lifetime: the thread walks its list under cmr_srcu.  destroy_qp takes
 * the QP off the list before its grace period, so after that no pass can
 * reach the QP, and waits for the references the engine takes when it
 * leaves the section.  Threads start at module load and stop at unload,
 * when no QP is left.
 */
#include <linux/cpumask.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/moduleparam.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/stat.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "cmr_loc.h"

/* WQEs of one QP per pass, so that the thread's QPs take turns. */
#define CMR_SQP_BUDGET	16

/* Spinning beside a runnable task for this long: sleep instead. */
#define CMR_SQP_CROWDED_NS	(50 * NSEC_PER_USEC)

static unsigned int sq_poll_threads = 1;
module_param(sq_poll_threads, uint, 0444);
MODULE_PARM_DESC(sq_poll_threads,
		 "SQ poller threads (0-64; 0: SQ_POLL QPs are refused)");

static char *sq_poll_cpus;
module_param(sq_poll_cpus, charp, 0444);
MODULE_PARM_DESC(sq_poll_cpus,
		 "CPUs for the SQ poller threads, a cpulist (thread i on the i-th of them in ascending order, round robin; default: any)");

static unsigned int sq_poll_idle_ms = 100;
module_param(sq_poll_idle_ms, uint, 0644);
MODULE_PARM_DESC(sq_poll_idle_ms,
		 "milliseconds a poller thread spins without work before it sleeps");

struct cmr_sqp {
	struct task_struct *task;
	/*
	 * Protects changes of qps and nr_qps; the thread reads qps under
	 * cmr_srcu without it.
	 */
	spinlock_t lock;
	struct list_head qps;		/* struct cmr_qp.sqp_entry */
	unsigned int nr_qps;
	wait_queue_head_t wait;		/* the thread while it sleeps */
	bool kick;			/* a doorbell since the last pass */
};

static struct cmr_sqp *cmr_sqps;
static unsigned int cmr_nr_sqps;

bool cmr_sqp_enabled(void)
{
	return cmr_nr_sqps;
}

/* Wake the thread if it sleeps. */
void cmr_sqp_kick(struct cmr_sqp *sqp)
{
	/* Seen by the thread after prepare_to_wait(), or it is woken. */
	WRITE_ONCE(sqp->kick, true);
	wake_up(&sqp->wait);
}

/*
 * Does the QP's SQ have work the thread can do?  A hint read without
 * sq_mutex: cmr_sq_run_locked() decides.  A QP stalled by RNR is resumed
 * by its peer's receive doorbell or its timer, not by polling.
 */
static bool cmr_sqp_ready(struct cmr_qp *qp)
{
	enum ib_qp_state state = READ_ONCE(qp->attr.qp_state);

	if (state != IB_QPS_RTS && state != IB_QPS_ERR &&
	    state != IB_QPS_SQE)
		return false;
	if (READ_ONCE(qp->rnr_peer))
		return false;
	return cmr_queue_user_producer(&qp->sq) != READ_ONCE(qp->sq.index);
}

/*
 * Look at every QP once and run those with work; true if any had some.
 * The runs share the walk's cmr_srcu section.  A run that left it (a
 * compute backend ran, or a message moved in several slices) held
 * a reference to its QP meanwhile: the walk goes on from that QP only if
 * it is still listed, as then its successor is too, or was unlisted in the
 * new section.
 */
static bool cmr_sqp_pass(struct cmr_sqp *sqp)
{
	struct cmr_sq_hold hold;
	struct cmr_qp *qp;
	bool busy = false, unlisted;

	WRITE_ONCE(sqp->kick, false);
	cmr_sq_hold_begin(&hold);
	list_for_each_entry_srcu(qp, &sqp->qps, sqp_entry,
				 srcu_read_lock_held(&cmr_srcu)) {
		if (qp->sqp_flagged) {
			/* We are awake: posting needs no doorbell. */
			cmr_queue_set_flags(&qp->sq, 0);
			qp->sqp_flagged = false;
		}
		if (!cmr_sqp_ready(qp))
			continue;
		cmr_qp_run_sq(qp, CMR_SQP_BUDGET, &hold);
		busy = true;
		cond_resched();
		if (!hold.ref)
			continue;
		unlisted = READ_ONCE(qp->sqp_unlisted);
		cmr_qp_put(qp);
		hold.ref = false;
		if (unlisted)
			break;	/* the others wait for the next pass */
	}
	srcu_read_unlock(&cmr_srcu, hold.srcu_idx);
	return busy;
}

/*
 * Ask for doorbells, then sleep unless something was posted before the
 * provider could see the request.
 */
static void cmr_sqp_sleep(struct cmr_sqp *sqp)
{
	DEFINE_WAIT(wait);
	struct cmr_qp *qp;
	bool pending = false;
	int idx;

	idx = srcu_read_lock(&cmr_srcu);
	list_for_each_entry_srcu(qp, &sqp->qps, sqp_entry,
				 srcu_read_lock_held(&cmr_srcu)) {
		/* The full barrier in it pairs with the provider's. */
		cmr_queue_set_flags(&qp->sq, CMR_RING_NEED_WAKEUP);
		qp->sqp_flagged = true;
	}
	list_for_each_entry_srcu(qp, &sqp->qps, sqp_entry,
				 srcu_read_lock_held(&cmr_srcu)) {
		if (cmr_sqp_ready(qp)) {
			pending = true;
			break;
		}
	}
	srcu_read_unlock(&cmr_srcu, idx);
	if (pending)
		return;

	prepare_to_wait(&sqp->wait, &wait, TASK_INTERRUPTIBLE);
	/* QPs added since carry the flag from creation and kick us. */
	if (!READ_ONCE(sqp->kick) && !kthread_should_stop())
		schedule();
	finish_wait(&sqp->wait, &wait);
}

/*
 * Has another task wanted our CPU for a while (since *since, 0: not yet)?
 * Spin only on a CPU of our own, as KVM's halt polling and vhost's busy
 * polling do: beside a runnable task, such as the very process that polls
 * its CQ, spinning would cost it a time slice per WR, where sleeping costs
 * a doorbell.  A moment's company (a kworker) is waited out.
 */
static bool cmr_sqp_crowded(u64 *since)
{
	u64 now;

	if (single_task_running()) {
		*since = 0;
		return false;
	}
	now = local_clock();
	if (!*since)
		*since = now;
	return now - *since > CMR_SQP_CROWDED_NS;
}

static int cmr_sqp_thread(void *arg)
{
	struct cmr_sqp *sqp = arg;
	unsigned long idle_end = jiffies;
	u64 crowded = 0;

	while (!kthread_should_stop()) {
		if (cmr_sqp_pass(sqp)) {
			idle_end = jiffies +
				   msecs_to_jiffies(READ_ONCE(sq_poll_idle_ms));
			crowded = 0;
		} else if (!time_before(jiffies, idle_end) ||
			   list_empty(&sqp->qps) || cmr_sqp_crowded(&crowded)) {
			cmr_sqp_sleep(sqp);
			idle_end = jiffies +
				   msecs_to_jiffies(READ_ONCE(sq_poll_idle_ms));
			crowded = 0;
			continue;
		}
		/*
		 * Never spin without a scheduling point.  No cpu_relax(): a
		 * pass is real work, and under emulation (QEMU TCG) a PAUSE
		 * leaves the translated code and costs more than a pass.
		 */
		cond_resched();
	}
	return 0;
}

/*
 * Hand a new SQ_POLL QP to the least loaded thread and wake it, so that it
 * is awake when the first WQEs come.  The SQ ring carries NEED_WAKEUP from
 * creation.  The caller checked cmr_sqp_enabled().
 */
void cmr_sqp_add(struct cmr_qp *qp)
{
	struct cmr_sqp *sqp;
	unsigned int i;

	sqp = &cmr_sqps[0];
	for (i = 1; i < cmr_nr_sqps; i++)
		if (READ_ONCE(cmr_sqps[i].nr_qps) < READ_ONCE(sqp->nr_qps))
			sqp = &cmr_sqps[i];

	qp->sqp = sqp;
	qp->sqp_flagged = true;
	spin_lock(&sqp->lock);
	list_add_tail_rcu(&qp->sqp_entry, &sqp->qps);
	WRITE_ONCE(sqp->nr_qps, sqp->nr_qps + 1);
	spin_unlock(&sqp->lock);
	cmr_sqp_kick(sqp);
}

/*
 * Take the QP off its thread's list.  The thread may still be looking at
 * it: the caller waits for a cmr_srcu grace period before freeing it.
 */
void cmr_sqp_del(struct cmr_qp *qp)
{
	struct cmr_sqp *sqp = qp->sqp;

	spin_lock(&sqp->lock);
	list_del_rcu(&qp->sqp_entry);
	WRITE_ONCE(qp->sqp_unlisted, true);
	WRITE_ONCE(sqp->nr_qps, sqp->nr_qps - 1);
	spin_unlock(&sqp->lock);
}

/*
 * sq_poll_cpus: bound threads, as io_uring's SQ_AFF binds its poller, so
 * that a poller and the processes posting to it can be kept apart (on
 * one CPU the poller yields and posts fall back to doorbells, see
 * cmr_sqp_crowded()).  An empty list leaves *cpus empty.
 */
static int cmr_sqp_parse_cpus(struct cpumask *cpus)
{
	int err;

	cpumask_clear(cpus);
	if (!sq_poll_cpus || !*sq_poll_cpus)
		return 0;
	err = cpulist_parse(sq_poll_cpus, cpus);
	if (err)
		return err;
	if (cpumask_empty(cpus) || !cpumask_subset(cpus, cpu_possible_mask))
		return -EINVAL;
	return 0;
}

int cmr_sqp_init(void)
{
	cpumask_var_t cpus;
	struct cmr_sqp *sqp;
	unsigned int i;
	int err, cpu = -1;

	if (sq_poll_threads > CMR_MAX_SQ_POLL_THREADS)
		return -EINVAL;
	if (!sq_poll_threads)
		return 0;
	if (!zalloc_cpumask_var(&cpus, GFP_KERNEL))
		return -ENOMEM;
	err = cmr_sqp_parse_cpus(cpus);
	if (err)
		goto out;
	err = -ENOMEM;
	cmr_sqps = kcalloc(sq_poll_threads, sizeof(*cmr_sqps), GFP_KERNEL);
	if (!cmr_sqps)
		goto out;
	for (i = 0; i < sq_poll_threads; i++) {
		sqp = &cmr_sqps[i];
		spin_lock_init(&sqp->lock);
		INIT_LIST_HEAD(&sqp->qps);
		init_waitqueue_head(&sqp->wait);
		sqp->task = kthread_create(cmr_sqp_thread, sqp, "cmr_sqp/%u", i);
		if (IS_ERR(sqp->task)) {
			err = PTR_ERR(sqp->task);
			cmr_nr_sqps = i;
			cmr_sqp_exit();
			goto out;
		}
		if (!cpumask_empty(cpus)) {
			cpu = cpumask_next(cpu, cpus);
			if (cpu >= nr_cpu_ids)
				cpu = cpumask_first(cpus);
			if (set_cpus_allowed_ptr(sqp->task, cpumask_of(cpu)))
				pr_warn("cmr: CPU %d is offline: cmr_sqp/%u runs anywhere\n",
					cpu, i);
		}
		wake_up_process(sqp->task);
	}
	cmr_nr_sqps = sq_poll_threads;
	err = 0;
out:
	free_cpumask_var(cpus);
	return err;
}

/* Every QP is gone. */
void cmr_sqp_exit(void)
{
	unsigned int i;

	for (i = 0; i < cmr_nr_sqps; i++) {
		WARN_ON_ONCE(!list_empty(&cmr_sqps[i].qps));
		kthread_stop(cmr_sqps[i].task);
	}
	kfree(cmr_sqps);
	cmr_sqps = NULL;
	cmr_nr_sqps = 0;
}
