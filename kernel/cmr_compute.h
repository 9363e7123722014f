/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cmr: the engine's interface to the compute backends (CMR_OP_COMPUTE).
 *
 * The engine gathers a WR's source SGEs into a linear kernel buffer, calls
 * cmr_compute_run() and scatters what it produced into the destination
 * SGEs.  Buffers may come from kmalloc or vmalloc; source and destination
 * must not overlap.  Everything here may sleep (process context).
 *
 * Objects
 *   struct cmr_key       a crypto/HMAC key: the tfm is allocated and keyed
 *                        once at creation; the material itself is never
 *                        stored (the caller zeroes its own copy) and
 *                        cannot be read back.  Immutable afterwards: any
 *                        number of contexts may use one key concurrently.
 *   struct cmr_stream    compressor/decompressor state carried across WRs
 *                        (DEFLATE and ZSTD; LZ4 streams are -EOPNOTSUPP).
 *                        WRs on one stream are serialised by the stream.
 *   struct cmr_compute_ws  per execution context (one per QP) scratch:
 *                        codec workspaces and crypto request memory,
 *                        allocated on first use and kept.  The caller runs
 *                        one WR at a time per ws.
 * The caller destroys a key, stream or ws only when no cmr_compute_run()
 * uses it.
 *
 * cmr_compute_run() returns 0, a positive enum cmr_compute_verr, or a
 * negative errno for a failure of the kernel rather than of the WR:
 * -ENOMEM growing a ws, -EIO and friends from a crypto driver or a
 * codec (crypto buffers are kmalloc, vmalloc or page_address() memory).
 * Complete such a WR with IBV_WC_GENERAL_ERR.  *produced is the number
 * of bytes written to dst (0 on error); result[] is always written:
 * the digest, the CRC as a little-endian u32, CMR_COMPUTE_RESULT_* flags
 * for stream WRs, zeroes otherwise.  dst is never written beyond dst_cap.
 *
 * Semantics per algorithm (dir FORWARD / INVERSE):
 *   MEMCPY     forward only: copy; dst_cap < src_len: DST_TOO_SMALL.
 *   DEFLATE    RFC 1951 raw, RFC 1950 zlib or RFC 1952 gzip framing
 *              (flags & CMR_COMPUTE_FRAME_MASK), level 1-9 (0: 6), via
 *              lib/zlib.  A one-shot WR produces or consumes one complete
 *              stream; gzip input may hold several members.  Trailing
 *              bytes after the end, a bad header, check or trailer:
 *              CORRUPT_INPUT.
 *   LZ4        block format (LZ4_compress_default, LZ4_decompress_safe);
 *              the level is ignored.
 *   ZSTD       zstd frames with a content checksum, level 1-19 (0: 3);
 *              the inverse accepts concatenated and skippable frames, and
 *              windows up to CMR_ZSTD_MAX_WINDOW_LOG in streams.
 *   AES_GCM    key 16/32 bytes, 12-byte IV in p->iv; the source is
 *              AAD (p->aad_len bytes) || text.  Forward writes
 *              ciphertext || 16-byte tag; inverse takes AAD || ciphertext
 *              || tag and writes the plaintext, or zeroes what it wrote
 *              and returns AUTH_FAILED.  aad_len > src_len: BAD_PARAM;
 *              inverse text shorter than a tag: CORRUPT_INPUT.
 *   AES_XTS    key 32/64 bytes (two distinct AES keys); data units of
 *              p->data_unit_size bytes (0: the whole buffer is one unit),
 *              unit i uses the tweak p->iv + i (128-bit little-endian),
 *              as IEEE P1619 with the data unit number as tweak.  Lengths
 *              below 16 or not a multiple of the unit: BAD_PARAM.
 *   SHA256, HMAC_SHA256 (key 1-256 bytes), CRC32 (zlib's crc32()),
 *   CRC32C (iSCSI): forward only; the value goes to result[].  With a
 *              destination (dst_cap > 0) it is also written there
 *              (32 or 4 bytes; smaller: DST_TOO_SMALL) and *produced is
 *              its size; without one *produced is 0.
 * A key is required exactly by AES_GCM, AES_XTS and HMAC_SHA256 (missing
 * or of another algorithm: BAD_KEY); a stream is allowed for DEFLATE and
 * ZSTD only and must match the WR's alg, dir and framing (else BAD_STREAM).
 * Unknown alg, dir or flag bits, a level out of range, aad_len or
 * data_unit_size for other algorithms: BAD_PARAM.  Algorithms the kernel
 * cannot provide (crypto module missing): UNSUPPORTED.
 *
 * Streams: each WR consumes all of its input.  Compression output may lag
 * the input: what a WR's destination has no room for is kept (DEFLATE: up
 * to 128 KiB in the stream; ZSTD: in the codec's block buffers) and is
 * delivered first by later WRs; beyond that the WR fails with
 * DST_TOO_SMALL.  The WR with CMR_COMPUTE_STREAM_END must have room for
 * everything still held, the flush and the trailer (gzip: CRC32 and
 * ISIZE).  Decompression accepts input split at any byte, but each WR's
 * output must fit in its destination.  A WR that leaves the compressed
 * stream complete reports CMR_COMPUTE_RESULT_END; a STREAM_END WR fails
 * with CORRUPT_INPUT if it is incomplete.  After a successful STREAM_END
 * WR the stream starts afresh with the next WR.  After any error the
 * stream is dead: further WRs return STREAM_FAILED until it is destroyed.
 * Memory per stream: DEFLATE about 400 KiB compressing, 50 KiB
 * decompressing; ZSTD compression grows with the level (about 1.3 MiB at
 * level 1, 3.5 MiB at 3, 17 MiB at 9, 90 MiB at 19), ZSTD decompression
 * about 8.5 MiB.  Workspaces of one-shot WRs live in the ws and grow
 * likewise.  All of it is charged to the memory cgroup of the allocating
 * task.
 *
 * Backends: every algorithm served through the crypto API is allocated by
 * its generic name ("gcm(aes)", "xts(aes)", "sha256", "hmac(sha256)",
 * "crc32", "crc32c"), so the highest-priority implementation serves it,
 * a hardware engine included.  The administrator can pin a driver with
 * the module parameters gcm_aes_driver, xts_aes_driver, sha256_driver,
 * hmac_sha256_driver, crc32_driver and crc32c_driver (at load time or
 * through /sys/module/cmr/parameters/, e.g. gcm_aes_driver=
 * "gcm_base(ctr(aes-generic),ghash-generic)"; empty restores the default).
 * A value is accepted only if it names an implementation of that
 * algorithm; it applies to keys and workspaces created afterwards.
 * cmr_compute_backends_show() prints one "algorithm backend" line per
 * algorithm: the driver most recently allocated for it.
 *
 * debugfs (cmr/bench): write "ALG DIR SIZE ITERATIONS [level=N] [unit=N]
 * [aad=N] [data=text|perf]" (ALG memcpy, deflate, zlib, gzip, lz4, zstd,
 * aes-gcm, aes-xts, sha256, hmac-sha256, crc32, crc32c; DIR fwd or inv;
 * SIZE the plain size; data=perf: the test data of examples/cmr-perf.c,
 * since codecs' speed depends on the data) to run cmr_compute_run() back
 * to back on kernel buffers; read the result ("... ns_per_op=N MBps=N",
 * MB = 10^6 bytes of plain data).
 */
#ifndef CMR_COMPUTE_H
#define CMR_COMPUTE_H

#include <linux/types.h>
#include <rdma/cmr-abi.h>

struct cmr_key;
struct cmr_stream;
struct cmr_compute_ws;

/*
 * CMR_COMPUTE_RESULT_END (cmr-abi.h) in result[0] of a stream WR:
 * compression: the STREAM_END WR finished the stream; decompression: the
 * input so far forms complete streams, gzip members or zstd frames.
 */

#define CMR_COMPUTE_RESULT_LEN	32
#define CMR_ZSTD_MAX_WINDOW_LOG	23	/* 8 MiB: every level up to 19 */

/* Module load and unload: the debugfs files; drivers are probed lazily. */
int cmr_compute_init(void);
void cmr_compute_exit(void);

/* ERR_PTR(-EINVAL) on a bad algorithm or key length. */
struct cmr_key *cmr_key_create(enum cmr_compute_alg alg, const void *material,
			       u32 len);
void cmr_key_destroy(struct cmr_key *key);

/* ERR_PTR(-EINVAL) on bad arguments, -EOPNOTSUPP for LZ4. */
struct cmr_stream *cmr_stream_create(enum cmr_compute_alg alg,
				     enum cmr_compute_dir dir, u32 level,
				     u32 flags);
void cmr_stream_destroy(struct cmr_stream *stream);
/* Later WRs fail with BAD_STREAM: the caller lost a WR's output. */
void cmr_stream_kill(struct cmr_stream *stream);

struct cmr_compute_ws *cmr_compute_ws_alloc(void);
void cmr_compute_ws_free(struct cmr_compute_ws *ws);

int cmr_compute_run(struct cmr_compute_ws *ws,
		    const struct cmr_compute_params *p, struct cmr_key *key,
		    struct cmr_stream *stream, const void *src, u32 src_len,
		    void *dst, u32 dst_cap, u32 *produced,
		    u8 result[CMR_COMPUTE_RESULT_LEN]);

/* For a sysfs attribute: "algorithm backend\n" per algorithm. */
ssize_t cmr_compute_backends_show(char *buf);

/*
 * num_algs and alg[] of the QUERY_COMPUTE answer; probes the crypto API
 * (may load modules).
 */
void cmr_compute_query_caps(struct cmr_compute_caps *caps);

#endif /* CMR_COMPUTE_H */
