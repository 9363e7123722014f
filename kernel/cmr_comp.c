// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: compression backends.  MEMCPY; DEFLATE through lib/zlib, which
 * knows raw and zlib framing only, so gzip's header and trailer are ours;
 * LZ4 blocks through lib/lz4; ZSTD frames through lib/zstd.
 *
 * One-shot WRs and streams share one state machine per codec: a one-shot
 * WR is a stream of one WR that ends the stream.
 *
 * A compression engine's crypto API driver, when one serves the algorithm
 * (cmr_crypto_acomp()), takes the one-shot WRs at the default level: it
 * has its own level and no stream state.  It compresses raw DEFLATE, LZ4
 * blocks and zstd frames, and decompresses LZ4 and zstd; DEFLATE
 * decompression stays here, because the API does not tell where the
 * compressed stream ended, which framing and gzip members need.
 */
#include <linux/crc32.h>
#include <linux/lz4.h>
#include <linux/zutil.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cmr_compute_priv.h"
#include "compat.h"

#define CMR_ZSTD_DEFAULT_LEVEL	3
#define CMR_ZSTD_MAX_LEVEL	19	/* 20-22 need hundreds of MiB */
#define CMR_GZIP_HDR_LEN	10
#define CMR_GZIP_TRAILER_LEN	8
#define CMR_ZLIB_HDR_LEN	2
#define CMR_ZLIB_TRAILER_LEN	4

/* zlib's crc32(crc, buf, len): the kernel's crc32_le() has no inversion. */
static u32 cmr_crc32(u32 crc, const void *buf, size_t len)
{
	return ~crc32_le(~crc, buf, len);
}

/* zlib's adler32() with cmr_crc32()'s signature, for cmr_src_sum(). */
static u32 cmr_adler32(u32 adler, const void *buf, size_t len)
{
	return zlib_adler32(adler, buf, len);
}

/* Workspaces: allocated on first use, charged to the caller's memcg. */
static void *cmr_work_alloc(size_t size)
{
	return kvmalloc(size, GFP_KERNEL_ACCOUNT);
}

static void *cmr_deflate_work_alloc(void)
{
	return cmr_work_alloc(zlib_deflate_workspacesize(MAX_WBITS,
							 DEF_MEM_LEVEL));
}

bool cmr_comp_level_ok(enum cmr_compute_alg alg, u32 level)
{
	switch (alg) {
	case CMR_ALG_DEFLATE:
		return level <= Z_BEST_COMPRESSION;
	case CMR_ALG_ZSTD:
		return level <= CMR_ZSTD_MAX_LEVEL;
	case CMR_ALG_LZ4:
		return true;		/* ignored */
	default:
		return level == 0;
	}
}

/* The levels a WR may ask for (0 always means the default). */
void cmr_comp_levels(enum cmr_compute_alg alg, u8 *min, u8 *max, u8 *def)
{
	switch (alg) {
	case CMR_ALG_DEFLATE:
		*min = Z_BEST_SPEED;
		*max = Z_BEST_COMPRESSION;
		*def = 6;		/* zlib's Z_DEFAULT_COMPRESSION */
		break;
	case CMR_ALG_ZSTD:
		*min = 1;
		*max = CMR_ZSTD_MAX_LEVEL;
		*def = CMR_ZSTD_DEFAULT_LEVEL;
		break;
	default:		/* no levels; LZ4 ignores the field */
		*min = 0;
		*max = 0;
		*def = 0;
		break;
	}
}

/* A WR the algorithm's engine driver, if any, may take. */
static bool cmr_driver_may_serve(const struct cmr_run *r)
{
	return !r->stream && (!r->p->level || r->p->alg == CMR_ALG_LZ4);
}

int cmr_comp_memcpy(struct cmr_run *r)
{
	u32 off, n;

	if (r->p->dir != CMR_DIR_FORWARD)
		return CMR_VERR_BAD_PARAM;
	if (r->dst_cap < r->src_len)
		return CMR_VERR_DST_TOO_SMALL;
	for (off = 0; off < r->src_len; off += n) {
		n = min(r->src_len - off, 16 * CMR_COMPUTE_CHUNK);
		memcpy(r->dst + off, r->src + off, n);
		cond_resched();
	}
	r->produced = r->src_len;
	return 0;
}

/* DEFLATE compression */

static int cmr_deflate_init(struct cmr_zdef *z, void *work, u32 frame,
			    u32 level)
{
	int wbits = frame == CMR_COMPUTE_FRAME_ZLIB ? MAX_WBITS : -MAX_WBITS;

	memset(z, 0, sizeof(*z));
	z->zs.workspace = work;
	z->frame = frame;
	z->level = level ? level : Z_DEFAULT_COMPRESSION;
	if (zlib_deflateInit2(&z->zs, z->level, Z_DEFLATED, wbits,
			      DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		return -EINVAL;
	return 0;
}

/* RFC 1952 member header: no name, no time, OS Unix. */
static void cmr_gzip_header(u8 *out, int level)
{
	static const u8 hdr[CMR_GZIP_HDR_LEN] = {
		0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3
	};

	memcpy(out, hdr, sizeof(hdr));
	/* XFL: 2 = slowest algorithm, 4 = fastest, as gzip writes it */
	if (level == Z_BEST_COMPRESSION)
		out[8] = 2;
	else if (level == Z_BEST_SPEED)
		out[8] = 4;
}

/*
 * Consume all of r's input; end: finish the stream (and reset it).  A
 * stream that fills its WR's destination continues into its spill buffer;
 * the next WR receives the spilled output first.
 */
static int cmr_deflate_step(struct cmr_zdef *z, struct cmr_run *r, bool end)
{
	bool gzip = z->frame == CMR_COMPUTE_FRAME_GZIP;
	z_stream *zs = &z->zs;
	u32 in_off = 0, out_off = 0;
	bool spilling;

	if (z->spill_len) {
		out_off = min(z->spill_len, r->dst_cap);
		memcpy(r->dst, z->spill, out_off);
		z->spill_len -= out_off;
		memmove(z->spill, z->spill + out_off, z->spill_len);
	}
	if (!z->started) {
		if (gzip) {
			/* A new stream: nothing is spilled. */
			if (r->dst_cap - out_off >= CMR_GZIP_HDR_LEN) {
				cmr_gzip_header(r->dst + out_off, z->level);
				out_off += CMR_GZIP_HDR_LEN;
			} else if (z->spill && !end) {
				cmr_gzip_header(z->spill, z->level);
				z->spill_len = CMR_GZIP_HDR_LEN;
			} else {
				return CMR_VERR_DST_TOO_SMALL;
			}
		}
		z->started = true;
	}
	/* Still spilled output: dst is full and new output queues behind. */
	spilling = z->spill_len;
	if (spilling && end)
		return CMR_VERR_DST_TOO_SMALL;
	if (spilling) {
		zs->next_out = z->spill + z->spill_len;
		zs->avail_out = CMR_DEFLATE_SPILL - z->spill_len;
	} else {
		zs->next_out = r->dst + out_off;
		zs->avail_out = r->dst_cap - out_off;
	}

	for (;;) {
		u32 n = min(r->src_len - in_off, CMR_COMPUTE_CHUNK);
		bool last = in_off + n == r->src_len;
		int flush = end && last ? Z_FINISH : Z_NO_FLUSH;
		u32 out_before = zs->avail_out;
		u32 used;
		int ret;

		zs->next_in = r->src + in_off;
		zs->avail_in = n;
		ret = zlib_deflate(zs, flush);
		used = n - zs->avail_in;
		if (gzip)
			z->crc = cmr_crc32(z->crc, r->src + in_off, used);
		in_off += used;

		if (ret == Z_STREAM_END)
			break;
		/* Z_BUF_ERROR only says that no progress was possible. */
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			return -EIO;
		if (flush == Z_NO_FLUSH && last && !zs->avail_in)
			break;		/* zlib may hold output back */
		if (!zs->avail_out) {
			if (spilling || end || !z->spill)
				return CMR_VERR_DST_TOO_SMALL;
			out_off = r->dst_cap;
			spilling = true;
			zs->next_out = z->spill;
			zs->avail_out = CMR_DEFLATE_SPILL;
			continue;
		}
		if (!used && zs->avail_out == out_before)
			return -EIO;
		cond_resched();
	}

	if (spilling) {
		z->spill_len = zs->next_out - z->spill;
		r->produced = out_off;
		return 0;
	}
	if (end && gzip) {
		if (zs->avail_out < CMR_GZIP_TRAILER_LEN)
			return CMR_VERR_DST_TOO_SMALL;
		put_unaligned_le32(z->crc, zs->next_out);
		put_unaligned_le32((u32)zs->total_in, zs->next_out + 4);
		zs->next_out += CMR_GZIP_TRAILER_LEN;
	}
	r->produced = zs->next_out - r->dst;
	if (end) {
		z->started = false;
		z->crc = 0;
		zlib_deflateReset(zs);
	}
	return 0;
}

/* DEFLATE decompression */

enum cmr_gz_field {
	CMR_GZ_ID1,
	CMR_GZ_ID2,
	CMR_GZ_CM,
	CMR_GZ_FLG,
	CMR_GZ_MTIME,
	CMR_GZ_XFL,
	CMR_GZ_OS,
	CMR_GZ_XLEN,
	CMR_GZ_EXTRA,
	CMR_GZ_NAME,
	CMR_GZ_COMMENT,
	CMR_GZ_HCRC,
	CMR_GZ_DONE,
};

enum {
	CMR_GZ_FHCRC = 0x02,
	CMR_GZ_FEXTRA = 0x04,
	CMR_GZ_FNAME = 0x08,
	CMR_GZ_FCOMMENT = 0x10,
	CMR_GZ_FRESERVED = 0xe0,
};

/* The optional field that follows field @done, per FLG. */
static u8 cmr_gz_next(const struct cmr_zinf *z, u8 done)
{
	if (done < CMR_GZ_XLEN && (z->hflags & CMR_GZ_FEXTRA))
		return CMR_GZ_XLEN;
	if (done < CMR_GZ_NAME && (z->hflags & CMR_GZ_FNAME))
		return CMR_GZ_NAME;
	if (done < CMR_GZ_COMMENT && (z->hflags & CMR_GZ_FCOMMENT))
		return CMR_GZ_COMMENT;
	if (done < CMR_GZ_HCRC && (z->hflags & CMR_GZ_FHCRC))
		return CMR_GZ_HCRC;
	return CMR_GZ_DONE;
}

/*
 * Parse a gzip member header a byte at a time, so that it may be split
 * across WRs anywhere.  1: complete, 0: all input consumed, -1: invalid.
 */
static int cmr_gz_header(struct cmr_zinf *z, const u8 **in, u32 *avail)
{
	while (*avail) {
		u8 c = **in;

		(*in)++;
		(*avail)--;
		if (z->hstate != CMR_GZ_HCRC)
			z->hcrc = cmr_crc32(z->hcrc, &c, 1);

		switch (z->hstate) {
		case CMR_GZ_ID1:
			if (c != 0x1f)
				return -1;
			z->hstate = CMR_GZ_ID2;
			break;
		case CMR_GZ_ID2:
			if (c != 0x8b)
				return -1;
			z->hstate = CMR_GZ_CM;
			break;
		case CMR_GZ_CM:
			if (c != Z_DEFLATED)
				return -1;
			z->hstate = CMR_GZ_FLG;
			break;
		case CMR_GZ_FLG:
			if (c & CMR_GZ_FRESERVED)
				return -1;
			z->hflags = c;
			z->hstate = CMR_GZ_MTIME;
			z->hcount = 4;
			break;
		case CMR_GZ_MTIME:
			if (!--z->hcount)
				z->hstate = CMR_GZ_XFL;
			break;
		case CMR_GZ_XFL:
			z->hstate = CMR_GZ_OS;
			break;
		case CMR_GZ_OS:
			z->hstate = cmr_gz_next(z, CMR_GZ_OS);
			z->hcount = 2;
			z->hval = 0;
			break;
		case CMR_GZ_XLEN:
			z->hval |= c << (z->hcount == 2 ? 0 : 8);
			if (--z->hcount)
				break;
			z->hcount = z->hval;
			z->hstate = z->hcount ? CMR_GZ_EXTRA :
				    cmr_gz_next(z, CMR_GZ_EXTRA);
			z->hval = 0;
			if (z->hstate == CMR_GZ_HCRC)
				z->hcount = 2;
			break;
		case CMR_GZ_EXTRA:
			if (--z->hcount)
				break;
			z->hstate = cmr_gz_next(z, CMR_GZ_EXTRA);
			z->hcount = 2;
			break;
		case CMR_GZ_NAME:
		case CMR_GZ_COMMENT:
			if (c)
				break;
			z->hstate = cmr_gz_next(z, z->hstate);
			z->hcount = 2;
			z->hval = 0;
			break;
		case CMR_GZ_HCRC:
			z->hval |= c << (z->hcount == 2 ? 0 : 8);
			if (--z->hcount)
				break;
			if (z->hval != (z->hcrc & 0xffff))
				return -1;
			z->hstate = CMR_GZ_DONE;
			break;
		default:
			return -1;
		}
		if (z->hstate == CMR_GZ_DONE)
			return 1;
	}
	return 0;
}

/* Ready for a new stream, or for the next gzip member. */
static void cmr_inflate_restart(struct cmr_zinf *z)
{
	bool gzip = z->frame == CMR_COMPUTE_FRAME_GZIP;

	zlib_inflateReset(&z->zs);
	z->phase = gzip ? CMR_ZINF_HEADER : CMR_ZINF_BODY;
	z->hstate = CMR_GZ_ID1;
	z->hflags = 0;
	z->hcount = 0;
	z->hval = 0;
	z->hcrc = 0;
	z->crc = 0;
	z->isize = 0;
	z->tlen = 0;
}

static int cmr_inflate_init(struct cmr_zinf *z, void *work, u32 frame)
{
	int wbits = frame == CMR_COMPUTE_FRAME_ZLIB ? MAX_WBITS : -MAX_WBITS;

	memset(z, 0, sizeof(*z));
	z->zs.workspace = work;
	z->frame = frame;
	if (zlib_inflateInit2(&z->zs, wbits) != Z_OK)
		return -EINVAL;
	cmr_inflate_restart(z);
	return 0;
}

/*
 * Consume all of r's input.  end: the compressed stream must be complete
 * at the end of this input.  Sets *at_end if it is.
 */
static int cmr_inflate_step(struct cmr_zinf *z, struct cmr_run *r, bool end,
			    bool *at_end)
{
	bool gzip = z->frame == CMR_COMPUTE_FRAME_GZIP;
	z_stream *zs = &z->zs;
	const u8 *in = r->src;
	u32 avail = r->src_len;

	zs->next_out = r->dst;
	zs->avail_out = r->dst_cap;

	for (;;) {
		u32 n, used, made, out_before;
		u8 *out;
		int ret;

		switch (z->phase) {
		case CMR_ZINF_HEADER:
			if (!avail)
				goto out_of_input;
			z->any_input = true;
			ret = cmr_gz_header(z, &in, &avail);
			if (ret < 0)
				return CMR_VERR_CORRUPT_INPUT;
			if (!ret)
				goto out_of_input;
			z->phase = CMR_ZINF_BODY;
			break;

		case CMR_ZINF_BODY:
			/* Called even without input: output may be pending. */
			n = min(avail, CMR_COMPUTE_CHUNK);
			if (n)
				z->any_input = true;
			zs->next_in = in;
			zs->avail_in = n;
			out = zs->next_out;
			out_before = zs->avail_out;
			ret = zlib_inflate(zs, Z_SYNC_FLUSH);
			used = n - zs->avail_in;
			made = zs->next_out - out;
			in += used;
			avail -= used;
			if (gzip) {
				z->crc = cmr_crc32(z->crc, out, made);
				z->isize += made;
			}
			if (ret == Z_STREAM_END) {
				z->phase = gzip ? CMR_ZINF_TRAILER :
					  CMR_ZINF_DONE;
				break;
			}
			if (ret != Z_OK && ret != Z_BUF_ERROR)
				return CMR_VERR_CORRUPT_INPUT;
			if (!avail)
				goto out_of_input;
			/*
			 * A full destination with this chunk consumed is not
			 * yet too small: what is left (zlib's Adler-32, an
			 * end-of-block code) may need no room.
			 */
			if (!zs->avail_out && zs->avail_in)
				return CMR_VERR_DST_TOO_SMALL;
			if (!used && zs->avail_out == out_before)
				return zs->avail_out ? CMR_VERR_CORRUPT_INPUT :
						       CMR_VERR_DST_TOO_SMALL;
			cond_resched();
			break;

		case CMR_ZINF_TRAILER:
			if (!avail)
				goto out_of_input;
			n = min_t(u32, avail, CMR_GZIP_TRAILER_LEN - z->tlen);
			memcpy(z->trailer + z->tlen, in, n);
			z->tlen += n;
			in += n;
			avail -= n;
			if (z->tlen < CMR_GZIP_TRAILER_LEN)
				goto out_of_input;
			if (get_unaligned_le32(z->trailer) != z->crc ||
			    get_unaligned_le32(z->trailer + 4) != z->isize)
				return CMR_VERR_CORRUPT_INPUT;
			z->phase = CMR_ZINF_DONE;
			break;

		case CMR_ZINF_DONE:
			if (!avail)
				goto out_of_input;
			/* Only gzip may continue: with another member. */
			if (!gzip)
				return CMR_VERR_CORRUPT_INPUT;
			cmr_inflate_restart(z);
			break;
		}
	}

out_of_input:
	r->produced = zs->next_out - r->dst;
	*at_end = z->phase == CMR_ZINF_DONE;
	if (end && !*at_end) {
		/* Output full: more may be pending rather than missing. */
		if (z->phase == CMR_ZINF_BODY && !zs->avail_out &&
		    z->any_input)
			return CMR_VERR_DST_TOO_SMALL;
		return CMR_VERR_CORRUPT_INPUT;
	}
	return 0;
}

/* A checksum of the whole source, in chunks: it may be 4 MiB. */
static u32 cmr_src_sum(const struct cmr_run *r,
		       u32 (*sum)(u32 seed, const void *buf, size_t len),
		       u32 seed)
{
	u32 off, n;

	for (off = 0; off < r->src_len; off += n) {
		n = min(r->src_len - off, 8 * CMR_COMPUTE_CHUNK);
		seed = sum(seed, r->src + off, n);
		cond_resched();
	}
	return seed;
}

/* One-shot compression on the engine's driver, framed here. */
static int cmr_deflate_driver(struct cmr_run *r, u32 frame)
{
	u32 hdr = 0, trailer = 0, n;
	u8 *end;
	int err;

	if (frame == CMR_COMPUTE_FRAME_ZLIB) {
		hdr = CMR_ZLIB_HDR_LEN;
		trailer = CMR_ZLIB_TRAILER_LEN;
	} else if (frame == CMR_COMPUTE_FRAME_GZIP) {
		hdr = CMR_GZIP_HDR_LEN;
		trailer = CMR_GZIP_TRAILER_LEN;
	}
	if (r->dst_cap <= hdr + trailer)
		return -ENOSPC;
	err = cmr_crypto_acomp(r, CMR_BE_DEFLATE, r->dst + hdr,
			       r->dst_cap - hdr - trailer, &n);
	if (err)
		return err;
	end = r->dst + hdr + n;
	if (frame == CMR_COMPUTE_FRAME_ZLIB) {
		/* RFC 1950: a window of up to 32 KiB, the default level */
		r->dst[0] = 0x78;
		r->dst[1] = 0x9c;
		put_unaligned_be32(cmr_src_sum(r, cmr_adler32, 1), end);
	} else if (frame == CMR_COMPUTE_FRAME_GZIP) {
		cmr_gzip_header(r->dst, Z_DEFAULT_COMPRESSION);
		put_unaligned_le32(cmr_src_sum(r, cmr_crc32, 0), end);
		put_unaligned_le32(r->src_len, end + 4);
	}
	r->produced = hdr + n + trailer;
	return 0;
}

static int cmr_deflate_oneshot(struct cmr_run *r, u32 frame)
{
	struct cmr_compute_ws *ws = r->ws;
	bool at_end;
	int err;

	if (r->p->dir == CMR_DIR_FORWARD) {
		if (cmr_driver_may_serve(r) && !cmr_deflate_driver(r, frame))
			return 0;
		if (!ws->zdef_work) {
			ws->zdef_work = cmr_deflate_work_alloc();
			if (!ws->zdef_work)
				return -ENOMEM;
		}
		err = cmr_deflate_init(&ws->zdef, ws->zdef_work, frame,
				       r->p->level);
		if (err)
			return err;
		return cmr_deflate_step(&ws->zdef, r, true);
	}

	if (!ws->zinf_work) {
		ws->zinf_work = cmr_work_alloc(zlib_inflate_workspacesize());
		if (!ws->zinf_work)
			return -ENOMEM;
	}
	err = cmr_inflate_init(&ws->zinf, ws->zinf_work, frame);
	if (err)
		return err;
	return cmr_inflate_step(&ws->zinf, r, true, &at_end);
}

int cmr_comp_deflate(struct cmr_run *r)
{
	struct cmr_stream *s = r->stream;
	bool end = r->p->flags & CMR_COMPUTE_STREAM_END;
	bool at_end = false;
	int ret;

	if (!s)
		return cmr_deflate_oneshot(r,
					   r->p->flags & CMR_COMPUTE_FRAME_MASK);

	if (s->dir == CMR_DIR_FORWARD) {
		ret = cmr_deflate_step(&s->zdef, r, end);
		at_end = end;
	} else {
		ret = cmr_inflate_step(&s->zinf, r, end, &at_end);
		if (!ret && end) {
			cmr_inflate_restart(&s->zinf);
			s->zinf.any_input = false;
		}
	}
	if (!ret && at_end)
		r->result[0] |= CMR_COMPUTE_RESULT_END;
	return ret;
}

/* LZ4 */

int cmr_comp_lz4(struct cmr_run *r)
{
	struct cmr_compute_ws *ws = r->ws;
	int cap = min_t(u32, r->dst_cap, INT_MAX);
	int n;

	if (r->p->dir == CMR_DIR_FORWARD) {
		if (r->src_len > LZ4_MAX_INPUT_SIZE)
			return CMR_VERR_BAD_PARAM;
		if (cmr_driver_may_serve(r) &&
		    !cmr_crypto_acomp(r, CMR_BE_LZ4, r->dst, r->dst_cap,
				      &r->produced))
			return 0;
		if (!ws->lz4_work) {
			ws->lz4_work = cmr_work_alloc(LZ4_MEM_COMPRESS);
			if (!ws->lz4_work)
				return -ENOMEM;
		}
		n = LZ4_compress_default(r->src, r->dst, r->src_len, cap,
					 ws->lz4_work);
		if (n <= 0)
			return CMR_VERR_DST_TOO_SMALL;
		r->produced = n;
		return 0;
	}

	if (r->src_len > INT_MAX)
		return CMR_VERR_CORRUPT_INPUT;
	if (!cmr_crypto_acomp(r, CMR_BE_LZ4, r->dst, r->dst_cap, &r->produced))
		return 0;
	n = LZ4_decompress_safe(r->src, r->dst, r->src_len, cap);
	if (n >= 0) {
		r->produced = n;
		return 0;
	}
	/*
	 * The block format cannot tell a short destination from corrupt
	 * input.  If the block decodes validly up to the whole destination,
	 * the destination is what is missing.
	 */
	if (cap && LZ4_decompress_safe_partial(r->src, r->dst, r->src_len,
					       cap, cap) == cap)
		return CMR_VERR_DST_TOO_SMALL;
	/*
	 * With no destination at all: a block whose first sequence has
	 * literals or a match (token not 0) has output to write.
	 */
	if (!cap && r->src_len > 1 && ((const u8 *)r->src)[0])
		return CMR_VERR_DST_TOO_SMALL;
	return CMR_VERR_CORRUPT_INPUT;
}

/* ZSTD */

static zstd_parameters cmr_zstd_params(u32 level, unsigned long long size)
{
	zstd_parameters params;

	params = zstd_get_params(level ? level : CMR_ZSTD_DEFAULT_LEVEL, size);
	params.fParams.checksumFlag = 1;
	return params;
}

static int cmr_zstd_cverr(size_t ret)
{
	if (zstd_get_error_code(ret) == ZSTD_error_dstSize_tooSmall)
		return CMR_VERR_DST_TOO_SMALL;
	return -EIO;		/* compression fails only for lack of room */
}

/* Compress all of r's input; end: finish the frame. */
static int cmr_zstd_cstep(zstd_cstream *cs, struct cmr_run *r, bool end)
{
	zstd_in_buffer in = { .src = r->src, .size = 0, .pos = 0 };
	zstd_out_buffer out = { .dst = r->dst, .size = r->dst_cap, .pos = 0 };
	size_t ret, pos, opos;

	while (in.pos < r->src_len) {
		pos = in.pos;
		opos = out.pos;
		in.size = min_t(size_t, r->src_len, in.pos + CMR_COMPUTE_CHUNK);
		ret = zstd_compress_stream(cs, &out, &in);
		if (zstd_is_error(ret))
			return cmr_zstd_cverr(ret);
		if (in.pos == pos && out.pos == opos)
			return out.pos == out.size ? CMR_VERR_DST_TOO_SMALL :
						     -EIO;
		cond_resched();
	}
	if (end) {
		do {
			opos = out.pos;
			ret = zstd_end_stream(cs, &out);
			if (zstd_is_error(ret))
				return cmr_zstd_cverr(ret);
			if (ret && out.pos == opos)
				return out.pos == out.size ?
				       CMR_VERR_DST_TOO_SMALL : -EIO;
		} while (ret);
	}
	r->produced = out.pos;
	return 0;
}

/* Decompress all of r's input; end: the last frame must be complete. */
static int cmr_zstd_dstep(struct cmr_zstd *z, struct cmr_run *r, bool end)
{
	zstd_in_buffer in = { .src = r->src, .size = 0, .pos = 0 };
	zstd_out_buffer out = { .dst = r->dst, .size = r->dst_cap, .pos = 0 };
	size_t ret, pos, opos;

	while (in.pos < r->src_len) {
		pos = in.pos;
		opos = out.pos;
		in.size = min_t(size_t, r->src_len, in.pos + CMR_COMPUTE_CHUNK);
		ret = zstd_decompress_stream(z->ds, &out, &in);
		if (zstd_is_error(ret))
			return CMR_VERR_CORRUPT_INPUT;
		z->any_input = true;
		/* 0: a frame is complete and flushed; the next may follow. */
		z->frame_open = ret != 0;
		if (in.pos == pos && out.pos == opos)
			return out.pos == out.size ? CMR_VERR_DST_TOO_SMALL :
						     CMR_VERR_CORRUPT_INPUT;
		cond_resched();
	}
	/* Without new input: flush what the decoder still holds. */
	while (end && z->frame_open) {
		opos = out.pos;
		ret = zstd_decompress_stream(z->ds, &out, &in);
		if (zstd_is_error(ret))
			return CMR_VERR_CORRUPT_INPUT;
		z->frame_open = ret != 0;
		if (z->frame_open && out.pos == opos)
			return out.pos == out.size ? CMR_VERR_DST_TOO_SMALL :
						     CMR_VERR_CORRUPT_INPUT;
	}
	r->produced = out.pos;
	if (end && !z->any_input)
		return CMR_VERR_CORRUPT_INPUT;
	return 0;
}

/* Make ws->zstd_cwork at least @size bytes. */
static int cmr_zstd_cwork(struct cmr_compute_ws *ws, size_t size)
{
	if (ws->zstd_cwork_size >= size)
		return 0;
	kvfree(ws->zstd_cwork);
	ws->zcctx = NULL;
	ws->zstd_cwork_size = 0;
	ws->zstd_cwork = cmr_work_alloc(size);
	if (!ws->zstd_cwork)
		return -ENOMEM;
	ws->zstd_cwork_size = size;
	return 0;
}

static int cmr_zstd_oneshot(struct cmr_run *r)
{
	struct cmr_compute_ws *ws = r->ws;
	zstd_parameters params;
	zstd_cstream *cs;
	size_t ret, size;
	int err;

	if (r->p->dir == CMR_DIR_INVERSE) {
		if (!r->src_len)
			return CMR_VERR_CORRUPT_INPUT;	/* not even a frame */
		if (!cmr_crypto_acomp(r, CMR_BE_ZSTD, r->dst, r->dst_cap,
				      &r->produced))
			return 0;
		if (!ws->zdctx) {
			size = zstd_dctx_workspace_bound();
			if (!ws->zstd_dwork)
				ws->zstd_dwork = cmr_work_alloc(size);
			if (!ws->zstd_dwork)
				return -ENOMEM;
			ws->zdctx = zstd_init_dctx(ws->zstd_dwork, size);
			if (!ws->zdctx)
				return -EINVAL;
		}
		ret = zstd_decompress_dctx(ws->zdctx, r->dst, r->dst_cap,
					   r->src, r->src_len);
		if (zstd_is_error(ret))
			return zstd_get_error_code(ret) ==
			       ZSTD_error_dstSize_tooSmall ?
			       CMR_VERR_DST_TOO_SMALL : CMR_VERR_CORRUPT_INPUT;
		r->produced = ret;
		return 0;
	}

	/*
	 * Parameters (and workspace) fitted to the input size.  An input of
	 * one chunk is compressed in one call into a static CCtx; larger ones
	 * go through the streaming API, which reschedules between chunks.
	 */
	if (cmr_driver_may_serve(r) &&
	    !cmr_crypto_acomp(r, CMR_BE_ZSTD, r->dst, r->dst_cap, &r->produced))
		return 0;
	params = cmr_zstd_params(r->p->level, max(r->src_len, 1U));
	if (r->src_len <= CMR_COMPUTE_CHUNK) {
		size = zstd_cctx_workspace_bound(&params.cParams);
		err = cmr_zstd_cwork(ws, size);
		if (err)
			return err;
		if (!ws->zcctx)
			ws->zcctx = zstd_init_cctx(ws->zstd_cwork,
						   ws->zstd_cwork_size);
		if (!ws->zcctx)
			return -EINVAL;
		ret = zstd_compress_cctx(ws->zcctx, r->dst, r->dst_cap,
					 r->src, r->src_len, &params);
		if (zstd_is_error(ret))
			return cmr_zstd_cverr(ret);
		r->produced = ret;
		return 0;
	}

	size = zstd_cstream_workspace_bound(&params.cParams);
	err = cmr_zstd_cwork(ws, size);
	if (err)
		return err;
	ws->zcctx = NULL;	/* the workspace now holds a CStream */
	cs = zstd_init_cstream(&params, r->src_len, ws->zstd_cwork,
			       ws->zstd_cwork_size);
	if (!cs)
		return -EINVAL;
	return cmr_zstd_cstep(cs, r, true);
}

int cmr_comp_zstd(struct cmr_run *r)
{
	struct cmr_stream *s = r->stream;
	bool end = r->p->flags & CMR_COMPUTE_STREAM_END;
	int ret;

	if (!s)
		return cmr_zstd_oneshot(r);

	if (s->dir == CMR_DIR_FORWARD) {
		ret = cmr_zstd_cstep(s->zstd.cs, r, end);
		if (!ret && end && zstd_is_error(zstd_reset_cstream(s->zstd.cs,
								    0)))
			ret = -EIO;
		if (!ret && end)
			r->result[0] |= CMR_COMPUTE_RESULT_END;
		return ret;
	}

	ret = cmr_zstd_dstep(&s->zstd, r, end);
	if (ret)
		return ret;
	if (s->zstd.any_input && !s->zstd.frame_open)
		r->result[0] |= CMR_COMPUTE_RESULT_END;
	if (end) {
		zstd_reset_dstream(s->zstd.ds);
		s->zstd.any_input = false;
	}
	return 0;
}

/* Streams */

int cmr_comp_stream_init(struct cmr_stream *s)
{
	zstd_parameters params;
	size_t size;
	int err;

	switch (s->alg) {
	case CMR_ALG_DEFLATE:
		if (s->dir == CMR_DIR_FORWARD) {
			s->work = cmr_deflate_work_alloc();
			if (!s->work)
				return -ENOMEM;
			err = cmr_deflate_init(&s->zdef, s->work, s->frame,
					       s->level);
			if (err)
				return err;
			s->zdef.spill = cmr_work_alloc(CMR_DEFLATE_SPILL);
			return s->zdef.spill ? 0 : -ENOMEM;
		}
		s->work = cmr_work_alloc(zlib_inflate_workspacesize());
		if (!s->work)
			return -ENOMEM;
		return cmr_inflate_init(&s->zinf, s->work, s->frame);

	case CMR_ALG_ZSTD:
		if (s->dir == CMR_DIR_FORWARD) {
			/* Size unknown: the level's full parameters. */
			params = cmr_zstd_params(s->level, 0);
			size = zstd_cstream_workspace_bound(&params.cParams);
			s->work = cmr_work_alloc(size);
			if (!s->work)
				return -ENOMEM;
			s->zstd.cs = zstd_init_cstream(&params, 0, s->work,
						       size);
			return s->zstd.cs ? 0 : -EINVAL;
		}
		size = zstd_dstream_workspace_bound(1U <<
						    CMR_ZSTD_MAX_WINDOW_LOG);
		s->work = cmr_work_alloc(size);
		if (!s->work)
			return -ENOMEM;
		/*
		 * A static DStream cannot grow: a frame whose window does
		 * not fit fails cleanly (CORRUPT_INPUT).
		 */
		s->zstd.ds = zstd_init_dstream(1U << CMR_ZSTD_MAX_WINDOW_LOG,
					       s->work, size);
		return s->zstd.ds ? 0 : -EINVAL;

	case CMR_ALG_LZ4:
		return -EOPNOTSUPP;
	default:
		return -EINVAL;
	}
}

void cmr_comp_stream_fini(struct cmr_stream *s)
{
	if (s->alg == CMR_ALG_DEFLATE && s->dir == CMR_DIR_FORWARD)
		kvfree(s->zdef.spill);
	kvfree(s->work);
	s->work = NULL;
}

void cmr_comp_ws_fini(struct cmr_compute_ws *ws)
{
	kvfree(ws->zdef_work);
	kvfree(ws->zinf_work);
	kvfree(ws->zstd_cwork);
	kvfree(ws->zstd_dwork);
	kvfree(ws->lz4_work);
}
