/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cmr: what the compute files (cmr_compute.c dispatch and objects,
 * cmr_comp.c codecs, cmr_crypto.c crypto/digests) share; the engine sees
 * only cmr_compute.h.
 */
#ifndef CMR_COMPUTE_PRIV_H
#define CMR_COMPUTE_PRIV_H

#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#include "cmr_compute.h"

/*
 * Input fed to a backend between two cond_resched(): a slow codec must not
 * hog the CPU for seconds.  zstd at its highest level compresses ~250 KiB/s
 * under emulation (a 4 MiB WR: ~18 s, past the soft-lockup watchdog's 20 s
 * on a slow day); 128 KiB chunks leave the CPU every half second, and cost
 * nothing natively.
 */
#define CMR_COMPUTE_CHUNK	(128U << 10)

/*
 * One compute WR as the backends see it.  src and dst are linear-map
 * addresses (a pinned user page, kmalloc) or vmalloc ones, never NULL:
 * the crypto backends describe them to scatterlists as such.
 */
struct cmr_run {
	struct cmr_compute_ws *ws;
	const struct cmr_compute_params *p;
	struct cmr_key *key;
	struct cmr_stream *stream;	/* NULL: one-shot */
	const u8 *src;
	u32 src_len;
	u8 *dst;
	u32 dst_cap;
	u32 produced;
	u8 *result;			/* CMR_COMPUTE_RESULT_LEN bytes */
};

/*
 * Algorithms served through the crypto API; see cmr_compute.c.  The
 * compressors are served there only by a driver that is an engine of its
 * own (their library serves what it does not).
 */
enum cmr_be {
	CMR_BE_NONE,		/* memcpy: no crypto API algorithm */
	CMR_BE_DEFLATE,
	CMR_BE_LZ4,
	CMR_BE_ZSTD,
	CMR_BE_GCM,
	CMR_BE_XTS,
	CMR_BE_SHA256,
	CMR_BE_HMAC_SHA256,
	CMR_BE_CRC32,
	CMR_BE_CRC32C,
	CMR_NUM_BE
};

/* Unkeyed hashes a ws keeps a tfm for. */
enum cmr_ws_hash {
	CMR_WS_SHA256,
	CMR_WS_CRC32,
	CMR_WS_CRC32C,
	CMR_NUM_WS_HASH
};

struct cmr_key {
	enum cmr_compute_alg alg;
	union {
		struct crypto_aead *aead;	/* AES_GCM */
		struct crypto_skcipher *xts;	/* AES_XTS */
		struct crypto_shash *hmac;	/* HMAC_SHA256 */
	};
};

/*
 * Output a DEFLATE compression stream holds for later WRs when a WR's
 * destination is full: zlib accepts no input without room for output.
 */
#define CMR_DEFLATE_SPILL	(128U << 10)

/* DEFLATE compression state: one stream, or a one-shot WR. */
struct cmr_zdef {
	z_stream zs;
	u32 frame;		/* CMR_COMPUTE_FRAME_* */
	int level;		/* zlib level */
	bool started;		/* header written, input accepted */
	u32 crc;		/* gzip: zlib-style CRC32 of the input so far */
	u8 *spill;		/* CMR_DEFLATE_SPILL bytes; NULL: one-shot */
	u32 spill_len;		/* output waiting in spill */
};

/* Where a DEFLATE decompressor is in its input. */
enum cmr_zinf_phase {
	CMR_ZINF_HEADER,	/* gzip member header */
	CMR_ZINF_BODY,		/* compressed data */
	CMR_ZINF_TRAILER,	/* gzip CRC32 and ISIZE */
	CMR_ZINF_DONE,		/* stream (gzip: member) complete */
};

/* DEFLATE decompression state: one stream, or a one-shot WR. */
struct cmr_zinf {
	z_stream zs;
	u32 frame;
	enum cmr_zinf_phase phase;
	bool any_input;		/* a member or stream has begun */
	/* gzip header parser */
	u8 hstate;		/* next header field, enum in cmr_comp.c */
	u8 hflags;		/* FLG */
	u16 hcount;		/* bytes left in the current field */
	u16 hval;		/* XLEN or HCRC being assembled */
	u32 hcrc;		/* CRC32 of the header so far (FHCRC) */
	/* gzip body and trailer */
	u32 crc;		/* zlib-style CRC32 of this member's output */
	u32 isize;		/* this member's output length mod 2^32 */
	u8 trailer[8];
	u8 tlen;
};

/* ZSTD stream state. */
struct cmr_zstd {
	zstd_cstream *cs;	/* FORWARD */
	zstd_dstream *ds;	/* INVERSE */
	bool any_input;		/* this stream has consumed input */
	bool frame_open;	/* INVERSE: a frame is incomplete or unflushed */
};

struct cmr_stream {
	enum cmr_compute_alg alg;
	enum cmr_compute_dir dir;
	u32 frame;		/* DEFLATE framing */
	int level;
	/* Serialises WRs on this stream; protects everything below. */
	struct mutex lock;
	bool dead;		/* an earlier WR failed: STREAM_FAILED */
	void *work;		/* codec workspace, kvmalloc */
	union {
		struct cmr_zdef zdef;
		struct cmr_zinf zinf;
		struct cmr_zstd zstd;
	};
};

struct cmr_compute_ws {
	/* cmr_comp.c, allocated on first use */
	struct cmr_zdef zdef;
	void *zdef_work;
	struct cmr_zinf zinf;
	void *zinf_work;
	void *zstd_cwork;		/* static CCtx/CStream */
	size_t zstd_cwork_size;
	zstd_cctx *zcctx;		/* NULL until (re)initialised */
	void *zstd_dwork;
	zstd_dctx *zdctx;
	void *lz4_work;

	/* cmr_crypto.c, allocated on first use */
	struct crypto_shash *hash[CMR_NUM_WS_HASH];
	/* compression drivers by enum cmr_be, and one request for each */
	struct acomp_req *acomp_req[CMR_NUM_BE];
	u32 acomp_none;			/* BIT(be): the library serves be */
	void *req;			/* aead or skcipher request */
	unsigned int req_size;
	struct scatterlist *sg;		/* sg_cap for src, then sg_cap for dst */
	unsigned int sg_cap;
	unsigned int sg_nents[2];	/* what each table was set up for */
	u8 iv[16] ____cacheline_aligned; /* drivers may DMA from it */
	u8 empty[16];			/* target of zero-length sg entries */
};

/* cmr_compute.c */
struct crypto_acomp *cmr_be_alloc_acomp(enum cmr_be be);
struct crypto_aead *cmr_be_alloc_aead(enum cmr_be be);
struct crypto_skcipher *cmr_be_alloc_skcipher(enum cmr_be be);
struct crypto_shash *cmr_be_alloc_shash(enum cmr_be be);

/* cmr_comp.c */
int cmr_comp_memcpy(struct cmr_run *r);
int cmr_comp_deflate(struct cmr_run *r);
int cmr_comp_lz4(struct cmr_run *r);
int cmr_comp_zstd(struct cmr_run *r);
int cmr_comp_stream_init(struct cmr_stream *s);
void cmr_comp_stream_fini(struct cmr_stream *s);
void cmr_comp_ws_fini(struct cmr_compute_ws *ws);
bool cmr_comp_level_ok(enum cmr_compute_alg alg, u32 level);
void cmr_comp_levels(enum cmr_compute_alg alg, u8 *min, u8 *max, u8 *def);

/* cmr_crypto.c */
int cmr_crypto_key_init(struct cmr_key *key, const void *material, u32 len);
void cmr_crypto_key_fini(struct cmr_key *key);
int cmr_crypto_gcm(struct cmr_run *r);
int cmr_crypto_xts(struct cmr_run *r);
int cmr_crypto_digest(struct cmr_run *r);
int cmr_crypto_acomp(struct cmr_run *r, enum cmr_be be, u8 *dst, u32 dst_cap,
		     u32 *produced);
void cmr_crypto_ws_fini(struct cmr_compute_ws *ws);
void cmr_crypto_key_sizes(enum cmr_compute_alg alg, u16 *min, u16 *max,
			  u16 *step);

#endif /* CMR_COMPUTE_PRIV_H */
