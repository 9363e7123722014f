// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fault_sweep: every fault-capable kernel call of a verbs lifetime, failed
 * in turn.  Run by tests/debug/guest on the checking kernel
 * (scripts/build-debug-kernel: CONFIG_FAULT_INJECTION, failslab set to
 * fail sleeping allocations too).
 *
 * Step n writes n to /proc/thread-self/fail-nth, so the n-th fault-capable
 * call this thread makes in the kernel fails (a slab allocation, mostly),
 * and runs one lifetime: PD, CQ, SRQ, two connected RC QPs, pinned,
 * explicit ODP and implicit ODP MRs, an AES-GCM key, a deflate stream,
 * then a posted chain (compress, encrypt the result, a stream WR, an RDMA
 * WRITE, a SEND) whose completions it collects, then every destroy.  The
 * step may fail anywhere, with an errno or an error completion; what it
 * must not do is lose a completion, refuse a destroy once the fault is
 * spent, or leave the device unusable.  The sweep ends at the first step
 * whose lifetime makes fewer than n such calls: that step ran with no
 * fault at all and must succeed in full, its gzip member decoded by zlib.
 * Then the context holds exactly the objects it held before the sweep
 * (rdma resource counts); kmemleak, run by the caller, finds the rest.
 *
 * Exit 0 pass, 1 fail, 77 skip (no fault injection in this kernel).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <infiniband/cmrdv.h>

#include "vt.h"

#define BUF		(64 * 1024)
#define SRC_LEN		4096
#define MAX_STEPS	100000

struct life {
	struct ibv_pd *pd;
	struct ibv_cq_ex *cq;
	struct ibv_srq *srq;
	struct ibv_qp *qp[2];
	struct ibv_mr *pinned, *odp, *implicit;
	struct cmrdv_key *key;
	struct cmrdv_stream *stream;
	int sends;		/* send completions to wait for */
	bool send_ok;		/* the SEND worked: its receive is due */
	bool recv_seen;
	bool failed_wc;		/* some completion had an error status */
	uint32_t gzip_len;	/* bytes the compress WR produced */
};

static uint8_t *src, *odp_buf, *sealed, *peer;
static int fail_nth_fd = -1;
static unsigned int refused_destroys;	/* by a fault, then done again */

static void arm(unsigned int n)
{
	char s[16];
	int len = snprintf(s, sizeof(s), "%u", n);

	vt_check(pwrite(fail_nth_fd, s, len, 0) == len, "fail-nth: %s",
		 strerror(errno));
}

/* 0: the armed fault was injected; otherwise the calls it still waits. */
static unsigned int fault_pending(void)
{
	char s[16] = "";

	vt_check(pread(fail_nth_fd, s, sizeof(s) - 1, 0) > 0, "fail-nth");
	return strtoul(s, NULL, 10);
}

static struct ibv_qp *create_qp(struct vt_ctx *v, struct life *l,
				struct ibv_srq *srq)
{
	struct ibv_qp_init_attr_ex qa = {
		.qp_type = IBV_QPT_RC,
		.send_cq = ibv_cq_ex_to_cq(l->cq),
		.recv_cq = ibv_cq_ex_to_cq(l->cq),
		.srq = srq,
		.cap = { .max_send_wr = 8, .max_recv_wr = srq ? 0 : 1,
			 .max_send_sge = 2, .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD |
			     IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = l->pd,
		.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE |
				  IBV_QP_EX_WITH_SEND,
	};
	struct cmrdv_qp_init_attr da = {
		.comp_mask = CMRDV_QP_INIT_ATTR_MASK_SEND_OPS_FLAGS,
		.send_ops_flags = CMRDV_QP_EX_WITH_COMPUTE,
	};

	return cmrdv_create_qp(v->ctx, &qa, &da);
}

/* Build everything and post the chain; -1 at the first verb that fails. */
static int build(struct vt_ctx *v, struct life *l)
{
	static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 4, .max_sge = 1 } };
	struct ibv_cq_init_attr_ex ca = {
		.cqe = 16,
		.wc_flags = IBV_WC_EX_WITH_BYTE_LEN,
	};
	struct cmrdv_key_init_attr ka = {
		.alg = CMRDV_ALG_AES_GCM, .material = key, .length = sizeof(key),
	};
	struct cmrdv_stream_init_attr sta = {
		.alg = CMRDV_ALG_DEFLATE, .dir = CMRDV_FORWARD,
		.flags = CMRDV_DEFLATE_GZIP,
	};
	struct cmrdv_crypto_attr cra = { .iv = { 9 } };
	const int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		       IBV_ACCESS_REMOTE_READ;
	const struct vt_qp_opts qp_opts = {
		.rnr_retry = 7,
		.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	};
	struct ibv_sge rsge;
	struct ibv_recv_wr rwr = { .wr_id = 100, .sg_list = &rsge,
				   .num_sge = 1 }, *bad;
	struct ibv_qp_ex *qpx;
	struct cmrdv_qp_ex *dqp;

	l->pd = ibv_alloc_pd(v->ctx);
	if (!l->pd)
		return -1;
	l->cq = ibv_create_cq_ex(v->ctx, &ca);
	if (!l->cq)
		return -1;
	l->srq = ibv_create_srq(l->pd, &sa);
	if (!l->srq)
		return -1;
	l->qp[0] = create_qp(v, l, NULL);
	if (!l->qp[0])
		return -1;
	l->qp[1] = create_qp(v, l, l->srq);
	if (!l->qp[1])
		return -1;
	if (vt_try_to_rts(v, l->qp[0], l->qp[1]->qp_num, &qp_opts) ||
	    vt_try_to_rts(v, l->qp[1], l->qp[0]->qp_num, &qp_opts))
		return -1;
	l->pinned = ibv_reg_mr(l->pd, src, BUF, rw);
	if (!l->pinned)
		return -1;
	l->odp = ibv_reg_mr(l->pd, odp_buf, BUF, rw | IBV_ACCESS_ON_DEMAND);
	if (!l->odp)
		return -1;
	l->implicit = ibv_reg_mr(l->pd, NULL, SIZE_MAX,
				 rw | IBV_ACCESS_ON_DEMAND);
	if (!l->implicit)
		return -1;
	l->key = cmrdv_create_key(l->pd, &ka);
	if (!l->key)
		return -1;
	l->stream = cmrdv_create_stream(l->pd, &sta);
	if (!l->stream)
		return -1;

	rsge = (struct ibv_sge){ .addr = (uintptr_t)peer + 8192, .length = 64,
				 .lkey = l->implicit->lkey };
	if (ibv_post_srq_recv(l->srq, &rwr, &bad))
		return -1;

	qpx = ibv_qp_to_qp_ex(l->qp[0]);
	dqp = cmrdv_qp_ex_from_ibv_qp_ex(qpx);
	ibv_wr_start(qpx);
	qpx->wr_flags = IBV_SEND_SIGNALED;
	qpx->wr_id = 1;
	/* The default level: an engine's driver, if loaded, takes it. */
	cmrdv_wr_compress(dqp, CMRDV_ALG_DEFLATE, 0, CMRDV_DEFLATE_GZIP);
	ibv_wr_set_sge(qpx, l->pinned->lkey, (uintptr_t)src, SRC_LEN);
	cmrdv_wr_set_dst_sge(dqp, l->odp->lkey, (uintptr_t)odp_buf, 8192);
	qpx->wr_id = 2;
	cmrdv_wr_encrypt(dqp, l->key, &cra);
	ibv_wr_set_sge(qpx, l->odp->lkey, (uintptr_t)odp_buf, 8192);
	cmrdv_wr_set_src_from_prev(dqp);
	cmrdv_wr_set_dst_sge(dqp, l->implicit->lkey, (uintptr_t)sealed, 8192);
	qpx->wr_id = 3;
	cmrdv_wr_stream(dqp, l->stream, CMRDV_STREAM_END);
	ibv_wr_set_sge(qpx, l->pinned->lkey, (uintptr_t)src, SRC_LEN);
	cmrdv_wr_set_dst_sge(dqp, l->odp->lkey, (uintptr_t)odp_buf + 8192,
			     8192);
	qpx->wr_id = 4;
	ibv_wr_rdma_write(qpx, l->implicit->rkey, (uintptr_t)peer);
	ibv_wr_set_sge(qpx, l->pinned->lkey, (uintptr_t)src, SRC_LEN);
	qpx->wr_id = 5;
	ibv_wr_send(qpx);
	ibv_wr_set_sge(qpx, l->pinned->lkey, (uintptr_t)src, 64);
	if (ibv_wr_complete(qpx))
		return -1;
	l->sends = 5;
	return 0;
}

/*
 * Collect the chain's completions: every send WR completes (in error, if
 * the QP went there), and the SEND's receive arrives if the SEND worked.
 */
static void collect(struct life *l)
{
	struct ibv_cq *cq = ibv_cq_ex_to_cq(l->cq);
	struct ibv_wc wc;

	while (l->sends || (l->send_ok && !l->recv_seen)) {
		vt_check(vt_try_poll(cq, &wc, 20000),
			 "a completion was lost (%d sends%s missing)", l->sends,
			 l->send_ok ? ", the receive" : "");
		if (wc.status != IBV_WC_SUCCESS)
			l->failed_wc = true;
		if (wc.wr_id == 100) {
			vt_check(!l->recv_seen, "two receive completions");
			l->recv_seen = true;
			continue;
		}
		vt_check(wc.wr_id == (uint64_t)6 - l->sends,
			 "completion %llu out of order",
			 (unsigned long long)wc.wr_id);
		if (wc.wr_id == 5 && wc.status == IBV_WC_SUCCESS)
			l->send_ok = true;
		if (wc.wr_id == 1 && wc.status == IBV_WC_SUCCESS)
			l->gzip_len = wc.byte_len;
		l->sends--;
	}
}

/* Destroy what was built; a fault may refuse one call, never two. */
#define DESTROY(fn, obj)						\
	do {								\
		if ((obj) && fn(obj)) {					\
			refused_destroys++;				\
			if (fn(obj))					\
				vt_die(#fn ": %s", strerror(errno));	\
		}							\
		(obj) = NULL;						\
	} while (0)

static void teardown(struct life *l)
{
	DESTROY(cmrdv_destroy_stream, l->stream);
	DESTROY(cmrdv_destroy_key, l->key);
	DESTROY(ibv_dereg_mr, l->implicit);
	DESTROY(ibv_dereg_mr, l->odp);
	DESTROY(ibv_dereg_mr, l->pinned);
	DESTROY(ibv_destroy_qp, l->qp[1]);
	DESTROY(ibv_destroy_qp, l->qp[0]);
	DESTROY(ibv_destroy_srq, l->srq);
	if (l->cq && ibv_destroy_cq(ibv_cq_ex_to_cq(l->cq))) {
		refused_destroys++;
		if (ibv_destroy_cq(ibv_cq_ex_to_cq(l->cq)))
			vt_die("ibv_destroy_cq: %s", strerror(errno));
	}
	DESTROY(ibv_dealloc_pd, l->pd);
}

/* The device's resource counts (pd, cq, qp, mr, ...) as rdma shows them. */
static void resources(char *buf, size_t size)
{
	char line[512], head[64];
	FILE *p = popen("rdma resource show", "r");

	vt_check(p, "rdma resource show");
	snprintf(head, sizeof(head), " %s: ", vt_dev());
	buf[0] = 0;
	while (fgets(line, sizeof(line), p))
		if (strstr(line, head))
			snprintf(buf, size, "%s", strstr(line, head) + strlen(head));
	pclose(p);
	vt_check(buf[0], "no resource line for %s", vt_dev());
}

/* The step that ran without a fault: all of it worked. */
static void check_clean(const struct life *l)
{
	static uint8_t out[SRC_LEN];
	uLongf out_len = sizeof(out);
	z_stream z = { 0 };

	vt_check(!l->failed_wc && l->recv_seen, "a completion failed");
	vt_check(!memcmp(peer, src, SRC_LEN), "RDMA WRITE data differs");
	vt_check(!memcmp(peer + 8192, src, 64), "SEND data differs");
	/* The compress WR's gzip member, decoded by zlib. */
	vt_check(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, "inflateInit2");
	z.next_in = odp_buf;
	z.avail_in = l->gzip_len;
	z.next_out = out;
	z.avail_out = out_len;
	vt_check(inflate(&z, Z_FINISH) == Z_STREAM_END, "gzip output");
	out_len = z.total_out;
	inflateEnd(&z);
	vt_check(out_len == SRC_LEN && !memcmp(out, src, SRC_LEN),
		 "gzip output decodes to other data");
}

int main(void)
{
	unsigned int n, failed_verbs = 0, failed_wrs = 0, unseen = 0;
	struct ibv_device_attr_ex attr = {};
	char before[512], after[512];
	struct vt_ctx v;
	int i;

	fail_nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (fail_nth_fd < 0) {
		printf("no fault injection in this kernel\n");
		return VT_SKIP;
	}
	vt_open(&v, vt_dev());
	vt_check(!ibv_query_device_ex(v.ctx, NULL, &attr), "query_device_ex");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT)) {
		printf("no implicit ODP on %s\n", vt_dev());
		return VT_SKIP;
	}

	src = aligned_alloc(4096, BUF);
	odp_buf = aligned_alloc(4096, BUF);
	sealed = aligned_alloc(4096, BUF);
	peer = aligned_alloc(4096, BUF);
	vt_check(src && odp_buf && sealed && peer, "buffers");
	resources(before, sizeof(before));
	for (i = 0; i < BUF; i++)
		src[i] = (i / 64) % 7 ? 'a' + i % 13 : (uint8_t)(i * 2654435761u >> 24);

	for (n = 1; n < MAX_STEPS; n++) {
		unsigned int refused = refused_destroys;
		struct life l = {};
		bool injected;
		int built;

		memset(peer, 0, BUF);
		arm(n);
		built = build(&v, &l);
		if (!built)
			collect(&l);
		teardown(&l);
		injected = !fault_pending();
		arm(0);
		if (!injected) {
			check_clean(&l);
			break;
		}
		if (built)
			failed_verbs++;
		else if (l.failed_wc)
			failed_wrs++;
		else if (refused_destroys == refused)
			unseen++;	/* e.g. a munmap() in teardown */
	}
	vt_check(n < MAX_STEPS, "the lifetime never ran without a fault");
	resources(after, sizeof(after));
	vt_check(!strcmp(before, after), "objects left behind: before: %s after: %s",
		 before, after);
	printf("%u faults: %u failed a verb, %u a WR, %u a destroy (done again), "
	       "%u unseen; step %u ran clean; %s", n - 1, failed_verbs,
	       failed_wrs, refused_destroys, unseen, n, after);
	vt_close(&v);
	return 0;
}
