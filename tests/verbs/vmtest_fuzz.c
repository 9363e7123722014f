// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The engine against hostile send queues: WQEs written straight into the
 * mapped SQ ring, as a buggy or malicious process can, past libcmr's
 * builders.  Each batch is a run of random WQEs (compute WRs with random
 * algorithms, directions, levels, framings, keys, streams, AAD and
 * data-unit sizes; RDMA, atomic and SEND WRs; invalid opcodes and flags;
 * SGEs with good, foreign and garbage keys, addresses in, across and out
 * of their MRs, zero to huge lengths; inline data; receive WQEs broken
 * in the RQ ring), closed by a 64-byte
 * memcpy built through the API, whose completion ends the batch.  Pinned
 * and ODP MRs alike; a doorbell RC QP, an SQ_POLL RC QP on an SRQ
 * (resized now and then), a UD QP (SENDs to itself and to nobody, closed
 * by a SEND to nobody) and a UC QP (connected to itself, closed by an
 * RDMA WRITE) take turns.
 *
 * Asserted after every batch:
 *   - every completion belongs to the batch, in posting order, with a
 *     status the verbs model allows and a vendor_err cmr-abi.h documents;
 *     once one is flushed all later ones are;
 *   - no byte changed outside the one MR pair with write access (the
 *     readable MRs, and guard pages around the writable ones, compared
 *     against copies);
 *   - the closing WR either succeeded (a memcpy: and copied its bytes),
 *     or was flushed because the QP went to ERR or SQE, and then the QP
 *     comes back through RESET.
 * The kernel log (WARN, BUG, oops, lockdep) is checked by tests/vm/run.
 *
 * White box: the ring is reached through libcmr's own structures
 * (providers/cmr/cmr.h).  CMR_FUZZ_SEED replays a run, CMR_FUZZ_SECONDS
 * (default 45) bounds it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "vt.h"
#include "cmr.h"

#define DEPTH		32
#define MAX_BATCH	12
#define REGION		(64 * 1024)
#define GUARD		4096
#define MAPPING		(GUARD + REGION + GUARD)
#define SENTINEL	(1ULL << 63)	/* wr_id of a batch's closing WR */
#define RECV_ID		(1ULL << 62)	/* wr_id of our receives */

/* A buffer and its MR; writable ones sit between two guard pages. */
struct region {
	uint8_t *base;			/* the mapping, guards included */
	uint8_t *buf;			/* what the MR covers */
	uint8_t *copy;			/* the mapping as it must stay */
	struct ibv_mr *mr;
	bool writable;
};

enum { SRC, SRC_ODP, RO, DST, DST_ODP, NUM_REGIONS };

struct fuzz_qp {
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx;		/* RC, UC: the closing WR's builders */
	struct cmrdv_qp_ex *dqp;
	struct ibv_ah *ah;		/* UD: an address of our own port */
	struct ibv_srq *srq;		/* where its receives are, if shared */
	const char *name;
	bool uc;
	unsigned long resets;
};

#define UD_QKEY		0x11111111
#define UD_NOBODY	0xfffffe	/* a QPN that does not exist */

static struct vt_ctx v;
static struct ibv_cq *cq;
static struct region reg[NUM_REGIONS];
static struct cmrdv_key *keys[3];
static struct cmrdv_stream *streams[2];
static uint64_t rng;
static uint32_t zlib_len;		/* the zlib stream at the start of SRC */
static unsigned long statuses[IBV_WC_TM_RNDV_INCOMPLETE + 1];
static unsigned long vendor_errs[CMR_VERR_STREAM_FAILED - CMR_VERR_DST_TOO_SMALL + 1];

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int pct)
{
	return below(100) < pct;
}

static void region_init(struct region *r, int access, bool writable)
{
	size_t i;

	r->base = mmap(NULL, MAPPING, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vt_check(r->base != MAP_FAILED, "mmap");
	r->buf = r->base + GUARD;
	for (i = 0; i < MAPPING; i++)
		r->base[i] = rnd();
	/* Some compressible data too: a run of zeros, a repeated text. */
	memset(r->buf + REGION / 2, 0, REGION / 8);
	for (i = 0; i < REGION / 8; i++)
		r->buf[REGION / 4 + i] = "cmr fuzz "[i % 9];
	r->writable = writable;
	r->mr = vt_reg(&v, r->buf, REGION, access);
	r->copy = malloc(MAPPING);
	vt_check(r->copy, "malloc");
	memcpy(r->copy, r->base, MAPPING);
}

/* A zlib stream of known data at the start of a readable region. */
static void put_zlib(struct region *r)
{
	uLongf n = REGION / 4;

	vt_check(compress2(r->buf, &n, r->buf + REGION / 4, REGION / 8, 6) ==
		 Z_OK, "compress2");
	zlib_len = n;
	memcpy(r->copy, r->base, MAPPING);
}

static void regions_check(const char *when)
{
	int i;

	for (i = 0; i < NUM_REGIONS; i++) {
		struct region *r = &reg[i];

		if (!r->writable) {
			vt_check(!memcmp(r->base, r->copy, MAPPING),
				 "%s: readable MR %d changed", when, i);
			continue;
		}
		vt_check(!memcmp(r->base, r->copy, GUARD) &&
			 !memcmp(r->base + GUARD + REGION,
				 r->copy + GUARD + REGION, GUARD),
			 "%s: a guard page around writable MR %d changed",
			 when, i);
	}
}

/* A length for a buffer of up to room bytes: mostly small. */
static uint32_t sane_len(uint32_t room)
{
	uint32_t max = chance(45) ? 64 : chance(70) ? 4096 : room;

	return 1 + below(max < room ? max : room);
}

/* len bytes of a region: a writable one for destinations. */
static void sane_sge(struct cmr_sge *sge, bool dst, uint32_t len)
{
	const struct region *r = &reg[dst ? DST + below(2) : below(NUM_REGIONS)];

	sge->length = len;
	sge->addr = (uintptr_t)r->buf + below(REGION - len + 1);
	sge->lkey = r->mr->lkey;
}

/* A remote range of len bytes the QP may write (or read). */
static void sane_remote(__u64 *addr, __u32 *rkey, bool write, uint32_t len,
			uint32_t align)
{
	/* Every region but RO grants remote reads. */
	static const int readable[] = { SRC, SRC_ODP, DST, DST_ODP };
	const struct region *r = &reg[write ? DST + (int)below(2) :
					   readable[below(4)]];

	*addr = (uintptr_t)r->buf + below((REGION - len) / align + 1) * align;
	*rkey = r->mr->rkey;
}

static struct cmr_compute_params *params(struct cmr_send_wqe *wqe)
{
	return (struct cmr_compute_params *)wqe->raw;
}

/*
 * A compute WR the engine should run: valid parameters for a random
 * algorithm and direction, sources anywhere, destinations writable, room
 * mostly enough (too little is a failure that keeps the QP).
 */
static void sane_compute(struct cmr_send_wqe *wqe)
{
	struct cmr_compute_params *p = params(wqe);
	struct cmr_sge *sge = (struct cmr_sge *)(wqe + 1);
	uint32_t len = sane_len(REGION / 4), room;
	unsigned int i;

	p->alg = below(CMR_NUM_ALGS);
	p->dir = below(CMR_NUM_DIRS);
	for (i = 0; i < sizeof(p->iv); i++)
		p->iv[i] = rnd();
	switch (p->alg) {
	case CMR_ALG_DEFLATE:
		p->level = below(10);
		p->flags = below(3);	/* raw, zlib, gzip */
		if (chance(10)) {	/* the stream of its direction */
			p->stream_handle = streams[p->dir]->stream_num;
			p->flags = (chance(30) ? CMR_COMPUTE_STREAM_END : 0);
		}
		break;
	case CMR_ALG_AES_GCM:
		p->key_handle = keys[0]->key_num;
		p->aad_len = chance(50) ? below(len > 64 ? 64 : len) : 0;
		if (p->dir == CMR_DIR_INVERSE && len < 16)
			len = 16;	/* the tag at least */
		break;
	case CMR_ALG_AES_XTS:
		p->key_handle = keys[1]->key_num;
		len = len < 16 ? 16 : len & ~15U;
		if (chance(30) && len % 512 == 0)
			p->data_unit_size = 512;
		break;
	case CMR_ALG_HMAC_SHA256:
		p->key_handle = keys[2]->key_num;
		/* fall through */
	case CMR_ALG_MEMCPY:
	case CMR_ALG_SHA256:
	case CMR_ALG_CRC32:
	case CMR_ALG_CRC32C:
		p->dir = CMR_DIR_FORWARD;
		break;
	}

	wqe->num_sge = 1;
	sane_sge(&sge[0], false, len);
	if (p->alg == CMR_ALG_DEFLATE && p->dir == CMR_DIR_INVERSE &&
	    !p->stream_handle && chance(70)) {
		/* Something that decompresses: the zlib stream in SRC. */
		sge[0].addr = (uintptr_t)reg[SRC].buf;
		sge[0].lkey = reg[SRC].mr->lkey;
		sge[0].length = zlib_len;
		p->flags = CMR_COMPUTE_FRAME_ZLIB;
	}
	/* Mostly room for what the algorithm makes of it, 1 to 3 SGEs. */
	room = chance(85) ? REGION / 2 : sane_len(64);
	p->num_dst_sge = 1 + below(3);
	if (chance(10) && p->alg >= CMR_ALG_SHA256)
		p->num_dst_sge = 0;	/* the result in the CQE only */
	for (i = 0; i < p->num_dst_sge; i++)
		sane_sge(&sge[1 + i], true, room / p->num_dst_sge + 1);
}

static void sane_rdma(struct cmr_send_wqe *wqe, bool uc)
{
	struct cmr_sge *sge = (struct cmr_sge *)(wqe + 1);
	uint32_t len = sane_len(REGION);

	static const unsigned int uc_picks[] = { 1, 3, 4 };
	unsigned int pick = below(6);

	/* UC: mostly what it carries (SEND and the WRITEs), now and then not. */
	if (uc && chance(90))
		pick = uc_picks[below(3)];
	switch (pick) {
	case 0:
		wqe->opcode = CMR_OP_RDMA_READ;
		break;
	case 1:
		wqe->opcode = CMR_OP_SEND;
		break;
	case 2:
		wqe->opcode = chance(50) ? CMR_OP_ATOMIC_CMP_AND_SWP :
					   CMR_OP_ATOMIC_FETCH_AND_ADD;
		break;
	case 3:
		wqe->opcode = CMR_OP_RDMA_WRITE_WITH_IMM;
		break;
	default:
		wqe->opcode = CMR_OP_RDMA_WRITE;
	}
	wqe->num_sge = 1;
	if (wqe->opcode == CMR_OP_ATOMIC_CMP_AND_SWP ||
	    wqe->opcode == CMR_OP_ATOMIC_FETCH_AND_ADD) {
		sane_sge(&sge[0], true, 8);
		sane_remote(&wqe->atomic.remote_addr, &wqe->atomic.rkey, true,
			    8, 8);
		wqe->atomic.compare_add = rnd();
		wqe->atomic.swap = rnd();
		return;
	}
	sane_sge(&sge[0], wqe->opcode == CMR_OP_RDMA_READ, len);
	sane_remote(&wqe->rdma.remote_addr, &wqe->rdma.rkey,
		    wqe->opcode != CMR_OP_RDMA_READ, len, 1);
}

/* Break one thing of a WQE, as a faulty or hostile process would. */
static void mutate(struct cmr_send_wqe *wqe, const struct cmr_qp *cqp)
{
	struct cmr_compute_params *p = params(wqe);
	struct cmr_sge *sge = (struct cmr_sge *)(wqe + 1);
	unsigned int k = below(cqp->sq.max_sge), i;
	uint8_t *bytes = (uint8_t *)wqe;

	switch (below(20)) {
	case 0:
		wqe->opcode = chance(50) ? below(CMR_NUM_SEND_OPCODES) : rnd();
		break;
	case 1:
		wqe->flags ^= 1U << below(16);
		break;
	case 2:
		wqe->num_sge = rnd();
		break;
	case 3:
		sge[k].lkey = chance(50) ? sge[k].lkey ^ (1 + below(255)) :
					   (uint32_t)rnd();
		break;
	case 4:		/* before, across the end of, or far from its MR */
		sge[k].addr += chance(50) ? -(int64_t)(1 + below(GUARD)) :
					    REGION - below(64);
		break;
	case 5:
		sge[k].length = chance(50) ? (uint32_t)rnd() : 0;
		break;
	case 6:		/* a readable MR as the destination */
		sge[k].lkey = reg[below(DST)].mr->lkey;
		break;
	case 7:
		p->alg = chance(50) ? below(CMR_NUM_ALGS) : rnd();
		break;
	case 8:
		p->dir = rnd();
		break;
	case 9:
		p->level = rnd();
		break;
	case 10:
		p->flags ^= 1U << below(32);
		break;
	case 11:
		p->key_handle = chance(50) ? keys[below(3)]->key_num :
					     (uint32_t)rnd();
		break;
	case 12:
		p->stream_handle = chance(50) ? streams[below(2)]->stream_num :
						(uint32_t)rnd();
		break;
	case 13:
		p->aad_len = chance(50) ? below(128) : rnd();
		break;
	case 14:
		p->data_unit_size = chance(50) ? 16 + below(8192) : rnd();
		break;
	case 15:
		p->num_dst_sge = rnd();
		break;
	case 16:
		wqe->flags |= CMR_WQE_INLINE;
		wqe->inline_len = chance(80) ? below(cqp->sq.max_inline + 1) :
					       rnd();
		break;
	case 17:	/* the RDMA or UD fields: rkey, address, AH, QPN */
		if (chance(50))
			wqe->rdma.rkey = chance(50) ? reg[RO].mr->rkey :
						      (uint32_t)rnd();
		else
			wqe->rdma.remote_addr = rnd();
		break;
	case 18:
		wqe->flags |= CMR_WQE_SRC_FROM_PREV;
		break;
	default:	/* anything in the header and parameters */
		for (i = 1 + below(4); i; i--)
			bytes[8 + below(sizeof(*wqe) - 8)] = rnd();
	}
}

/*
 * A UD SEND: to ourselves (a receive may be posted, with room for the
 * GRH or not) or to nobody (dropped), with our Q_Key, a wrong one or the
 * QP's (high bit), up to an MTU or beyond.
 */
static void sane_ud(struct cmr_send_wqe *wqe, const struct fuzz_qp *f)
{
	struct cmr_sge *sge = (struct cmr_sge *)(wqe + 1);

	wqe->opcode = chance(70) ? CMR_OP_SEND : CMR_OP_SEND_WITH_IMM;
	wqe->num_sge = chance(10) ? 0 : 1;
	sane_sge(&sge[0], false, chance(95) ? sane_len(4096) : 4097);
	wqe->ud.ah_num = to_cmr_ah(f->ah)->ah_num;
	wqe->ud.remote_qpn = chance(60) ? f->qp->qp_num : UD_NOBODY;
	wqe->ud.remote_qkey = chance(60) ? UD_QKEY :
			      chance(50) ? 0x80000000 : (uint32_t)rnd();
}

static void gen_wqe(struct cmr_send_wqe *wqe, uint64_t wr_id,
		    const struct fuzz_qp *f)
{
	const struct cmr_qp *cqp = to_cmr_qp(f->qp);
	unsigned int i;

	memset(wqe, 0, 1U << cqp->sq.q.stride_shift);
	wqe->wr_id = wr_id;
	wqe->opcode = CMR_OP_COMPUTE;
	wqe->flags = chance(85) ? CMR_WQE_SIGNALED : 0;
	wqe->imm_data = rnd();
	if (f->ah)
		sane_ud(wqe, f);
	else if (chance(f->uc ? 5 : 75))	/* UC: no compute WRs */
		sane_compute(wqe);
	else
		sane_rdma(wqe, f->uc);
	/* Chains: compress -> encrypt and the like, or from a failure. */
	if (chance(10) && wqe->opcode != CMR_OP_RDMA_READ &&
	    wqe->opcode != CMR_OP_ATOMIC_CMP_AND_SWP &&
	    wqe->opcode != CMR_OP_ATOMIC_FETCH_AND_ADD)
		wqe->flags |= CMR_WQE_SRC_FROM_PREV;
	if (chance(12))
		for (i = 1 + below(3); i; i--)
			mutate(wqe, cqp);
	/* Invalidating our own MRs would only end the run early. */
	if (wqe->opcode == CMR_OP_LOCAL_INV ||
	    wqe->opcode == CMR_OP_SEND_WITH_INV)
		wqe->imm_data = 0xff;
}

/* What cmr-abi.h and the verbs model allow a completion to say. */
static bool status_documented(enum ibv_wc_status s)
{
	switch (s) {
	case IBV_WC_SUCCESS:
	case IBV_WC_LOC_LEN_ERR:
	case IBV_WC_LOC_QP_OP_ERR:
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_WR_FLUSH_ERR:
	case IBV_WC_REM_INV_REQ_ERR:
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_REM_OP_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
	case IBV_WC_GENERAL_ERR:
		return true;
	default:
		return false;
	}
}

/* Connected to itself; a SEND without a receive fails at once. */
static void connect_self(struct fuzz_qp *f)
{
	static const struct vt_qp_opts opts = {
		.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			  IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};

	vt_to_rts(&v, f->qp, f->qp->qp_num, &opts);
}

/* A connected QP of ours: RDMA WRITE builders, for UC's closing WR. */
static struct ibv_qp_init_attr_ex conn_qp_attr(enum ibv_qp_type type,
					       struct ibv_srq *srq)
{
	return (struct ibv_qp_init_attr_ex){
		.qp_type = type,
		.send_cq = cq,
		.recv_cq = cq,
		.pd = v.pd,
		.cap = { .max_send_wr = DEPTH, .max_recv_wr = 4,
			 .max_send_sge = 4, .max_recv_sge = 2,
			 .max_inline_data = 64 },
		.comp_mask = IBV_QP_INIT_ATTR_PD |
			     IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE,
		.srq = srq,
	};
}

static void fuzz_qp_create(struct fuzz_qp *f, const char *name,
			   uint32_t create_flags, struct ibv_srq *srq)
{
	struct ibv_qp_init_attr_ex attr = conn_qp_attr(IBV_QPT_RC, srq);
	struct cmrdv_qp_init_attr dv = {
		.comp_mask = CMRDV_QP_INIT_ATTR_MASK_SEND_OPS_FLAGS |
			     CMRDV_QP_INIT_ATTR_MASK_CREATE_FLAGS,
		.send_ops_flags = CMRDV_QP_EX_WITH_COMPUTE,
		.create_flags = create_flags,
	};

	f->name = name;
	f->srq = srq;
	f->qp = cmrdv_create_qp(v.ctx, &attr, &dv);
	vt_check(f->qp, "%s: cmrdv_create_qp: %s", name, strerror(errno));
	f->qpx = ibv_qp_to_qp_ex(f->qp);
	f->dqp = cmrdv_qp_ex_from_ibv_qp_ex(f->qpx);
	vt_check(f->dqp, "cmrdv_qp_ex_from_ibv_qp_ex");
	connect_self(f);
}

/*
 * Now and then a receive for the SENDs of the batch to land in (or to
 * fail on): into the writable regions only, as the guards demand, and
 * now and then broken in the RQ ring.
 */
static void maybe_post_recv(struct fuzz_qp *f)
{
	struct ibv_sge sge;
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;
	const struct region *r = &reg[DST + below(NUM_REGIONS - DST)];
	struct ibv_srq_attr limit = { .srq_limit = 1 + below(3) };
	struct cmr_recv_wqe *rwqe;
	struct cmr_wq *wq;
	struct cmr_sge *rsge;
	int ret;

	if (!chance(60))
		return;
	sge.length = 1 + below(REGION);
	sge.addr = (uintptr_t)r->buf + below(REGION - sge.length + 1);
	sge.lkey = r->mr->lkey;
	wr.wr_id = RECV_ID;
	/* A full queue refuses it: fine. */
	if (f->srq) {
		ret = ibv_post_srq_recv(f->srq, &wr, &bad);
		wq = &to_cmr_srq(f->srq)->rq;
		/* Arm the limit event now and then: it fires as SENDs land. */
		if (!ret && chance(20))
			vt_check(!ibv_modify_srq(f->srq, &limit, IBV_SRQ_LIMIT),
				 "modify_srq");
		/* Resize it now and then: what is posted moves along. */
		if (!ret && chance(5)) {
			struct ibv_srq_attr size = {
				.max_wr = chance(50) ? 4 : 8,
			};
			int err = ibv_modify_srq(f->srq, &size, IBV_SRQ_MAX_WR);

			/* Refused while more is posted than fits. */
			vt_check(!err || err == EINVAL, "resize SRQ: %d", err);
		}
	} else {
		ret = ibv_post_recv(f->qp, &wr, &bad);
		wq = &to_cmr_qp(f->qp)->rq;
	}
	if (ret || !chance(20))
		return;
	/*
	 * Break the WQE in the ring: the kernel copies it only when a SEND
	 * of the batch arrives, and the batch is not posted yet.
	 */
	rwqe = cmr_queue_entry(&wq->q, wq->q.index - 1);
	rsge = (struct cmr_sge *)(rwqe + 1);
	switch (below(5)) {
	case 0:
		rwqe->num_sge = chance(50) ? wq->max_sge + 1 : rnd();
		break;
	case 1:			/* a readable MR to receive into */
		rsge->lkey = reg[below(DST)].mr->lkey;
		break;
	case 2:
		rsge->lkey = rnd();
		break;
	case 3:
		rsge->addr += chance(50) ? REGION - below(64) : rnd();
		break;
	default:
		rsge->length = rnd();
	}
}

static void ud_ready(struct fuzz_qp *f)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1, .qkey = UD_QKEY,
	};

	vt_check(!ibv_modify_qp(f->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				IBV_QP_PORT | IBV_QP_QKEY), "%s: INIT", f->name);
	a.qp_state = IBV_QPS_RTR;
	vt_check(!ibv_modify_qp(f->qp, &a, IBV_QP_STATE), "%s: RTR", f->name);
	a.qp_state = IBV_QPS_RTS;
	vt_check(!ibv_modify_qp(f->qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN),
		 "%s: RTS", f->name);
}

static void ud_create(struct fuzz_qp *f)
{
	struct ibv_qp_init_attr attr = {
		.qp_type = IBV_QPT_UD,
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = DEPTH, .max_recv_wr = 4,
			 .max_send_sge = 4, .max_recv_sge = 2,
			 .max_inline_data = 64 },
	};
	struct ibv_ah_attr ah = { .dlid = v.port.lid, .port_num = 1 };

	f->name = "UD QP";
	f->qp = ibv_create_qp(v.pd, &attr);
	vt_check(f->qp, "create UD QP: %s", strerror(errno));
	f->ah = ibv_create_ah(v.pd, &ah);
	vt_check(f->ah, "create_ah: %s", strerror(errno));
	ud_ready(f);
}

static void reset_qp(struct fuzz_qp *f)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

	vt_check(!ibv_modify_qp(f->qp, &a, IBV_QP_STATE), "%s: RESET",
		 f->name);
	if (f->ah)
		ud_ready(f);
	else
		connect_self(f);
	f->resets++;
}

/*
 * UC, connected to itself: no compute WRs (the raw ones fail), so its
 * batches close with an RDMA WRITE to itself.
 */
static void uc_create(struct fuzz_qp *f)
{
	struct ibv_qp_init_attr_ex attr = conn_qp_attr(IBV_QPT_UC, NULL);

	f->name = "UC QP";
	f->uc = true;
	f->qp = ibv_create_qp_ex(v.ctx, &attr);
	vt_check(f->qp, "create UC QP: %s", strerror(errno));
	f->qpx = ibv_qp_to_qp_ex(f->qp);
	connect_self(f);
}

/*
 * The WR that closes a batch, through the API: an RC QP's is a 64-byte
 * memcpy, a UC QP's a 64-byte RDMA WRITE to itself (the same bytes
 * moved); a UD QP's a SEND to nobody, which completes once sent.
 */
static void post_closing(struct fuzz_qp *f, uint64_t wr_id,
			 const uint8_t *src, uint8_t *dst)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)src, .length = 64,
		.lkey = reg[SRC].mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (f->ah) {
		wr.wr.ud.ah = f->ah;
		wr.wr.ud.remote_qpn = UD_NOBODY;
		wr.wr.ud.remote_qkey = UD_QKEY;
		vt_check(!ibv_post_send(f->qp, &wr, &bad), "%s: post_send",
			 f->name);
		return;
	}
	ibv_wr_start(f->qpx);
	f->qpx->wr_id = wr_id;
	f->qpx->wr_flags = IBV_SEND_SIGNALED;
	if (f->uc) {
		ibv_wr_rdma_write(f->qpx, reg[DST].mr->rkey, (uintptr_t)dst);
		ibv_wr_set_sge(f->qpx, sge.lkey, sge.addr, sge.length);
	} else {
		cmrdv_wr_memcpy(f->dqp);
		ibv_wr_set_sge(f->qpx, sge.lkey, sge.addr, sge.length);
		cmrdv_wr_set_dst_sge(f->dqp, reg[DST].mr->lkey,
				     (uintptr_t)dst, 64);
	}
	vt_check(!ibv_wr_complete(f->qpx), "%s: wr_complete", f->name);
}

/*
 * Post one batch: n raw WQEs, then the closing WR through the API
 * (which publishes them all and rings the doorbell if the QP needs it).
 */
static void run_batch(struct fuzz_qp *f, uint64_t batch)
{
	struct cmr_qp *cqp = to_cmr_qp(f->qp);
	unsigned int n = 1 + below(MAX_BATCH), i, next = 0;
	uint8_t *sdst = reg[DST].buf + REGION - 64;
	uint8_t *ssrc = reg[SRC].buf + below(REGION - 64);
	bool flushed = false, closed = false;
	struct ibv_wc wc;
	uint64_t idx;

	maybe_post_recv(f);
	/* Under libcmr's SQ lock, as its own builders fill entries. */
	cmr_spin_lock(&cqp->sq.lock);
	for (i = 0; i < n; i++)
		gen_wqe(cmr_queue_entry(&cqp->sq.q, cqp->sq.q.index + i),
			batch << 8 | i, f);
	cqp->sq.q.index += n;
	cmr_spin_unlock(&cqp->sq.lock);

	post_closing(f, SENTINEL | batch, ssrc, sdst);

	while (!closed) {
		vt_poll(cq, &wc, 120000);
		vt_check(status_documented(wc.status),
			 "%s: batch %llu: status %d (%s) undocumented", f->name,
			 (unsigned long long)batch, wc.status,
			 ibv_wc_status_str(wc.status));
		statuses[wc.status]++;
		if (wc.wr_id == RECV_ID)
			continue;	/* filled by a SEND of the batch, or flushed */
		vt_check(wc.qp_num == f->qp->qp_num, "CQE of QP %u", wc.qp_num);
		vt_check(!wc.vendor_err ||
			 (wc.vendor_err >= CMR_VERR_DST_TOO_SMALL &&
			  wc.vendor_err <= CMR_VERR_STREAM_FAILED),
			 "vendor_err %#x undocumented", wc.vendor_err);
		if (wc.vendor_err)
			vendor_errs[wc.vendor_err - CMR_VERR_DST_TOO_SMALL]++;
		if (flushed)
			vt_check(wc.status == IBV_WC_WR_FLUSH_ERR,
				 "a completion after a flush: status %d",
				 wc.status);
		flushed = wc.status == IBV_WC_WR_FLUSH_ERR;
		if (wc.wr_id & SENTINEL) {
			vt_check(wc.wr_id == (SENTINEL | batch), "stale sentinel");
			closed = true;
			continue;
		}
		vt_check(wc.wr_id >> 8 == batch, "wr_id %#llx in batch %llu",
			 (unsigned long long)wc.wr_id,
			 (unsigned long long)batch);
		idx = wc.wr_id & 0xff;
		vt_check(idx >= next && idx < n, "WR %llu completed out of order",
			 (unsigned long long)idx);
		next = idx + 1;
	}
	regions_check("after a batch");
	if (wc.status == IBV_WC_SUCCESS) {
		vt_check(f->ah || !memcmp(sdst, ssrc, 64),
			 "%s: the closing memcpy", f->name);
	} else {
		vt_check(wc.status == IBV_WC_WR_FLUSH_ERR,
			 "%s: the closing WR failed: %s", f->name,
			 ibv_wc_status_str(wc.status));
		reset_qp(f);
		/* A receive left in the RQ went with the reset. */
	}
}

static struct cmrdv_key *make_key(enum cmrdv_alg alg, uint32_t len)
{
	struct cmrdv_key_init_attr a = { .alg = alg, .length = len };
	uint8_t m[64];
	unsigned int i;

	for (i = 0; i < sizeof(m); i++)
		m[i] = rnd();
	a.material = m;
	return cmrdv_create_key(v.pd, &a);
}

int main(void)
{
	const char *seed_env = getenv("CMR_FUZZ_SEED");
	const char *secs_env = getenv("CMR_FUZZ_SECONDS");
	double secs = secs_env ? atof(secs_env) : 45, end;
	struct cmrdv_stream_init_attr sa = { .alg = CMRDV_ALG_DEFLATE };
	struct ibv_device_attr_ex dattr = {};
	struct ibv_srq_init_attr srq_attr = {
		.attr = { .max_wr = 4, .max_sge = 2 },
	};
	struct fuzz_qp qps[4] = {};
	struct ibv_srq *srq;
	uint64_t seed, batch = 0;
	unsigned int i;
	bool odp;

	seed = seed_env ? strtoull(seed_env, NULL, 0) :
			  (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	rng = seed ? seed : 1;
	printf("seed %#llx (CMR_FUZZ_SEED replays it)\n",
	       (unsigned long long)seed);
	fflush(stdout);

	vt_open(&v, vt_dev());
	vt_check(!ibv_query_device_ex(v.ctx, NULL, &dattr), "query_device_ex");
	odp = dattr.odp_caps.general_caps & IBV_ODP_SUPPORT;
	cq = ibv_create_cq(v.ctx, 4 * DEPTH, NULL, NULL, 0);
	vt_check(cq, "create_cq");

	/* Readable: the engine may read them, never write them. */
	region_init(&reg[SRC], IBV_ACCESS_REMOTE_READ, false);
	put_zlib(&reg[SRC]);
	region_init(&reg[SRC_ODP], odp ? IBV_ACCESS_REMOTE_READ |
			IBV_ACCESS_ON_DEMAND : IBV_ACCESS_REMOTE_READ, false);
	region_init(&reg[RO], 0, false);
	/* Writable: anything may land inside, nothing beside. */
	region_init(&reg[DST], IBV_ACCESS_LOCAL_WRITE |
		    IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
		    IBV_ACCESS_REMOTE_ATOMIC, true);
	region_init(&reg[DST_ODP], IBV_ACCESS_LOCAL_WRITE |
		    IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
		    IBV_ACCESS_REMOTE_ATOMIC |
		    (odp ? IBV_ACCESS_ON_DEMAND : 0), true);

	keys[0] = make_key(CMRDV_ALG_AES_GCM, 32);
	keys[1] = make_key(CMRDV_ALG_AES_XTS, 64);
	keys[2] = make_key(CMRDV_ALG_HMAC_SHA256, 20);
	for (i = 0; i < 3; i++)
		vt_check(keys[i], "create_key %u: %s", i, strerror(errno));
	streams[0] = cmrdv_create_stream(v.pd, &sa);
	sa.dir = CMRDV_INVERSE;
	streams[1] = cmrdv_create_stream(v.pd, &sa);
	vt_check(streams[0] && streams[1], "create_stream: %s",
		 strerror(errno));

	srq = ibv_create_srq(v.pd, &srq_attr);
	vt_check(srq, "create_srq: %s", strerror(errno));
	fuzz_qp_create(&qps[0], "doorbell QP", 0, NULL);
	fuzz_qp_create(&qps[1], "SQ_POLL QP on an SRQ",
		       CMRDV_QP_CREATE_SQ_POLL, srq);
	ud_create(&qps[2]);
	uc_create(&qps[3]);

	end = vt_now_s() + secs;
	while (vt_now_s() < end) {
		run_batch(&qps[batch % 4], batch);
		batch++;
	}

	printf("%llu batches (%s MRs), QP resets: %lu doorbell RC, %lu SQ_POLL RC, %lu UD, %lu UC\n",
	       (unsigned long long)batch, odp ? "pinned and ODP" : "pinned",
	       qps[0].resets, qps[1].resets, qps[2].resets, qps[3].resets);
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i])
			printf("  %-28s %lu\n", ibv_wc_status_str(i),
			       statuses[i]);
	for (i = 0; i < sizeof(vendor_errs) / sizeof(vendor_errs[0]); i++)
		if (vendor_errs[i])
			printf("  vendor_err %#x %lu\n",
			       CMR_VERR_DST_TOO_SMALL + i, vendor_errs[i]);
	/* A run that never reached the engine's success path tested little. */
	vt_check(statuses[IBV_WC_SUCCESS] > batch, "too few successes");

	for (i = 0; i < 4; i++)
		vt_check(!ibv_destroy_qp(qps[i].qp), "destroy_qp");
	vt_check(!ibv_destroy_ah(qps[2].ah), "destroy_ah");
	vt_check(!ibv_destroy_srq(srq), "destroy_srq");
	for (i = 0; i < 2; i++)
		vt_check(!cmrdv_destroy_stream(streams[i]), "destroy_stream");
	for (i = 0; i < 3; i++)
		vt_check(!cmrdv_destroy_key(keys[i]), "destroy_key");
	for (i = 0; i < NUM_REGIONS; i++)
		vt_check(!ibv_dereg_mr(reg[i].mr), "dereg_mr");
	regions_check("at the end");
	vt_check(!ibv_destroy_cq(cq), "destroy_cq");
	vt_close(&v);
	return 0;
}
