/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cmrdv: direct verbs of cmr devices.
 *
 * Compute work requests — compression, encryption, digests, copies — are
 * posted on the same send queues as RDMA operations with the ibv_qp_ex
 * builder API: between ibv_wr_start() and ibv_wr_complete(), set wr_id and
 * wr_flags as usual, call one cmrdv_wr_*() operation, give the source with
 * ibv_wr_set_sge()/ibv_wr_set_sge_list() and the destination with
 * cmrdv_wr_set_dst_sge()/cmrdv_wr_set_dst_sge_list().  Builders return
 * nothing; errors surface at ibv_wr_complete().  WRs of one QP execute and
 * complete in order, so compress -> encrypt -> RDMA WRITE can be posted in
 * one batch, each WR reading the previous one's output
 * (cmrdv_wr_set_src_from_prev()).
 */
#ifndef CMRDV_H
#define CMRDV_H

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cmrdv_alg {
	CMRDV_ALG_MEMCPY,
	CMRDV_ALG_DEFLATE,
	CMRDV_ALG_LZ4,		/* LZ4 block format */
	CMRDV_ALG_ZSTD,		/* zstd frames */
	CMRDV_ALG_AES_GCM,	/* 16- or 32-byte keys */
	CMRDV_ALG_AES_XTS,	/* 32- or 64-byte keys (two AES keys) */
	CMRDV_ALG_SHA256,
	CMRDV_ALG_HMAC_SHA256,
	CMRDV_ALG_CRC32,	/* as zlib's crc32() */
	CMRDV_ALG_CRC32C,	/* Castagnoli */
	CMRDV_NUM_ALGS
};

enum cmrdv_dir {
	CMRDV_FORWARD,		/* compress, encrypt, digest, copy */
	CMRDV_INVERSE,		/* decompress, decrypt */
};

/* Flags of compress/decompress WRs and streams. */
enum cmrdv_compute_flags {
	CMRDV_DEFLATE_RAW = 0,
	CMRDV_DEFLATE_ZLIB = 1,
	CMRDV_DEFLATE_GZIP = 2,
	CMRDV_STREAM_END = 1 << 4,	/* last WR of a stream */
};

/* Device capabilities */

enum cmrdv_alg_cap_flags {
	CMRDV_ALG_CAP_SUPPORTED = 1 << 0,
	CMRDV_ALG_CAP_STREAM = 1 << 1,	/* cmrdv_create_stream() accepts it */
	CMRDV_ALG_CAP_KEYED = 1 << 2,	/* needs a cmrdv_key */
};

struct cmrdv_alg_caps {
	uint32_t flags;			/* enum cmrdv_alg_cap_flags */
	uint8_t min_level;		/* compression levels; 0 if none */
	uint8_t max_level;
	uint8_t default_level;
	uint8_t reserved;
	/* Key lengths accepted: min_key_size, min_key_size + key_size_step,
	 * ..., max_key_size bytes; all 0 for unkeyed algorithms. */
	uint16_t min_key_size;
	uint16_t max_key_size;
	uint16_t key_size_step;
	uint16_t reserved2;
	char backend[64];		/* the engine serving it, e.g. a crypto
					 * API driver name, or "driver,library"
					 * for a compressor */
};

struct cmrdv_device_attr {
	uint64_t comp_mask;		/* none defined yet */
	uint32_t max_compute_size;	/* bytes per source or destination */
	uint32_t max_keys;
	uint32_t max_streams;
	uint32_t sq_poll;		/* 1: a kernel thread polls send queues */
	struct cmrdv_alg_caps alg[CMRDV_NUM_ALGS];
};

int cmrdv_query_device(struct ibv_context *context,
		       struct cmrdv_device_attr *attr);

/* Keys: material goes in once and can never be read back. */

struct cmrdv_key;

struct cmrdv_key_init_attr {
	uint64_t comp_mask;		/* none defined yet */
	enum cmrdv_alg alg;		/* AES_GCM, AES_XTS or HMAC_SHA256 */
	const void *material;
	uint32_t length;
};

struct cmrdv_key *cmrdv_create_key(struct ibv_pd *pd,
				   const struct cmrdv_key_init_attr *attr);
int cmrdv_destroy_key(struct cmrdv_key *key);

/* Streams: compressor state carried across WRs. */

struct cmrdv_stream;

struct cmrdv_stream_init_attr {
	uint64_t comp_mask;		/* none defined yet */
	enum cmrdv_alg alg;		/* DEFLATE or ZSTD */
	enum cmrdv_dir dir;
	uint32_t level;			/* 0: the algorithm's default */
	uint32_t flags;			/* deflate framing */
};

struct cmrdv_stream *
cmrdv_create_stream(struct ibv_pd *pd, const struct cmrdv_stream_init_attr *attr);
int cmrdv_destroy_stream(struct cmrdv_stream *stream);

/* QPs that post compute WRs */

enum cmrdv_qp_init_attr_mask {
	CMRDV_QP_INIT_ATTR_MASK_SEND_OPS_FLAGS = 1 << 0,
	CMRDV_QP_INIT_ATTR_MASK_CREATE_FLAGS = 1 << 1,
};

enum cmrdv_qp_send_ops_flags {
	CMRDV_QP_EX_WITH_COMPUTE = 1 << 0,
};

enum cmrdv_qp_create_flags {
	/*
	 * A kernel thread polls this QP's send queue, so posting needs no
	 * system call while the thread is awake (it sleeps after the idle
	 * time set by the module parameter sq_poll_idle_ms).
	 */
	CMRDV_QP_CREATE_SQ_POLL = 1 << 0,
};

struct cmrdv_qp_init_attr {
	uint64_t comp_mask;		/* enum cmrdv_qp_init_attr_mask */
	uint64_t send_ops_flags;	/* enum cmrdv_qp_send_ops_flags */
	uint32_t create_flags;		/* enum cmrdv_qp_create_flags */
};

/*
 * Like ibv_create_qp_ex(); qp_attr must ask for IBV_QP_INIT_ATTR_SEND_OPS_FLAGS
 * to use the builder API.  Fails with EOPNOTSUPP if an op is unsupported.
 */
struct ibv_qp *cmrdv_create_qp(struct ibv_context *context,
			       struct ibv_qp_init_attr_ex *qp_attr,
			       struct cmrdv_qp_init_attr *cmr_attr);

struct cmrdv_crypto_attr {
	uint8_t iv[16];			/* GCM: 12-byte IV; XTS: first tweak,
					 * little-endian */
	uint32_t aad_len;		/* GCM: leading source bytes of AAD */
	uint32_t data_unit_size;	/* XTS: 0 means the whole buffer */
};

struct cmrdv_qp_ex {
	uint64_t comp_mask;
	void (*wr_memcpy)(struct cmrdv_qp_ex *dqp);
	void (*wr_compress)(struct cmrdv_qp_ex *dqp, enum cmrdv_alg alg,
			    uint32_t level, uint32_t flags);
	void (*wr_decompress)(struct cmrdv_qp_ex *dqp, enum cmrdv_alg alg,
			      uint32_t flags);
	void (*wr_stream)(struct cmrdv_qp_ex *dqp, struct cmrdv_stream *stream,
			  uint32_t flags);
	void (*wr_encrypt)(struct cmrdv_qp_ex *dqp, struct cmrdv_key *key,
			   const struct cmrdv_crypto_attr *attr);
	void (*wr_decrypt)(struct cmrdv_qp_ex *dqp, struct cmrdv_key *key,
			   const struct cmrdv_crypto_attr *attr);
	void (*wr_digest)(struct cmrdv_qp_ex *dqp, enum cmrdv_alg alg,
			  struct cmrdv_key *key);
	void (*wr_set_dst_sge)(struct cmrdv_qp_ex *dqp, uint32_t lkey,
			       uint64_t addr, uint32_t length);
	void (*wr_set_dst_sge_list)(struct cmrdv_qp_ex *dqp, size_t num_sge,
				    const struct ibv_sge *sg_list);
	void (*wr_set_src_from_prev)(struct cmrdv_qp_ex *dqp);
};

struct cmrdv_qp_ex *cmrdv_qp_ex_from_ibv_qp_ex(struct ibv_qp_ex *qp);

static inline void cmrdv_wr_memcpy(struct cmrdv_qp_ex *dqp)
{
	dqp->wr_memcpy(dqp);
}

static inline void cmrdv_wr_compress(struct cmrdv_qp_ex *dqp,
				     enum cmrdv_alg alg, uint32_t level,
				     uint32_t flags)
{
	dqp->wr_compress(dqp, alg, level, flags);
}

static inline void cmrdv_wr_decompress(struct cmrdv_qp_ex *dqp,
				       enum cmrdv_alg alg, uint32_t flags)
{
	dqp->wr_decompress(dqp, alg, flags);
}

static inline void cmrdv_wr_stream(struct cmrdv_qp_ex *dqp,
				   struct cmrdv_stream *stream, uint32_t flags)
{
	dqp->wr_stream(dqp, stream, flags);
}

static inline void cmrdv_wr_encrypt(struct cmrdv_qp_ex *dqp,
				    struct cmrdv_key *key,
				    const struct cmrdv_crypto_attr *attr)
{
	dqp->wr_encrypt(dqp, key, attr);
}

static inline void cmrdv_wr_decrypt(struct cmrdv_qp_ex *dqp,
				    struct cmrdv_key *key,
				    const struct cmrdv_crypto_attr *attr)
{
	dqp->wr_decrypt(dqp, key, attr);
}

static inline void cmrdv_wr_digest(struct cmrdv_qp_ex *dqp,
				   enum cmrdv_alg alg, struct cmrdv_key *key)
{
	dqp->wr_digest(dqp, alg, key);
}

static inline void cmrdv_wr_set_dst_sge(struct cmrdv_qp_ex *dqp,
					uint32_t lkey, uint64_t addr,
					uint32_t length)
{
	dqp->wr_set_dst_sge(dqp, lkey, addr, length);
}

static inline void cmrdv_wr_set_dst_sge_list(struct cmrdv_qp_ex *dqp,
					     size_t num_sge,
					     const struct ibv_sge *sg_list)
{
	dqp->wr_set_dst_sge_list(dqp, num_sge, sg_list);
}

/*
 * Chaining: the current WR (compute, RDMA WRITE or SEND) reads what the
 * previous WR of this QP produced: its source length becomes the previous
 * WR's byte_len, bounded by its source SGE list.  So a WR can consume an
 * output whose size is known only when the previous WR completes, e.g.
 * compress -> encrypt -> RDMA WRITE in one batch.
 */
static inline void cmrdv_wr_set_src_from_prev(struct cmrdv_qp_ex *dqp)
{
	dqp->wr_set_src_from_prev(dqp);
}

/* Completions */

/* result[0] of a stream WR: the stream is complete after this WR. */
#define CMRDV_RESULT_STREAM_END 0x01

/* wc.opcode of a compute completion. */
#define CMRDV_WC_COMPUTE IBV_WC_DRIVER1

/* wc.vendor_err of a failed compute completion. */
enum cmrdv_compute_err {
	CMRDV_ERR_DST_TOO_SMALL = 0x100,	/* IBV_WC_LOC_LEN_ERR */
	CMRDV_ERR_CORRUPT_INPUT,		/* IBV_WC_GENERAL_ERR */
	CMRDV_ERR_AUTH_FAILED,			/* IBV_WC_GENERAL_ERR */
	CMRDV_ERR_BAD_KEY,			/* IBV_WC_LOC_QP_OP_ERR */
	CMRDV_ERR_BAD_STREAM,			/* IBV_WC_LOC_QP_OP_ERR */
	CMRDV_ERR_BAD_PARAM,			/* IBV_WC_LOC_QP_OP_ERR */
	CMRDV_ERR_UNSUPPORTED,			/* IBV_WC_LOC_QP_OP_ERR */
	CMRDV_ERR_PREV_FAILED,			/* IBV_WC_GENERAL_ERR: the WR
						 * reads the output of a WR
						 * that failed */
	CMRDV_ERR_STREAM_FAILED,		/* IBV_WC_GENERAL_ERR: an
						 * earlier WR of the stream
						 * failed */
};

/*
 * The digest or checksum of the current completion of an extended CQ
 * (between ibv_start_poll() and ibv_end_poll()): copies up to len bytes to
 * buf and returns the result's length (32 for SHA-256 and HMAC, 4 for the
 * CRCs, as a little-endian u32).  With ibv_poll_cq(), CRCs arrive in
 * wc.imm_data (IBV_WC_WITH_IMM, host order) and digests are also written
 * to the destination SGEs when the WR has them.
 */
size_t cmrdv_wc_read_result(struct ibv_cq_ex *cq, void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CMRDV_H */
