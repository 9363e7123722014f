/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause */
/*
 * cmr: the one ABI between cmr.ko and libcmr.
 *
 * Both sides include this file; it is the single source of truth for the
 * layout of every structure that crosses the user/kernel boundary: the
 * driver-private parts of uverbs commands and the rings mapped into the
 * process.  Grow it only through comp_mask bits and reserved space, never
 * by changing the meaning of an existing field.
 */
#ifndef CMR_ABI_USER_H
#define CMR_ABI_USER_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Reported as the device's uverbs ABI version; the provider refuses others. */
#define CMR_ABI_VERSION 1

/*
 * Rings.
 *
 * Every queue (SQ, RQ, SRQ, CQ) is one mapping that starts with struct
 * cmr_ring and holds its entries from CMR_RING_ENTRIES_OFFSET on.  The
 * number of entries is a power of two; producer and consumer are
 * free-running u32 indices, masked with (num_entries - 1) on use.
 *
 *   SQ, RQ, SRQ: user space owns producer, the kernel owns consumer.
 *   CQ:          the kernel owns producer, user space owns consumer.
 *
 * The owner publishes its index with a release store after the entries it
 * covers are written; the other side reads it with an acquire load.  The
 * kernel never trusts a value it reads back from the ring: it keeps its
 * own copy of the index it owns and copies each entry once before use.
 * It is done with a receive WQE before it posts the WQE's completion: a
 * slot whose completion user space polled may be reused.
 *
 * QP reset: when a QP enters RESET the kernel discards what is posted on
 * its SQ and RQ (no completions) and removes the QP's unpolled CQEs from
 * its CQs, moving those CQs' producer back (do not poll them meanwhile).
 * On RESET -> INIT it takes each ring's current producer as its consumer,
 * so user space may keep its indices running across a reset.
 */
struct cmr_ring {
	__u32 producer;
	__u32 reserved0[15];		/* producer alone on its cache line */
	__u32 consumer;
	__u32 reserved1[15];
	__u32 flags;			/* enum cmr_ring_flags, set by the kernel */
	__u32 reserved2[15];
};

#define CMR_RING_ENTRIES_OFFSET 192

enum cmr_ring_flags {
	/*
	 * SQ/RQ/SRQ: no kernel context is watching this ring; after
	 * publishing the producer index, issue a full barrier and, if this
	 * flag is set, ring the doorbell (an empty POST_SEND, POST_RECV or
	 * POST_SRQ_RECV command on the command fd).
	 */
	CMR_RING_NEED_WAKEUP = 1 << 0,
};

/* Scatter/gather element, as in a WQE. */
struct cmr_sge {
	__aligned_u64 addr;
	__u32 length;
	__u32 lkey;
};

/* Send-queue opcodes: dense, so the count bounds a table lookup. */
enum cmr_send_opcode {
	CMR_OP_SEND,
	CMR_OP_SEND_WITH_IMM,
	CMR_OP_SEND_WITH_INV,
	CMR_OP_RDMA_WRITE,
	CMR_OP_RDMA_WRITE_WITH_IMM,
	CMR_OP_RDMA_READ,
	CMR_OP_ATOMIC_CMP_AND_SWP,
	CMR_OP_ATOMIC_FETCH_AND_ADD,
	CMR_OP_LOCAL_INV,
	CMR_OP_COMPUTE,			/* reserved for compute WRs */
	CMR_NUM_SEND_OPCODES
};

enum cmr_send_flags {
	CMR_WQE_SIGNALED = 1 << 0,
	CMR_WQE_SOLICITED = 1 << 1,
	CMR_WQE_FENCE = 1 << 2,
	CMR_WQE_INLINE = 1 << 3,	/* data follows the header, not SGEs */
	/*
	 * Chaining: the WR's source length is the number of bytes the
	 * previous WR of this QP produced (a compute WR's output, an RDMA
	 * or SEND WR's length), bounded by its SGE list.  Lets compress ->
	 * encrypt -> RDMA WRITE be posted in one go.
	 */
	CMR_WQE_SRC_FROM_PREV = 1 << 4,
};

/* The opcodes that may take CMR_WQE_SRC_FROM_PREV: those with a source. */
#define CMR_OPS_SRC_FROM_PREV						\
	(1U << CMR_OP_SEND | 1U << CMR_OP_SEND_WITH_IMM |		\
	 1U << CMR_OP_SEND_WITH_INV | 1U << CMR_OP_RDMA_WRITE |		\
	 1U << CMR_OP_RDMA_WRITE_WITH_IMM | 1U << CMR_OP_COMPUTE)

/*
 * Send WQE: a 64-byte header followed by num_sge struct cmr_sge or by
 * inline_len bytes of inline data.  The SQ stride (create_qp response)
 * bounds both.
 */
struct cmr_send_wqe {
	__aligned_u64 wr_id;
	__u8 opcode;			/* enum cmr_send_opcode */
	__u8 num_sge;
	__u16 flags;			/* enum cmr_send_flags */
	__be32 imm_data;		/* immediate, or the rkey to invalidate */
	__u32 inline_len;
	__u32 reserved;
	union {
		struct {
			__aligned_u64 remote_addr;
			__u32 rkey;
			__u32 reserved;
		} rdma;
		struct {
			__aligned_u64 remote_addr;
			__aligned_u64 compare_add;
			__aligned_u64 swap;
			__u32 rkey;
			__u32 reserved;
		} atomic;
		struct {
			__u32 remote_qpn;
			__u32 remote_qkey;
			__u32 ah_num;	/* from the create_ah response */
			__u32 reserved;
		} ud;
		__u8 raw[40];		/* room for compute parameters */
	};
};

/* Receive WQE (RQ and SRQ): a 16-byte header followed by num_sge SGEs. */
struct cmr_recv_wqe {
	__aligned_u64 wr_id;
	__u32 num_sge;
	__u32 reserved;
};

enum cmr_cqe_flags {
	CMR_CQE_WITH_IMM = 1 << 0,
	CMR_CQE_WITH_INV = 1 << 1,
	CMR_CQE_GRH = 1 << 2,
};

/*
 * Completion.  status carries enum ibv_wc_status values (the kernel's
 * enum ib_wc_status has the same numbers), opcode the values of enum
 * ib_uverbs_wc_opcode (== enum ibv_wc_opcode).
 */
struct cmr_cqe {
	__aligned_u64 wr_id;
	__u32 byte_len;
	__be32 imm_data;		/* immediate, or the invalidated rkey */
	__u32 qp_num;
	__u32 vendor_err;
	__u8 status;
	__u8 opcode;
	__u16 flags;			/* enum cmr_cqe_flags */
	__u32 result_len;		/* compute: bytes valid in result[] */
	union {
		struct {
			__u32 src_qp;
			__u16 slid;
			__u16 pkey_index;
			__u8 sl;
			__u8 dlid_path_bits;
			__u8 reserved[22];
		} recv;
		__u8 result[32];	/* room for a digest */
	};
};

/* Where one mapped queue lives and how it is shaped. */
struct cmr_queue_info {
	__aligned_u64 mmap_offset;	/* pass to mmap() on the command fd */
	__aligned_u64 mmap_size;
	__u32 num_entries;		/* power of two */
	__u32 stride;			/* bytes per entry, power of two */
};

/* Driver-private parts of uverbs commands. */

struct cmr_alloc_ucontext_resp {
	__u32 max_inline_data;
	__u32 reserved;
};

/*
 * Fast doorbell (optional).  Ringing through uverbs (an empty POST_SEND,
 * POST_RECV or POST_SRQ_RECV on the command fd) costs several microseconds
 * of ib_uverbs bookkeeping per call.  A provider that sends struct
 * cmr_alloc_ucontext_cmd with CMR_UCTX_DOORBELL_FD in GET_CONTEXT, and
 * leaves room for struct cmr_alloc_ucontext_resp_ex, gets a doorbell fd
 * (close-on-exec) on which
 *
 *   ioctl(fd, CMR_IOCTL_DB_SQ, qp_num)    does what the empty POST_SEND does
 *   ioctl(fd, CMR_IOCTL_DB_RQ, qp_num)    ... POST_RECV
 *   ioctl(fd, CMR_IOCTL_DB_SRQ, srq_num)  ... POST_SRQ_RECV
 *
 * for the queues of this context (others fail with EINVAL).  The provider
 * closes it with the context.  Providers that do not ask get no fd and
 * keep using the uverbs commands, which always work.
 */
struct cmr_alloc_ucontext_cmd {
	__u32 comp_mask;		/* enum cmr_alloc_ucontext_flags */
	__u32 reserved;
};

enum cmr_alloc_ucontext_flags {
	CMR_UCTX_DOORBELL_FD = 1 << 0,
};

struct cmr_alloc_ucontext_resp_ex {
	struct cmr_alloc_ucontext_resp base;
	__u32 comp_mask;		/* the flags granted */
	__s32 doorbell_fd;		/* with CMR_UCTX_DOORBELL_FD */
};

#define CMR_IOCTL_MAGIC		0xc3
#define CMR_IOCTL_DB_SQ		_IO(CMR_IOCTL_MAGIC, 1)
#define CMR_IOCTL_DB_RQ		_IO(CMR_IOCTL_MAGIC, 2)
#define CMR_IOCTL_DB_SRQ	_IO(CMR_IOCTL_MAGIC, 3)

struct cmr_create_cq_resp {
	struct cmr_queue_info cq;
};

struct cmr_resize_cq_resp {
	struct cmr_queue_info cq;
};

struct cmr_create_qp_cmd {
	__u32 comp_mask;		/* enum cmr_create_qp_comp_mask */
	__u32 flags;			/* enum cmr_create_qp_flags; was reserved */
};

struct cmr_create_qp_resp {
	struct cmr_queue_info sq;
	struct cmr_queue_info rq;	/* num_entries 0 if the QP uses an SRQ */
	__u32 max_inline_data;
	__u32 reserved;
};

struct cmr_create_srq_resp {
	struct cmr_queue_info rq;
	__u32 srq_num;
	__u32 reserved;
};

/*
 * MODIFY_SRQ with IB_SRQ_MAX_WR moves the SRQ to a new ring.  The uverbs
 * command has no response, so the provider names a user address where
 * the kernel writes the new ring's struct cmr_queue_info (as rxe does).
 * The posted receive WQEs keep their indices in the new ring; the
 * provider maps it and unmaps the old one only if the command succeeded.
 */
struct cmr_modify_srq_cmd {
	__aligned_u64 ring_info_addr;	/* struct cmr_queue_info * */
};

struct cmr_create_ah_resp {
	__u32 ah_num;
	__u32 reserved;
};

/*
 * Compute WRs (send opcode CMR_OP_COMPUTE).
 *
 * The WQE's raw parameter area holds struct cmr_compute_params.  Its SGE
 * list holds num_sge source SGEs followed by num_dst_sge destination SGEs
 * (both bounded by the QP's max_send_sge together).  The completion's
 * byte_len is the number of bytes written to the destination; digests and
 * checksums land in cqe.result (CRCs as a little-endian u32).
 *
 * Outcomes that depend only on the data (destination too small, corrupt
 * compressed input, authentication failure) complete with an error status
 * and a vendor_err code but leave the QP usable, like a compare-and-swap
 * that does not match.  Malformed WRs (bad lkey, key or stream handle,
 * parameters) complete with an error and move the QP to ERR, as any verbs
 * error does.
 */
enum cmr_compute_alg {
	CMR_ALG_MEMCPY,
	CMR_ALG_DEFLATE,		/* framing: enum cmr_compute_flags */
	CMR_ALG_LZ4,			/* LZ4 block format */
	CMR_ALG_ZSTD,			/* zstd frame */
	CMR_ALG_AES_GCM,		/* AES-128/256 by key length */
	CMR_ALG_AES_XTS,		/* AES-128/256-XTS by key length */
	CMR_ALG_SHA256,
	CMR_ALG_HMAC_SHA256,
	CMR_ALG_CRC32,			/* IEEE 802.3, as zlib's crc32() */
	CMR_ALG_CRC32C,			/* Castagnoli */
	CMR_NUM_ALGS
};

enum cmr_compute_dir {
	CMR_DIR_FORWARD,		/* compress, encrypt, digest, copy */
	CMR_DIR_INVERSE,		/* decompress, decrypt */
	CMR_NUM_DIRS
};

enum cmr_compute_flags {
	CMR_COMPUTE_FRAME_MASK = 0x3,	/* deflate framing: */
	CMR_COMPUTE_FRAME_RAW = 0,
	CMR_COMPUTE_FRAME_ZLIB = 1,
	CMR_COMPUTE_FRAME_GZIP = 2,
	/* Streams: this WR ends the stream (flush and write the trailer). */
	CMR_COMPUTE_STREAM_END = 1 << 4,
};

struct cmr_compute_params {
	__u8 alg;			/* enum cmr_compute_alg */
	__u8 dir;			/* enum cmr_compute_dir */
	__u8 num_dst_sge;
	__u8 level;			/* compression level, 0: default */
	__u32 flags;			/* enum cmr_compute_flags */
	__u32 key_handle;		/* crypto and HMAC; 0: none */
	__u32 stream_handle;		/* 0: one-shot */
	__u32 aad_len;			/* GCM: the first aad_len source bytes */
	__u32 data_unit_size;		/* XTS: bytes per data unit, 0: whole */
	__u8 iv[16];			/* GCM: 12-byte IV; XTS: first tweak */
};

/*
 * cqe.opcode of a compute completion: IBV_WC_DRIVER1 (enum ib_uverbs_wc_opcode
 * has no driver range; libibverbs' enum ibv_wc_opcode does).
 */
#define CMR_CQE_OPCODE_COMPUTE 135

/* cqe.result[0] of a stream WR: the stream is complete after this WR. */
#define CMR_COMPUTE_RESULT_END 0x01

/* cqe.vendor_err of a compute completion that failed. */
enum cmr_compute_verr {
	CMR_VERR_NONE,
	CMR_VERR_DST_TOO_SMALL = 0x100,	/* status IBV_WC_LOC_LEN_ERR */
	CMR_VERR_CORRUPT_INPUT,		/* status IBV_WC_GENERAL_ERR */
	CMR_VERR_AUTH_FAILED,		/* status IBV_WC_GENERAL_ERR */
	CMR_VERR_BAD_KEY,		/* status IBV_WC_LOC_QP_OP_ERR */
	CMR_VERR_BAD_STREAM,		/* status IBV_WC_LOC_QP_OP_ERR */
	CMR_VERR_BAD_PARAM,		/* status IBV_WC_LOC_QP_OP_ERR */
	CMR_VERR_UNSUPPORTED,		/* status IBV_WC_LOC_QP_OP_ERR */
	/*
	 * CMR_WQE_SRC_FROM_PREV after a WR that failed without moving the QP
	 * to ERR: there is no output to read.  Status IBV_WC_GENERAL_ERR;
	 * the QP stays usable.
	 */
	CMR_VERR_PREV_FAILED,
	/*
	 * A stream WR after an earlier WR of the stream failed: its state is
	 * lost.  Status IBV_WC_GENERAL_ERR; the QP stays usable.
	 */
	CMR_VERR_STREAM_FAILED,
};

/*
 * Compute objects and capabilities: driver-specific uverbs ioctl objects
 * (the ids live in the driver namespace, UVERBS_ID_NS_SHIFT = 12).
 *
 * CMR_OBJECT_KEY     a crypto or HMAC key.  CREATE takes the PD, the
 *                    algorithm and the material (copied once, never
 *                    readable back) and returns the key_num that compute
 *                    WQEs carry in key_handle.  A key is usable only by
 *                    QPs of its PD; it dies with its uobject (destroy, or
 *                    the context's teardown).
 * CMR_OBJECT_STREAM  compressor state carried across WRs; likewise with
 *                    alg, dir, level and flags, returning stream_num.
 * QUERY_COMPUTE      a method of UVERBS_OBJECT_DEVICE filling
 *                    struct cmr_compute_caps.
 */
#define CMR_UVERBS_ID(n) ((1U << 12) + (n))

enum cmr_uverbs_objects {
	CMR_OBJECT_KEY = CMR_UVERBS_ID(0),
	CMR_OBJECT_STREAM,
};

enum cmr_uverbs_methods {
	CMR_METHOD_KEY_CREATE = CMR_UVERBS_ID(0),
	CMR_METHOD_KEY_DESTROY,
	CMR_METHOD_STREAM_CREATE,
	CMR_METHOD_STREAM_DESTROY,
	CMR_METHOD_QUERY_COMPUTE,
};

enum cmr_uverbs_attrs {
	/* KEY_CREATE */
	CMR_ATTR_KEY_CREATE_HANDLE = CMR_UVERBS_ID(0),
	CMR_ATTR_KEY_CREATE_PD,
	CMR_ATTR_KEY_CREATE_ALG,	/* u32, enum cmr_compute_alg */
	CMR_ATTR_KEY_CREATE_MATERIAL,	/* 1..CMR_MAX_KEY_LEN bytes */
	CMR_ATTR_KEY_CREATE_NUM,	/* out: u32 key_num */
	/* KEY_DESTROY */
	CMR_ATTR_KEY_DESTROY_HANDLE = CMR_UVERBS_ID(0),
	/* STREAM_CREATE */
	CMR_ATTR_STREAM_CREATE_HANDLE = CMR_UVERBS_ID(0),
	CMR_ATTR_STREAM_CREATE_PD,
	CMR_ATTR_STREAM_CREATE_PARAMS,	/* struct cmr_stream_params */
	CMR_ATTR_STREAM_CREATE_NUM,	/* out: u32 stream_num */
	/* STREAM_DESTROY */
	CMR_ATTR_STREAM_DESTROY_HANDLE = CMR_UVERBS_ID(0),
	/* QUERY_COMPUTE */
	CMR_ATTR_QUERY_COMPUTE_CAPS = CMR_UVERBS_ID(0),	/* out */
};

#define CMR_MAX_KEY_LEN 256

struct cmr_stream_params {
	__u32 alg;			/* enum cmr_compute_alg */
	__u32 dir;			/* enum cmr_compute_dir */
	__u32 level;
	__u32 flags;			/* framing */
};

enum cmr_alg_cap_flags {
	CMR_ALG_CAP_SUPPORTED = 1 << 0,
	CMR_ALG_CAP_STREAM = 1 << 1,
	CMR_ALG_CAP_KEYED = 1 << 2,
};

struct cmr_alg_caps {
	__u32 flags;			/* enum cmr_alg_cap_flags */
	__u8 min_level;
	__u8 max_level;
	__u8 default_level;
	__u8 reserved;
	/* Key lengths accepted: min, min + step, ..., max bytes; 0 if unkeyed. */
	__u16 min_key_size;
	__u16 max_key_size;
	__u16 key_size_step;
	__u16 reserved2;
	char backend[64];		/* NUL-terminated */
};

struct cmr_compute_caps {
	__u32 comp_mask;		/* none defined yet */
	__u32 num_algs;			/* entries filled in alg[] */
	__u32 max_compute_size;		/* bytes per WR, source or destination */
	__u32 max_keys;
	__u32 max_streams;
	__u32 sq_poll;			/* 1: SQ poller threads exist */
	struct cmr_alg_caps alg[CMR_NUM_ALGS];
};

/* struct cmr_create_qp_cmd: flags is valid with CMR_CREATE_QP_FLAGS. */
enum cmr_create_qp_comp_mask {
	CMR_CREATE_QP_FLAGS = 1 << 0,
};

enum cmr_create_qp_flags {
	CMR_QP_FLAG_COMPUTE = 1 << 0,	/* the QP may post CMR_OP_COMPUTE */
	CMR_QP_FLAG_SQ_POLL = 1 << 1,	/* a kernel thread polls its SQ */
};

#endif /* CMR_ABI_USER_H */
