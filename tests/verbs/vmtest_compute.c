// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Compute WRs against independent implementations: published vectors
 * (NIST/McGrew-Viega GCM, FIPS 180-2 SHA-256, RFC 4231 HMAC, CRC check
 * values), OpenSSL (GCM, XTS, SHA-256, HMAC), zlib, liblz4 and libzstd in
 * both directions, random inputs of random sizes (0 B to 1 MiB + 3,
 * incompressible and highly compressible), destinations of exactly the
 * decompressed size, streams split at random points,
 * pinned, explicit ODP and implicit ODP MRs; a compress -> encrypt ->
 * RDMA WRITE chain in one batch; then every compute error status: data
 * errors (destination too small, corrupt input, authentication failure,
 * a WR on a stream that failed) and malformed WRs (wrong-algorithm key, bad lkey, MR bounds and access,
 * parameters against the data, oversize source, a key or stream destroyed
 * under a posted WR); last, long WRs: a batch of them must not hold up
 * deregistrations and destroys elsewhere, a destination deregistered
 * under one must fail it cleanly, and the longest WR the device takes
 * must leave the CPU to others on the way.
 */
#define _GNU_SOURCE
#include <lz4.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "cmr_example.h"
#include "vt.h"

#define MAX_IN ((1 << 20) + 3)
#define MAX_OUT (2 * MAX_IN + 4096)

enum mr_kind { PINNED, ODP, IMPLICIT, NUM_KINDS };
static const char *const kind_name[] = { "pinned", "ODP", "implicit ODP" };

static struct cmr_session s;
static uint8_t *src, *dst, *ref;
static struct ibv_mr *mrs[NUM_KINDS][2];	/* [kind][0 src, 1 dst] */
static enum mr_kind kind;
static unsigned int seed = 42;
static int checks;

struct op {
	enum cmrdv_alg alg;
	enum cmrdv_dir dir;
	uint32_t level, flags;
	struct cmrdv_key *key;
	struct cmrdv_stream *stream;
	struct cmrdv_crypto_attr ca;
};

/* Post one compute WR in[0..len) -> out[0..cap) and wait. */
static struct cmr_done run_at(const struct op *op, uint8_t *in, uint32_t len,
			      uint8_t *out, uint32_t cap)
{
	struct ibv_mr *in_mr = mrs[kind][in >= dst && in < dst + MAX_OUT];
	struct ibv_mr *out_mr = mrs[kind][out >= dst && out < dst + MAX_OUT];
	struct cmr_done d;

	ibv_wr_start(s.qpx);
	s.qpx->wr_id = ++checks;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	if (op->stream)
		cmrdv_wr_stream(s.dqp, op->stream, op->flags);
	else if (op->alg == CMRDV_ALG_MEMCPY)
		cmrdv_wr_memcpy(s.dqp);
	else if (op->alg <= CMRDV_ALG_ZSTD && op->dir == CMRDV_FORWARD)
		cmrdv_wr_compress(s.dqp, op->alg, op->level, op->flags);
	else if (op->alg <= CMRDV_ALG_ZSTD)
		cmrdv_wr_decompress(s.dqp, op->alg, op->flags);
	else if (op->alg <= CMRDV_ALG_AES_XTS && op->dir == CMRDV_FORWARD)
		cmrdv_wr_encrypt(s.dqp, op->key, &op->ca);
	else if (op->alg <= CMRDV_ALG_AES_XTS)
		cmrdv_wr_decrypt(s.dqp, op->key, &op->ca);
	else
		cmrdv_wr_digest(s.dqp, op->alg, op->key);
	ibv_wr_set_sge(s.qpx, in_mr->lkey, (uintptr_t)in, len);
	if (cap)
		cmrdv_wr_set_dst_sge(s.dqp, out_mr->lkey, (uintptr_t)out, cap);
	vt_check(!ibv_wr_complete(s.qpx), "ibv_wr_complete");
	cmr_session_wait(&s, &d);
	vt_check(d.wr_id == (uint64_t)checks, "completion order");
	return d;
}

/* Post one compute WR src[0..len) -> dst[0..cap) and wait. */
static struct cmr_done run(const struct op *op, uint32_t len, uint32_t cap)
{
	return run_at(op, src, len, dst, cap);
}

static struct cmr_done run_ok(const struct op *op, uint32_t len, uint32_t cap,
			      const char *what)
{
	struct cmr_done d = run(op, len, cap);

	vt_check(d.status == IBV_WC_SUCCESS, "%s (%s, %u B): %s", what,
		 kind_name[kind], len, cmr_done_error(&d));
	return d;
}

static void hex(uint8_t *out, const char *h)
{
	for (; *h; h += 2)
		sscanf(h, "%2hhx", out++);
}

static struct cmrdv_key *make_key(enum cmrdv_alg alg, const uint8_t *k,
				  uint32_t len)
{
	struct cmrdv_key_init_attr a = { .alg = alg, .material = k,
					 .length = len };
	struct cmrdv_key *key = cmrdv_create_key(s.pd, &a);

	vt_check(key, "cmrdv_create_key(%d, %u)", alg, len);
	return key;
}

/* Published vectors */

static void gcm_vectors(void)
{
	/* McGrew & Viega, GCM test cases 3, 4 and 16 (the NIST submission). */
	static const struct {
		const char *k, *a, *p, *c, *t;
	} v[] = {
		{ "feffe9928665731c6d6a8f9467308308", "",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
		  "4d5c2af327cd64a62cf35abd2ba6fab4" },
		{ "feffe9928665731c6d6a8f9467308308",
		  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		  "5bc94fbc3221a5db94fae95ae7121a47" },
		{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		  "76fc6ece0f4e1768cddf8853bb2d551b" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t k[32], want[80];
		uint32_t kl = strlen(v[i].k) / 2, al = strlen(v[i].a) / 2;
		uint32_t pl = strlen(v[i].p) / 2;
		struct op op = { .alg = CMRDV_ALG_AES_GCM };
		struct cmr_done d;

		hex(k, v[i].k);
		op.key = make_key(CMRDV_ALG_AES_GCM, k, kl);
		hex(op.ca.iv, "cafebabefacedbaddecaf888");
		op.ca.aad_len = al;
		hex(src, v[i].a);
		hex(src + al, v[i].p);
		hex(want, v[i].c);
		hex(want + pl, v[i].t);
		d = run_ok(&op, al + pl, pl + 16, "GCM vector");
		vt_check(d.byte_len == pl + 16 && !memcmp(dst, want, pl + 16),
			 "GCM test vector %zu mismatch", i);
		/* And back. */
		memcpy(src + al, want, pl + 16);
		op.dir = CMRDV_INVERSE;
		d = run_ok(&op, al + pl + 16, pl, "GCM vector decrypt");
		hex(want, v[i].p);
		vt_check(d.byte_len == pl && !memcmp(dst, want, pl),
			 "GCM vector %zu decrypt", i);
		cmrdv_destroy_key(op.key);
	}
}

static void digest_vectors(void)
{
	struct op op = { .alg = CMRDV_ALG_SHA256 };
	uint8_t want[32];
	struct cmr_done d;

	/* FIPS 180-2: SHA-256("abc") */
	memcpy(src, "abc", 3);
	d = run_ok(&op, 3, 0, "sha256");
	hex(want, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	vt_check(d.result_len == 32 && !memcmp(d.result, want, 32), "SHA-256 abc");

	/* RFC 4231 test case 2 */
	op.alg = CMRDV_ALG_HMAC_SHA256;
	op.key = make_key(op.alg, (const uint8_t *)"Jefe", 4);
	memcpy(src, "what do ya want for nothing?", 28);
	d = run_ok(&op, 28, 0, "hmac");
	hex(want, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	vt_check(d.result_len == 32 && !memcmp(d.result, want, 32), "HMAC case 2");
	cmrdv_destroy_key(op.key);

	/* RFC 4231 test case 6: a key longer than the block is hashed first. */
	{
		uint8_t k[131];

		memset(k, 0xaa, sizeof(k));
		op.key = make_key(op.alg, k, sizeof(k));
	}
	memcpy(src, "Test Using Larger Than Block-Size Key - Hash Key First", 54);
	d = run_ok(&op, 54, 0, "hmac long key");
	hex(want, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	vt_check(d.result_len == 32 && !memcmp(d.result, want, 32), "HMAC case 6");
	cmrdv_destroy_key(op.key);

	/* CRC check values of "123456789" */
	memcpy(src, "123456789", 9);
	op = (struct op){ .alg = CMRDV_ALG_CRC32 };
	d = run_ok(&op, 9, 0, "crc32");
	vt_check(d.result_len == 4 && d.result[0] == 0x26 && d.result[1] == 0x39 &&
		 d.result[2] == 0xf4 && d.result[3] == 0xcb, "CRC32 check value");
	op.alg = CMRDV_ALG_CRC32C;
	d = run_ok(&op, 9, 0, "crc32c");
	vt_check(d.result_len == 4 && d.result[0] == 0x83 && d.result[1] == 0x92 &&
		 d.result[2] == 0x06 && d.result[3] == 0xe3, "CRC32C check value");
}

/*
 * The key lengths the device reports are exactly those cmrdv_create_key()
 * accepts, and include what the standards need: AES-128/256 for GCM,
 * two AES-128/256 keys for XTS, HMAC keys longer than a SHA-256 block.
 */
static void key_sizes(void)
{
	static const struct {
		enum cmrdv_alg alg;
		uint16_t need[2];
	} keyed[] = {
		{ CMRDV_ALG_AES_GCM, { 16, 32 } },
		{ CMRDV_ALG_AES_XTS, { 32, 64 } },
		{ CMRDV_ALG_HMAC_SHA256, { 1, 131 } },
	};
	struct cmrdv_device_attr attr;
	uint8_t k[512];

	/* XTS refuses a key whose two halves are equal. */
	for (unsigned int i = 0; i < sizeof(k); i++)
		k[i] = i * 7 + 1;
	vt_check(!cmrdv_query_device(s.ctx, &attr), "cmrdv_query_device");
	for (unsigned int i = 0; i < sizeof(keyed) / sizeof(keyed[0]); i++) {
		const struct cmrdv_alg_caps *c = &attr.alg[keyed[i].alg];

		vt_check(c->flags & CMRDV_ALG_CAP_KEYED, "alg %d keyed",
			 keyed[i].alg);
		vt_check(c->key_size_step && c->min_key_size <= keyed[i].need[0] &&
			 c->max_key_size >= keyed[i].need[1],
			 "alg %d reports keys %u..%u step %u", keyed[i].alg,
			 c->min_key_size, c->max_key_size, c->key_size_step);
		for (unsigned int len = 0; len <= c->max_key_size + 1u; len++) {
			struct cmrdv_key_init_attr ka = {
				.alg = keyed[i].alg, .material = k, .length = len,
			};
			bool want = len >= c->min_key_size &&
				    len <= c->max_key_size &&
				    (len - c->min_key_size) % c->key_size_step == 0;
			struct cmrdv_key *key = cmrdv_create_key(s.pd, &ka);

			vt_check(!!key == want, "alg %d, %u-byte key: %s",
				 keyed[i].alg, len,
				 key ? "accepted but not reported" :
				       "reported but refused");
			/* 0 and above 256 bytes are invalid for every alg. */
			vt_check(key || !len || len > 256 || errno == EOPNOTSUPP,
				 "alg %d, %u-byte key: %s", keyed[i].alg, len,
				 strerror(errno));
			if (key)
				cmrdv_destroy_key(key);
		}
	}
	vt_check(!attr.alg[CMRDV_ALG_SHA256].max_key_size, "SHA-256 unkeyed");
}

/* What an algorithm does not take (a key, a stream) is not supported. */
static void unsupported_objects(void)
{
	static const enum cmrdv_alg no_stream[] = {
		CMRDV_ALG_MEMCPY, CMRDV_ALG_LZ4, CMRDV_ALG_AES_GCM,
		CMRDV_ALG_SHA256, CMRDV_ALG_CRC32,
	};
	uint8_t k[32] = { 1 };
	struct cmrdv_key_init_attr ka = {
		.alg = CMRDV_ALG_SHA256, .material = k, .length = sizeof(k),
	};

	vt_check(!cmrdv_create_key(s.pd, &ka) && errno == EOPNOTSUPP,
		 "SHA-256 key: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(no_stream) / sizeof(no_stream[0]); i++) {
		struct cmrdv_stream_init_attr sa = { .alg = no_stream[i] };

		vt_check(!cmrdv_create_stream(s.pd, &sa) && errno == EOPNOTSUPP,
			 "alg %d stream: %s", no_stream[i], strerror(errno));
	}
	checks++;
}

/*
 * Keys through a parent domain: they belong to its protection domain, which
 * stays while a parent domain wraps it (EBUSY, as mlx5 answers), and they
 * outlive the parent domain itself.
 */
static void parent_domains(void)
{
	uint8_t k[32] = { 2 };
	struct cmrdv_key_init_attr ka = {
		.alg = CMRDV_ALG_AES_GCM, .material = k, .length = sizeof(k),
	};
	struct ibv_parent_domain_init_attr pa = {};
	struct ibv_pd *parent;
	struct cmrdv_key *key;

	pa.pd = ibv_alloc_pd(s.ctx);
	vt_check(pa.pd, "PD");
	parent = ibv_alloc_parent_domain(s.ctx, &pa);
	vt_check(parent, "parent domain: %s", strerror(errno));
	vt_check(ibv_dealloc_pd(pa.pd) == EBUSY,
		 "a PD under a parent domain was deallocated");
	key = cmrdv_create_key(parent, &ka);
	vt_check(key, "key through a parent domain: %s", strerror(errno));
	vt_check(!ibv_dealloc_pd(parent), "parent domain dealloc");
	vt_check(!cmrdv_destroy_key(key), "key destroy after its parent");
	vt_check(!ibv_dealloc_pd(pa.pd), "PD dealloc");
	checks++;
}

/* Random data: incompressible, or runs of a few symbols. */
static void fill(uint8_t *p, size_t n, bool compressible)
{
	for (size_t i = 0; i < n; i++)
		p[i] = compressible ? "abcab"[(i / (1 + rand_r(&seed) % 7)) % 5]
				    : (uint8_t)rand_r(&seed);
}

static const uint32_t sizes[] = { 0, 1, 100, 4096, 65536 + 17, MAX_IN };

/* Software CRC32C, bitwise: an independent reference. */
static uint32_t crc32c_sw(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78 & -(c & 1));
	}
	return ~c;
}

static void compression_interop(void)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int comp = 0; comp < 2; comp++) {
			/*
			 * Every size at the default level (which an engine's
			 * driver may serve) and at an explicit one.
			 */
			bool dflt = (i + comp) % 2;
			uint32_t n = sizes[i];
			struct op op = { .alg = CMRDV_ALG_DEFLATE,
					 .level = dflt ? 0 : 6 };
			struct cmr_done d;
			uLongf rl;
			int framing;

			fill(ref, n, comp);
			/* DEFLATE, three framings: device -> zlib. */
			for (framing = 0; framing < 3; framing++) {
				z_stream zs = {};
				static const int wbits[] = { -15, 15, 31 };

				op.dir = CMRDV_FORWARD;
				op.flags = framing;
				memcpy(src, ref, n);
				d = run_ok(&op, n, MAX_OUT, "deflate");
				vt_check(!inflateInit2(&zs, wbits[framing]), "zlib");
				zs.next_in = dst;
				zs.avail_in = d.byte_len;
				zs.next_out = src;
				zs.avail_out = MAX_IN;
				vt_check(inflate(&zs, Z_FINISH) == Z_STREAM_END &&
					 zs.total_out == n && !memcmp(src, ref, n),
					 "zlib cannot read device deflate "
					 "framing %d, %u B", framing, n);
				inflateEnd(&zs);

				/* zlib -> device. */
				memset(&zs, 0, sizeof(zs));
				vt_check(!deflateInit2(&zs, 9, Z_DEFLATED,
						       wbits[framing], 8,
						       Z_DEFAULT_STRATEGY), "z");
				zs.next_in = ref;
				zs.avail_in = n;
				zs.next_out = src;
				zs.avail_out = MAX_OUT;
				vt_check(deflate(&zs, Z_FINISH) == Z_STREAM_END, "z");
				op.dir = CMRDV_INVERSE;
				d = run_ok(&op, zs.total_out, MAX_IN, "inflate");
				vt_check(d.byte_len == n && !memcmp(dst, ref, n),
					 "device cannot read zlib framing %d", framing);
				deflateEnd(&zs);
			}

			/* LZ4 block format. */
			op = (struct op){ .alg = CMRDV_ALG_LZ4 };
			memcpy(src, ref, n);
			d = run_ok(&op, n, MAX_OUT, "lz4");
			vt_check(LZ4_decompress_safe((char *)dst, (char *)src,
						     d.byte_len, MAX_IN) == (int)n &&
				 !memcmp(src, ref, n), "liblz4 cannot read it");
			rl = LZ4_compress_default((char *)ref, (char *)src, n,
						  MAX_OUT);
			vt_check(rl > 0, "LZ4_compress_default");
			op.dir = CMRDV_INVERSE;
			d = run_ok(&op, rl, MAX_IN, "lz4 decompress");
			vt_check(d.byte_len == n && !memcmp(dst, ref, n),
				 "device cannot read liblz4");

			/* zstd frames. */
			op = (struct op){ .alg = CMRDV_ALG_ZSTD,
					  .level = dflt ? 0 : 3 };
			memcpy(src, ref, n);
			d = run_ok(&op, n, MAX_OUT, "zstd");
			vt_check(ZSTD_decompress(src, MAX_IN, dst, d.byte_len) == n &&
				 !memcmp(src, ref, n), "libzstd cannot read it");
			rl = ZSTD_compress(src, MAX_OUT, ref, n, 5);
			vt_check(!ZSTD_isError(rl), "ZSTD_compress");
			op.dir = CMRDV_INVERSE;
			d = run_ok(&op, rl, MAX_IN, "zstd decompress");
			vt_check(d.byte_len == n && !memcmp(dst, ref, n),
				 "device cannot read libzstd");
		}
	}
}

/*
 * A destination of exactly the decompressed size, for zlib's streams
 * whose last bytes (zlib framing: the Adler-32) fall on either side of a
 * 128 KiB boundary: the device reads its source in pieces, and one that
 * fills the destination must not be taken for a destination too small
 * while the rest of the stream needs no room.
 */
static void exact_destinations(void)
{
	static const int wbits[] = { -15, 15, 31 };
	const uint32_t boundary = 128 << 10;
	int tried = 0;

	fill(ref, boundary + 256, false);
	for (int framing = 0; framing < 3; framing++) {
		for (uint32_t n = boundary - 64; n < boundary + 64; n++) {
			struct op op = { .alg = CMRDV_ALG_DEFLATE,
					 .dir = CMRDV_INVERSE,
					 .flags = framing };
			z_stream zs = {};
			struct cmr_done d;

			/* Stored blocks: the stream's length follows n's. */
			vt_check(!deflateInit2(&zs, 0, Z_DEFLATED,
					       wbits[framing], 8,
					       Z_DEFAULT_STRATEGY), "zlib");
			zs.next_in = ref;
			zs.avail_in = n;
			zs.next_out = src;
			zs.avail_out = MAX_OUT;
			vt_check(deflate(&zs, Z_FINISH) == Z_STREAM_END, "zlib");
			deflateEnd(&zs);
			if (zs.total_out < boundary - 8 ||
			    zs.total_out > boundary + 16)
				continue;
			d = run_ok(&op, zs.total_out, n, "exact destination");
			vt_check(d.byte_len == n && !memcmp(dst, ref, n),
				 "framing %d, %u B into %u B", framing,
				 (uint32_t)zs.total_out, n);
			tried++;
		}
	}
	vt_check(tried >= 3 * 20, "only %d streams near the boundary", tried);
}

static void crypto_interop(void)
{
	uint8_t key[64], iv[16] = { 9, 8, 7 }, tag[16];
	int outl, tmp;

	for (int i = 0; i < 64; i++)
		key[i] = i * 7 + 3;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i], aad = n > 100 ? 13 : 0;
		struct op op = { .alg = CMRDV_ALG_AES_GCM };
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		struct cmr_done d;
		uint8_t md[32];
		unsigned int mdl;

		fill(ref, n, false);
		/* GCM: device == OpenSSL, and back. */
		op.key = make_key(CMRDV_ALG_AES_GCM, key, 32);
		memcpy(op.ca.iv, iv, 12);
		op.ca.aad_len = aad;
		memcpy(src, ref, n);
		d = run_ok(&op, n, n - aad + 16, "gcm encrypt");
		EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv);
		EVP_EncryptUpdate(c, NULL, &tmp, ref, aad);
		EVP_EncryptUpdate(c, src, &outl, ref + aad, n - aad);
		EVP_EncryptFinal_ex(c, src + outl, &tmp);
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
		vt_check(d.byte_len == n - aad + 16 &&
			 !memcmp(dst, src, n - aad) &&
			 !memcmp(dst + n - aad, tag, 16),
			 "GCM differs from OpenSSL at %u B", n);
		memcpy(src, ref, aad);
		memcpy(src + aad, dst, n - aad + 16);
		op.dir = CMRDV_INVERSE;
		d = run_ok(&op, n + 16, n, "gcm decrypt");
		vt_check(d.byte_len == n - aad && !memcmp(dst, ref + aad, n - aad),
			 "GCM decrypt at %u B", n);
		cmrdv_destroy_key(op.key);

		/* XTS with 512-byte data units: each unit as OpenSSL does it. */
		if (n >= 512 && n % 512 == 0) {
			op = (struct op){ .alg = CMRDV_ALG_AES_XTS };
			op.key = make_key(CMRDV_ALG_AES_XTS, key, 64);
			op.ca.data_unit_size = 512;
			op.ca.iv[0] = 5;
			memcpy(src, ref, n);
			d = run_ok(&op, n, n, "xts");
			for (uint32_t u = 0; u < n / 512; u++) {
				uint8_t tweak[16] = { (uint8_t)(5 + u),
						      (uint8_t)((5 + u) >> 8),
						      (uint8_t)((5 + u) >> 16) };

				EVP_EncryptInit_ex(c, EVP_aes_256_xts(), NULL,
						   key, tweak);
				EVP_EncryptUpdate(c, src, &outl, ref + u * 512, 512);
				vt_check(!memcmp(dst + u * 512, src, 512),
					 "XTS unit %u differs from OpenSSL", u);
			}
			cmrdv_destroy_key(op.key);
		}

		/* SHA-256, HMAC, CRCs. */
		memcpy(src, ref, n);
		op = (struct op){ .alg = CMRDV_ALG_SHA256 };
		d = run_ok(&op, n, 0, "sha256");
		SHA256(ref, n, md);
		vt_check(!memcmp(d.result, md, 32), "SHA-256 at %u B", n);
		op.alg = CMRDV_ALG_HMAC_SHA256;
		op.key = make_key(op.alg, key, 40);
		d = run_ok(&op, n, 0, "hmac");
		HMAC(EVP_sha256(), key, 40, ref, n, md, &mdl);
		vt_check(!memcmp(d.result, md, 32), "HMAC at %u B", n);
		cmrdv_destroy_key(op.key);
		op = (struct op){ .alg = CMRDV_ALG_CRC32 };
		d = run_ok(&op, n, 0, "crc32");
		vt_check(d.result_len == 4 &&
			 (uint32_t)(d.result[0] | d.result[1] << 8 |
				    d.result[2] << 16 | (uint32_t)d.result[3] << 24) ==
			 (uint32_t)crc32(0, ref, n), "CRC32 at %u B", n);
		op.alg = CMRDV_ALG_CRC32C;
		d = run_ok(&op, n, 0, "crc32c");
		vt_check((uint32_t)(d.result[0] | d.result[1] << 8 |
				    d.result[2] << 16 | (uint32_t)d.result[3] << 24) ==
			 crc32c_sw(ref, n), "CRC32C at %u B", n);
		EVP_CIPHER_CTX_free(c);
	}
}

/* A large input split at random points into many WRs: one valid stream. */
static void streams(void)
{
	uint32_t n = MAX_IN, off, piece, out = 0;
	struct cmrdv_stream_init_attr a = { .alg = CMRDV_ALG_DEFLATE,
					    .dir = CMRDV_FORWARD, .level = 6,
					    .flags = CMRDV_DEFLATE_GZIP };
	struct op op = {};
	uint8_t *whole = malloc(MAX_OUT);
	struct cmr_done d;
	z_stream zs = {};

	fill(ref, n, true);
	for (int alg = 0; alg < 2; alg++) {
		a.alg = alg ? CMRDV_ALG_ZSTD : CMRDV_ALG_DEFLATE;
		a.flags = alg ? 0 : CMRDV_DEFLATE_GZIP;
		a.dir = CMRDV_FORWARD;
		op.stream = cmrdv_create_stream(s.pd, &a);
		vt_check(op.stream, "create_stream");
		for (off = 0, out = 0; off < n; off += piece) {
			piece = 1 + rand_r(&seed) % (200 << 10);
			if (piece > n - off)
				piece = n - off;
			op.flags = off + piece == n ? CMRDV_STREAM_END : 0;
			memcpy(src, ref + off, piece);
			d = run_ok(&op, piece, MAX_OUT - out, "stream");
			memcpy(whole + out, dst, d.byte_len);
			out += d.byte_len;
		}
		cmrdv_destroy_stream(op.stream);
		if (alg) {
			vt_check(ZSTD_decompress(src, MAX_IN, whole, out) == n &&
				 !memcmp(src, ref, n), "libzstd: stream invalid");
		} else {
			memset(&zs, 0, sizeof(zs));
			inflateInit2(&zs, 31);
			zs.next_in = whole;
			zs.avail_in = out;
			zs.next_out = src;
			zs.avail_out = MAX_IN;
			vt_check(inflate(&zs, Z_FINISH) == Z_STREAM_END &&
				 zs.total_out == n && !memcmp(src, ref, n),
				 "zlib: the gzip stream is invalid");
			inflateEnd(&zs);
		}

		/* Decompression stream fed at random split points. */
		a.dir = CMRDV_INVERSE;
		op.stream = cmrdv_create_stream(s.pd, &a);
		vt_check(op.stream, "create_stream inverse");
		uint32_t produced = 0, total = out;
		for (off = 0; off < total; off += piece) {
			piece = 1 + rand_r(&seed) % 5000;
			if (piece > total - off)
				piece = total - off;
			op.flags = off + piece == total ? CMRDV_STREAM_END : 0;
			memcpy(src, whole + off, piece);
			d = run_ok(&op, piece, MAX_IN, "stream inverse");
			vt_check(produced + d.byte_len <= n &&
				 !memcmp(dst, ref + produced, d.byte_len),
				 "stream inverse output");
			produced += d.byte_len;
		}
		vt_check(produced == n && (d.result[0] & 1),
			 "stream inverse ended at %u of %u", produced, n);
		cmrdv_destroy_stream(op.stream);
	}
	free(whole);
}

/* The buffers of the compress -> encrypt -> RDMA WRITE chain. */
struct chain {
	uint8_t *z, *sealed, *landed;	/* gzip, sealed, landed */
	struct ibv_mr *zmr, *smr, *lmr;
	uint32_t room;			/* bytes of each */
	struct cmrdv_key *key;
	const struct cmrdv_crypto_attr *ca;
};

/*
 * Post the chain on src[0..n) in one batch, wr_ids first..first + 2; the
 * compression may write zroom bytes.
 */
static void post_chain(const struct chain *ch, uint64_t first, uint32_t n,
		       uint32_t zroom)
{
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = first;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	cmrdv_wr_compress(s.dqp, CMRDV_ALG_DEFLATE, 6, CMRDV_DEFLATE_GZIP);
	ibv_wr_set_sge(s.qpx, mrs[PINNED][0]->lkey, (uintptr_t)src, n);
	cmrdv_wr_set_dst_sge(s.dqp, ch->zmr->lkey, (uintptr_t)ch->z, zroom);
	s.qpx->wr_id = first + 1;
	cmrdv_wr_encrypt(s.dqp, ch->key, ch->ca);
	ibv_wr_set_sge(s.qpx, ch->zmr->lkey, (uintptr_t)ch->z, ch->room);
	cmrdv_wr_set_src_from_prev(s.dqp);
	cmrdv_wr_set_dst_sge(s.dqp, ch->smr->lkey, (uintptr_t)ch->sealed,
			     ch->room);
	s.qpx->wr_id = first + 2;
	ibv_wr_rdma_write(s.qpx, ch->lmr->rkey, (uintptr_t)ch->landed);
	ibv_wr_set_sge(s.qpx, ch->smr->lkey, (uintptr_t)ch->sealed, ch->room);
	cmrdv_wr_set_src_from_prev(s.dqp);
	vt_check(!ibv_wr_complete(s.qpx), "chain ibv_wr_complete");
}

/*
 * Every WR with a source may read the previous one's output: memcpy ->
 * RDMA WRITE with immediate, whose receive completion (on the looped-back
 * QP) tells how many bytes landed.
 */
static void chain_with_imm(const struct chain *ch)
{
	struct ibv_recv_wr rwr = { .wr_id = 100 }, *bad;
	const uint32_t n = 1000;
	struct cmr_done d;
	bool seen[2] = {};

	memset(ch->landed, 0, ch->room);
	fill(src, n, false);
	vt_check(!ibv_post_recv(s.qp, &rwr, &bad), "post_recv");
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = 7;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	cmrdv_wr_memcpy(s.dqp);
	ibv_wr_set_sge(s.qpx, mrs[PINNED][0]->lkey, (uintptr_t)src, n);
	cmrdv_wr_set_dst_sge(s.dqp, ch->zmr->lkey, (uintptr_t)ch->z,
			     ch->room);
	s.qpx->wr_id = 8;
	ibv_wr_rdma_write_imm(s.qpx, ch->lmr->rkey, (uintptr_t)ch->landed,
			      htobe32(0x5eed));
	ibv_wr_set_sge(s.qpx, ch->zmr->lkey, (uintptr_t)ch->z, ch->room);
	cmrdv_wr_set_src_from_prev(s.dqp);
	vt_check(!ibv_wr_complete(s.qpx),
		 "RDMA WRITE with immediate cannot read the previous output");

	cmr_session_wait(&s, &d);
	vt_check(d.wr_id == 7 && d.status == IBV_WC_SUCCESS &&
		 d.byte_len == n, "memcpy: %s", cmr_done_error(&d));
	for (int i = 0; i < 2; i++) {
		cmr_session_wait(&s, &d);
		vt_check((d.wr_id == 8 || d.wr_id == 100) &&
			 !seen[d.wr_id == 100] && d.status == IBV_WC_SUCCESS &&
			 d.byte_len == n, "wr_id %llu: %u bytes, %s",
			 (unsigned long long)d.wr_id, d.byte_len,
			 cmr_done_error(&d));
		seen[d.wr_id == 100] = true;
	}
	vt_check(!memcmp(ch->landed, src, n) && !ch->landed[n],
		 "RDMA WRITE with immediate wrote other than the memcpy's output");
	checks++;
}

/*
 * compress -> encrypt -> RDMA WRITE posted in one batch, each WR reading
 * what the one before produced (cmrdv_wr_set_src_from_prev()): the bytes
 * that land are AES-256-GCM(gzip(data)), as OpenSSL and zlib read them.
 */
static void chain(void)
{
	const uint32_t n = 300000, room = n + 4096;
	uint8_t key[32], iv[12] = { 1, 2, 3 }, *z, *sealed, *landed, *plain;
	struct ibv_mr *zmr, *smr, *lmr;
	struct cmrdv_crypto_attr ca = {};
	struct cmrdv_key *k;
	struct cmr_done d[3];
	struct chain ch;
	EVP_CIPHER_CTX *c;
	uLongf plain_len = n;
	uint32_t zlen;
	int outl, tmp;

	for (unsigned int i = 0; i < sizeof(key); i++)
		key[i] = 0x40 + i;
	z = calloc(1, room);
	sealed = calloc(1, room);
	landed = calloc(1, room);
	plain = malloc(room);
	vt_check(z && sealed && landed && plain, "alloc");
	zmr = cmr_session_reg(&s, z, room);
	smr = cmr_session_reg(&s, sealed, room);
	lmr = cmr_session_reg(&s, landed, room);
	k = make_key(CMRDV_ALG_AES_GCM, key, sizeof(key));
	memcpy(ca.iv, iv, sizeof(iv));
	fill(src, n, true);
	ch = (struct chain){
		.z = z, .sealed = sealed, .landed = landed,
		.zmr = zmr, .smr = smr, .lmr = lmr, .room = room, .key = k,
		.ca = &ca,
	};
	post_chain(&ch, 1, n, room);
	for (int i = 0; i < 3; i++) {
		cmr_session_wait(&s, &d[i]);
		vt_check(d[i].wr_id == (uint64_t)i + 1 &&
			 d[i].status == IBV_WC_SUCCESS, "chain WR %d: %s", i + 1,
			 cmr_done_error(&d[i]));
	}
	zlen = d[0].byte_len;
	vt_check(zlen > 0 && zlen < n / 2 && d[1].byte_len == zlen + 16 &&
		 d[2].byte_len == zlen + 16, "chain lengths %u %u %u",
		 d[0].byte_len, d[1].byte_len, d[2].byte_len);
	vt_check(!landed[zlen + 16], "the RDMA WRITE went past the sealed data");

	/* OpenSSL opens what landed; zlib inflates it to the original. */
	c = EVP_CIPHER_CTX_new();
	EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv);
	EVP_DecryptUpdate(c, z, &outl, landed, zlen);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, landed + zlen);
	vt_check(EVP_DecryptFinal_ex(c, z + outl, &tmp) == 1,
		 "OpenSSL rejects the chain's tag");
	EVP_CIPHER_CTX_free(c);
	{
		z_stream zs = { .next_in = z, .avail_in = zlen,
				.next_out = plain, .avail_out = room };

		vt_check(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK &&
			 inflate(&zs, Z_FINISH) == Z_STREAM_END, "gunzip");
		plain_len = zs.total_out;
		inflateEnd(&zs);
	}
	vt_check(plain_len == n && !memcmp(plain, src, n),
		 "the chain does not round-trip");
	checks += 3;

	/*
	 * The first link fails with a data error (no room): the rest of the
	 * chain does nothing and says why; the QP stays usable.
	 */
	memset(landed, 0xee, room);
	post_chain(&ch, 4, n, 100);
	cmr_session_wait(&s, &d[0]);
	vt_check(d[0].wr_id == 4 && d[0].status == IBV_WC_LOC_LEN_ERR &&
		 d[0].vendor_err == CMRDV_ERR_DST_TOO_SMALL, "first link: %s",
		 cmr_done_error(&d[0]));
	for (int i = 1; i < 3; i++) {
		cmr_session_wait(&s, &d[i]);
		vt_check(d[i].wr_id == 4u + i && d[i].status == IBV_WC_GENERAL_ERR &&
			 d[i].vendor_err == CMRDV_ERR_PREV_FAILED,
			 "link %d after a failed one: %s", i + 1,
			 cmr_done_error(&d[i]));
	}
	for (uint32_t i = 0; i < room; i++)
		vt_check(landed[i] == 0xee, "a failed chain wrote at %u", i);
	checks += 3;
	run_ok(&(struct op){ .alg = CMRDV_ALG_MEMCPY }, 8, 8,
	       "QP usable after a failed chain");
	chain_with_imm(&ch);

	cmrdv_destroy_key(k);
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(zmr);
	free(z);
	free(sealed);
	free(landed);
	free(plain);
}

/*
 * Completions through a completion channel, with the doorbell and with the
 * SQ poller (whose thread raises the event): CRC32 of random data against
 * zlib, many WRs, each waited for by blocking.
 */
static void events(void)
{
	for (int poll = 0; poll < 2; poll++) {
		struct cmr_session es;
		struct ibv_mr *mr;
		struct cmr_done d;

		cmr_session_open_attr(&es, &(struct cmr_session_attr){
			.devname = vt_dev(), .depth = 4, .events = true,
			.create_flags = poll ? CMRDV_QP_CREATE_SQ_POLL : 0,
		});
		mr = cmr_session_reg(&es, src, MAX_OUT);
		for (uint32_t i = 0; i < 200; i++) {
			uint32_t n = 1 + rand_r(&seed) % 5000;

			fill(src, n, false);
			ibv_wr_start(es.qpx);
			es.qpx->wr_id = i;
			es.qpx->wr_flags = IBV_SEND_SIGNALED;
			cmrdv_wr_digest(es.dqp, CMRDV_ALG_CRC32, NULL);
			ibv_wr_set_sge(es.qpx, mr->lkey, (uintptr_t)src, n);
			vt_check(!ibv_wr_complete(es.qpx), "post");
			cmr_session_wait(&es, &d);
			vt_check(d.wr_id == i && d.status == IBV_WC_SUCCESS &&
				 d.result_len == 4 &&
				 (d.result[0] | d.result[1] << 8 | d.result[2] << 16 |
				  (uint32_t)d.result[3] << 24) == crc32(0, src, n),
				 "event-driven CRC32 %u (%s)", i,
				 poll ? "SQ poller" : "doorbell");
			checks++;
		}
		ibv_dereg_mr(mr);
		cmr_session_close(&es);
	}
}

static void expect(struct cmr_done d, enum ibv_wc_status status,
		   uint32_t vendor_err, const char *what, enum cmrdv_alg alg)
{
	vt_check(d.status == status && d.vendor_err == vendor_err,
		 "%s, algorithm %d: %s", what, alg, cmr_done_error(&d));
}

/*
 * Each codec's data errors, at the default level (which an engine's driver
 * may serve: its failures must be told apart as the library does).
 */
static void codec_errors(void)
{
	static const enum cmrdv_alg algs[] = {
		CMRDV_ALG_DEFLATE, CMRDV_ALG_LZ4, CMRDV_ALG_ZSTD,
	};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct op op = { .alg = algs[i], .dir = CMRDV_FORWARD };
		struct cmr_done d;
		uint32_t n;

		fill(ref, 4096, false);
		memcpy(src, ref, 4096);
		expect(run(&op, 4096, 100), IBV_WC_LOC_LEN_ERR,
		       CMRDV_ERR_DST_TOO_SMALL, "compression, dst too small",
		       op.alg);

		d = run_ok(&op, 4096, MAX_OUT, "compress");
		n = d.byte_len;
		memcpy(src, dst, n);
		op.dir = CMRDV_INVERSE;
		expect(run(&op, n, 4000), IBV_WC_LOC_LEN_ERR,
		       CMRDV_ERR_DST_TOO_SMALL, "decompression, dst too small",
		       op.alg);
		expect(run(&op, n, 0), IBV_WC_LOC_LEN_ERR,
		       CMRDV_ERR_DST_TOO_SMALL, "decompression, no destination",
		       op.alg);
		d = run_ok(&op, n, 4096, "decompress");
		vt_check(d.byte_len == 4096 && !memcmp(dst, ref, 4096),
			 "algorithm %d round trip", op.alg);

		memset(src, 0xff, 100);
		expect(run(&op, 100, 4096), IBV_WC_GENERAL_ERR,
		       CMRDV_ERR_CORRUPT_INPUT, "corrupt input", op.alg);
	}
}

/*
 * A stream WR that fails takes the stream with it: later WRs on it fail
 * with STREAM_FAILED, a data error that leaves the QP usable.
 */
static void stream_failure(void)
{
	struct cmrdv_stream_init_attr a = { .alg = CMRDV_ALG_DEFLATE,
					    .dir = CMRDV_INVERSE };
	struct op op = { .alg = CMRDV_ALG_DEFLATE, .dir = CMRDV_FORWARD };
	struct op copy = { .alg = CMRDV_ALG_MEMCPY };
	struct cmr_done d;
	uint32_t n;

	fill(ref, 65536, true);
	memcpy(src, ref, 65536);
	n = run_ok(&op, 65536, MAX_OUT, "deflate").byte_len;
	memcpy(src, dst, n);
	op = (struct op){ .stream = cmrdv_create_stream(s.pd, &a) };
	vt_check(op.stream, "create_stream");
	expect(run(&op, n, 16), IBV_WC_LOC_LEN_ERR, CMRDV_ERR_DST_TOO_SMALL,
	       "stream WR, dst too small", CMRDV_ALG_DEFLATE);
	op.flags = CMRDV_STREAM_END;
	expect(run(&op, n, MAX_OUT), IBV_WC_GENERAL_ERR,
	       CMRDV_ERR_STREAM_FAILED, "WR on a failed stream",
	       CMRDV_ALG_DEFLATE);
	d = run_ok(&copy, 64, 64, "memcpy after a failed stream");
	vt_check(d.byte_len == 64 && !memcmp(dst, src, 64), "memcpy");
	vt_check(!cmrdv_destroy_stream(op.stream), "destroy failed stream");
}

/*
 * Source and destination overlapping, or the same: the output is as if the
 * source had been read whole first (memmove, and GCM in place equal to
 * GCM out of place), whether the WR is small enough to run on the pages
 * directly or goes through the device's buffers.
 */
static void overlapping(void)
{
	static const uint32_t lens[] = { 64, 3000, 20000 };
	uint8_t key[32] = { 3 };
	struct op op = { .alg = CMRDV_ALG_MEMCPY };
	struct op gcm = { .alg = CMRDV_ALG_AES_GCM, .dir = CMRDV_FORWARD,
			  .ca = { .iv = { 4 }, .aad_len = 16 } };
	struct cmr_done d;

	gcm.key = make_key(CMRDV_ALG_AES_GCM, key, sizeof(key));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t n = lens[i];

		for (int shift = -8; shift <= 8; shift += 16) {
			uint8_t *in = src + 4096 + 64, *out = in + shift;

			fill(ref, n, false);
			memcpy(in, ref, n);
			d = run_at(&op, in, n, out, n);
			vt_check(d.status == IBV_WC_SUCCESS && d.byte_len == n &&
				 !memcmp(out, ref, n),
				 "memcpy of %u B onto itself shifted by %d: %s",
				 n, shift, cmr_done_error(&d));
		}

		memcpy(src, ref, n);
		d = run_at(&gcm, src, n, dst, n + 16);
		vt_check(d.status == IBV_WC_SUCCESS, "GCM: %s",
			 cmr_done_error(&d));
		memcpy(src + MAX_IN / 2, ref, n);
		vt_check(run_at(&gcm, src + MAX_IN / 2, n, src + MAX_IN / 2,
				n + 16).byte_len == d.byte_len &&
			 !memcmp(src + MAX_IN / 2, dst, d.byte_len),
			 "GCM in place of %u B differs", n);
	}
	cmrdv_destroy_key(gcm.key);
}

/* Each error status; data errors leave the QP usable. */
static void errors(void)
{
	struct op op = { .alg = CMRDV_ALG_MEMCPY };
	struct cmr_done d;
	uint8_t key[32] = { 1 };

	fill(src, 4096, false);
	d = run(&op, 4096, 100);
	vt_check(d.status == IBV_WC_LOC_LEN_ERR &&
		 d.vendor_err == CMRDV_ERR_DST_TOO_SMALL, "dst too small: %s",
		 cmr_done_error(&d));
	run_ok(&op, 10, 10, "QP usable after a data error");

	codec_errors();

	op = (struct op){ .alg = CMRDV_ALG_AES_GCM, .dir = CMRDV_FORWARD };
	op.key = make_key(CMRDV_ALG_AES_GCM, key, 32);
	fill(src, 64, false);
	d = run_ok(&op, 64, 80, "gcm");
	memcpy(src, dst, 80);
	src[79] ^= 1;
	op.dir = CMRDV_INVERSE;
	memset(dst, 0xaa, 64);
	d = run(&op, 80, 64);
	vt_check(d.status == IBV_WC_GENERAL_ERR &&
		 d.vendor_err == CMRDV_ERR_AUTH_FAILED, "auth failure: %s",
		 cmr_done_error(&d));
	for (int i = 0; i < 64; i++)
		vt_check(dst[i] == 0 || dst[i] == 0xaa,
			 "plaintext of a forged message was released");
	cmrdv_destroy_key(op.key);
	run_ok(&(struct op){ .alg = CMRDV_ALG_MEMCPY }, 8, 8, "usable");
}

static void drop_mrs(void)
{
	for (int k = 0; k < NUM_KINDS; k++) {
		if (mrs[k][1] && mrs[k][1] != mrs[k][0])
			ibv_dereg_mr(mrs[k][1]);
		if (mrs[k][0])
			ibv_dereg_mr(mrs[k][0]);
		mrs[k][0] = mrs[k][1] = NULL;
	}
}

/* A fresh session (create_flags) with pinned MRs over src and dst[0..dst_len). */
static void pinned_session(uint32_t create_flags, size_t dst_len)
{
	cmr_session_open_flags(&s, vt_dev(), 8, create_flags);
	mrs[PINNED][0] = cmr_session_reg(&s, src, MAX_OUT);
	mrs[PINNED][1] = cmr_session_reg(&s, dst, dst_len);
	kind = PINNED;
}

/* Its MRs, then the session. */
static void end_session(void)
{
	drop_mrs();
	cmr_session_close(&s);
}

/*
 * A key or stream destroyed while a WR naming it waits behind a slow one
 * (the SQ poller runs the queue): the kernel no longer finds the handle.
 */
static void destroyed_handles(void)
{
	struct cmrdv_stream_init_attr sa = { .alg = CMRDV_ALG_DEFLATE,
					     .dir = CMRDV_FORWARD, .level = 9 };
	struct op slow = { .alg = CMRDV_ALG_DEFLATE, .level = 9 };
	uint8_t k[32] = { 3 };
	struct cmr_done d;

	for (int which = 0; which < 2; which++) {
		struct op op = { .alg = CMRDV_ALG_AES_GCM };
		struct cmrdv_stream *st = NULL;
		struct cmrdv_key *key = NULL;

		pinned_session(CMRDV_QP_CREATE_SQ_POLL, MAX_OUT);
		if (which == 0)
			key = make_key(CMRDV_ALG_AES_GCM, k, 32);
		else
			st = cmrdv_create_stream(s.pd, &sa);
		vt_check(key || st, "create");
		fill(src, MAX_IN, false);

		ibv_wr_start(s.qpx);
		s.qpx->wr_flags = IBV_SEND_SIGNALED;
		s.qpx->wr_id = 1;
		cmrdv_wr_compress(s.dqp, slow.alg, slow.level, 0);
		ibv_wr_set_sge(s.qpx, mrs[PINNED][0]->lkey, (uintptr_t)src, MAX_IN);
		cmrdv_wr_set_dst_sge(s.dqp, mrs[PINNED][1]->lkey, (uintptr_t)dst,
				     MAX_OUT / 2);
		s.qpx->wr_id = 2;
		if (key)
			cmrdv_wr_encrypt(s.dqp, key, &op.ca);
		else
			cmrdv_wr_stream(s.dqp, st, CMRDV_STREAM_END);
		ibv_wr_set_sge(s.qpx, mrs[PINNED][0]->lkey, (uintptr_t)src, 64);
		cmrdv_wr_set_dst_sge(s.dqp, mrs[PINNED][1]->lkey,
				     (uintptr_t)dst + MAX_OUT / 2, 4096);
		vt_check(!ibv_wr_complete(s.qpx), "post");
		vt_check(!(key ? cmrdv_destroy_key(key) : cmrdv_destroy_stream(st)),
			 "destroy with a WR in flight");

		cmr_session_wait(&s, &d);
		vt_check(d.wr_id == 1 && d.status == IBV_WC_SUCCESS,
			 "the slow WR: %s", cmr_done_error(&d));
		cmr_session_wait(&s, &d);
		vt_check(d.wr_id == 2 && d.status == IBV_WC_LOC_QP_OP_ERR &&
			 d.vendor_err == (which ? CMRDV_ERR_BAD_STREAM :
					  CMRDV_ERR_BAD_KEY),
			 "WR naming a destroyed %s: %s", which ? "stream" : "key",
			 cmr_done_error(&d));
		checks += 2;
		end_session();
	}
}

/* Malformed WRs move the QP to ERR: each gets a fresh session. */
static void malformed(void)
{
	struct op op = { .alg = CMRDV_ALG_AES_GCM };
	struct cmrdv_key *key;
	struct ibv_mr *ro;
	uint8_t k[32] = { 2 };
	struct cmr_done d;

	/* A key of another algorithm: libcmr refuses the batch itself. */
	key = make_key(CMRDV_ALG_HMAC_SHA256, k, 32);
	ibv_wr_start(s.qpx);
	cmrdv_wr_encrypt(s.dqp, key, &op.ca);
	ibv_wr_set_sge(s.qpx, mrs[kind][0]->lkey, (uintptr_t)src, 64);
	cmrdv_wr_set_dst_sge(s.dqp, mrs[kind][1]->lkey, (uintptr_t)dst, 80);
	vt_check(ibv_wr_complete(s.qpx) == EINVAL, "wrong-algorithm key accepted");
	cmrdv_destroy_key(key);
	end_session();

	/* A destination the MR does not cover. */
	pinned_session(0, 64);
	d = run(&(struct op){ .alg = CMRDV_ALG_MEMCPY }, 128, 128);
	vt_check(d.status == IBV_WC_LOC_PROT_ERR, "dst outside MR: %s",
		 cmr_done_error(&d));
	end_session();

	/* An lkey that names nothing. */
	pinned_session(0, MAX_OUT);
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = ++checks;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	cmrdv_wr_memcpy(s.dqp);
	ibv_wr_set_sge(s.qpx, mrs[PINNED][0]->lkey ^ 0x5a5a00, (uintptr_t)src, 16);
	cmrdv_wr_set_dst_sge(s.dqp, mrs[PINNED][1]->lkey, (uintptr_t)dst, 16);
	vt_check(!ibv_wr_complete(s.qpx), "post");
	cmr_session_wait(&s, &d);
	vt_check(d.status == IBV_WC_LOC_PROT_ERR, "bad lkey: %s",
		 cmr_done_error(&d));
	end_session();

	/* Parameters only the kernel can judge against the data. */
	pinned_session(0, MAX_OUT);
	op = (struct op){ .alg = CMRDV_ALG_AES_XTS };
	op.key = make_key(CMRDV_ALG_AES_XTS, k, 32);
	op.ca.data_unit_size = 64;
	d = run(&op, 100, 100);		/* not a whole number of units */
	vt_check(d.status == IBV_WC_LOC_QP_OP_ERR &&
		 d.vendor_err == CMRDV_ERR_BAD_PARAM, "XTS 100 B in 64 B units: %s",
		 cmr_done_error(&d));
	cmrdv_destroy_key(op.key);
	end_session();

	/* More than max_compute_size bytes of source. */
	{
		struct cmrdv_device_attr attr;
		uint8_t *big;
		size_t len;

		cmr_session_open(&s, vt_dev(), 8);
		vt_check(!cmrdv_query_device(s.ctx, &attr), "query");
		len = (size_t)attr.max_compute_size + 1;
		big = calloc(1, len);
		vt_check(big, "alloc");
		mrs[PINNED][0] = cmr_session_reg(&s, big, len);
		mrs[PINNED][1] = cmr_session_reg(&s, dst, MAX_OUT);
		ibv_wr_start(s.qpx);
		s.qpx->wr_id = ++checks;
		s.qpx->wr_flags = IBV_SEND_SIGNALED;
		cmrdv_wr_digest(s.dqp, CMRDV_ALG_CRC32C, NULL);
		ibv_wr_set_sge(s.qpx, mrs[PINNED][0]->lkey, (uintptr_t)big, len);
		vt_check(!ibv_wr_complete(s.qpx), "post");
		cmr_session_wait(&s, &d);
		vt_check(d.status == IBV_WC_LOC_LEN_ERR,
			 "source of max_compute_size + 1: %s", cmr_done_error(&d));
		end_session();
		free(big);
	}

	destroyed_handles();

	/* A read-only destination MR. */
	cmr_session_open(&s, vt_dev(), 8);
	mrs[PINNED][0] = cmr_session_reg(&s, src, MAX_OUT);
	ro = ibv_reg_mr(s.pd, dst, MAX_OUT, 0);
	vt_check(ro, "reg ro");
	mrs[PINNED][1] = ro;
	d = run(&(struct op){ .alg = CMRDV_ALG_MEMCPY }, 16, 16);
	vt_check(d.status == IBV_WC_LOC_PROT_ERR, "read-only dst: %s",
		 cmr_done_error(&d));
	end_session();
}

static atomic_bool ticking;

/* Sleep 10 ms at a time; the longest time between two wake-ups. */
static void *ticker(void *arg)
{
	double *max_gap = arg, last = vt_now_s(), t;

	while (atomic_load(&ticking)) {
		usleep(10000);
		t = vt_now_s();
		if (t - last > *max_gap)
			*max_gap = t - last;
		last = t;
	}
	return NULL;
}

/*
 * Long WRs: 1 MiB of text at zstd's highest level, seconds each here.  A
 * backend gives its CPU away every 128 KiB, which is as long as others
 * may have to wait for a kernel thread queued there (SRCU's grace-period
 * work, a destroy's): an eighth of such a WR.
 */
enum { LONG_WR = 1 << 20 };

/*
 * The WRs' backends run outside what deregistrations and destroys wait
 * for (cmr_srcu), so a batch of long WRs behind one doorbell, or on the
 * SQ poller, holds up nobody else: an unrelated MR is deregistered and an
 * unrelated QP destroyed meanwhile, each in less than a quarter of one
 * WR's time.  The WRs' output is read by libzstd.
 */
static void long_batch(uint32_t create_flags, int k)
{
	uint32_t cap = ZSTD_compressBound(LONG_WR), level;
	struct cmrdv_device_attr attr;
	struct vt_stall_probe t = {};
	struct ibv_mr *imr, *omr;
	uint8_t *in, *out, *back;
	struct cmr_done d;
	double batch, one;
	pthread_t th;
	int i;

	cmr_session_open_flags(&s, vt_dev(), k + 1, create_flags);
	vt_check(!cmrdv_query_device(s.ctx, &attr), "cmrdv_query_device");
	level = attr.alg[CMRDV_ALG_ZSTD].max_level;
	in = malloc(LONG_WR);
	out = malloc((size_t)k * cap);
	back = malloc(LONG_WR);
	vt_check(in && out && back, "alloc");
	fill(in, LONG_WR, true);
	imr = cmr_session_reg(&s, in, LONG_WR);
	omr = cmr_session_reg(&s, out, (size_t)k * cap);

	t.pd = s.pd;
	vt_check(!pthread_create(&th, NULL, vt_stall_probe, &t), "thread");
	batch = vt_now_s();
	ibv_wr_start(s.qpx);
	for (i = 0; i < k; i++) {
		s.qpx->wr_id = i;
		s.qpx->wr_flags = IBV_SEND_SIGNALED;
		cmrdv_wr_compress(s.dqp, CMRDV_ALG_ZSTD, level, 0);
		ibv_wr_set_sge(s.qpx, imr->lkey, (uintptr_t)in, LONG_WR);
		cmrdv_wr_set_dst_sge(s.dqp, omr->lkey,
				     (uintptr_t)out + (size_t)i * cap, cap);
	}
	vt_check(!ibv_wr_complete(s.qpx), "ibv_wr_complete");
	for (i = 0; i < k; i++) {
		cmr_session_wait(&s, &d);
		vt_check(d.wr_id == (uint64_t)i && d.status == IBV_WC_SUCCESS,
			 "long WR %d: %s", i, cmr_done_error(&d));
		vt_check(ZSTD_decompress(back, LONG_WR, out + (size_t)i * cap,
					 d.byte_len) == LONG_WR &&
			 !memcmp(back, in, LONG_WR),
			 "libzstd cannot read long WR %d", i);
		checks++;
	}
	batch = vt_now_s() - batch;
	one = batch / k;
	pthread_join(th, NULL);
	printf("%d zstd level %u WRs of %u B%s: %.1f s each; meanwhile an unrelated dereg_mr took %.3f s, destroy_qp %.3f s\n",
	       k, level, LONG_WR, create_flags ? " (SQ poller)" : "", one,
	       t.dereg, t.destroy);
	vt_check(t.dereg < one / 4 && t.destroy < one / 4,
		 "dereg_mr %.2f s, destroy_qp %.2f s waited for %.1f s WRs",
		 t.dereg, t.destroy, one);

	vt_check(!ibv_dereg_mr(omr) && !ibv_dereg_mr(imr), "dereg_mr");
	cmr_session_close(&s);
	free(back);
	free(out);
	free(in);
}

struct dereg_later {
	struct ibv_mr *mr;
	double start, end;	/* when ibv_dereg_mr() was called, returned */
};

/* 0.3 s from now (the doorbell runs WRs in the posting thread). */
static void *dereg_later(void *arg)
{
	struct dereg_later *t = arg;

	usleep(300000);
	t->start = vt_now_s();
	vt_check(!ibv_dereg_mr(t->mr), "dereg_mr");
	t->end = vt_now_s();
	return NULL;
}

/*
 * The destination MR of a long WR deregistered while its backend runs:
 * dereg_mr does not wait for the WR, and the WR, whose output then has
 * nowhere to go, completes with a local protection error having written
 * nothing.
 */
static void dst_gone(void)
{
	uint32_t cap = ZSTD_compressBound(LONG_WR), level, i;
	struct cmrdv_device_attr attr;
	struct dereg_later t = {};
	struct ibv_mr *imr;
	uint8_t *in, *out;
	struct cmr_done d;
	double post, done;
	pthread_t th;

	cmr_session_open(&s, vt_dev(), 2);
	vt_check(!cmrdv_query_device(s.ctx, &attr), "cmrdv_query_device");
	level = attr.alg[CMRDV_ALG_ZSTD].max_level;
	in = malloc(LONG_WR);
	out = malloc(cap);
	vt_check(in && out, "alloc");
	fill(in, LONG_WR, true);
	memset(out, 0xa5, cap);
	imr = cmr_session_reg(&s, in, LONG_WR);
	t.mr = cmr_session_reg(&s, out, cap);

	post = vt_now_s();
	vt_check(!pthread_create(&th, NULL, dereg_later, &t), "thread");
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = ++checks;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	cmrdv_wr_compress(s.dqp, CMRDV_ALG_ZSTD, level, 0);
	ibv_wr_set_sge(s.qpx, imr->lkey, (uintptr_t)in, LONG_WR);
	cmrdv_wr_set_dst_sge(s.dqp, t.mr->lkey, (uintptr_t)out, cap);
	vt_check(!ibv_wr_complete(s.qpx), "ibv_wr_complete");
	cmr_session_wait(&s, &d);
	done = vt_now_s();
	pthread_join(th, NULL);
	printf("destination deregistered %.2f s into a %.1f s WR: dereg_mr took %.3f s, WR %s\n",
	       t.start - post, done - post, t.end - t.start,
	       cmr_done_error(&d));
	vt_check(done - t.end > 0.2,
		 "the WR ended %.2f s after dereg_mr returned", done - t.end);
	vt_check(d.status == IBV_WC_LOC_PROT_ERR,
		 "WR whose destination went away: %s", cmr_done_error(&d));
	for (i = 0; i < cap && out[i] == 0xa5; i++)
		;
	vt_check(i == cap, "a WR without a destination wrote byte %u", i);

	vt_check(!ibv_dereg_mr(imr), "dereg_mr");
	cmr_session_close(&s);
	free(out);
	free(in);
}

/*
 * The longest WR the device accepts: max_compute_size bytes of text at
 * zstd's highest reported level (tens of seconds under emulation), posted
 * by a thread that shares its only CPU with a ticker.  The WR runs in the
 * doorbell's system call, so the ticker gets the CPU only if the backend
 * reschedules on the way: it must never wait 5 s.  libzstd must read the
 * result.
 */
static void longest(void)
{
	struct cmrdv_device_attr attr;
	struct ibv_mr *imr, *omr;
	uint8_t *in, *out, *back;
	double max_gap = 0, t0;
	uint32_t n, cap, level;
	struct cmr_done d;
	cpu_set_t cpu;
	pthread_t th;

	CPU_ZERO(&cpu);
	CPU_SET(0, &cpu);
	vt_check(!sched_setaffinity(0, sizeof(cpu), &cpu), "pin to CPU 0");
	cmr_session_open(&s, vt_dev(), 8);
	vt_check(!cmrdv_query_device(s.ctx, &attr), "cmrdv_query_device");
	n = attr.max_compute_size;
	level = attr.alg[CMRDV_ALG_ZSTD].max_level;
	cap = ZSTD_compressBound(n);
	in = malloc(n);
	out = malloc(cap);
	back = malloc(n);
	vt_check(in && out && back, "alloc");
	fill(in, n, true);
	imr = cmr_session_reg(&s, in, n);
	omr = cmr_session_reg(&s, out, cap);

	atomic_store(&ticking, true);
	vt_check(!pthread_create(&th, NULL, ticker, &max_gap), "thread");
	t0 = vt_now_s();
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = ++checks;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	cmrdv_wr_compress(s.dqp, CMRDV_ALG_ZSTD, level, 0);
	ibv_wr_set_sge(s.qpx, imr->lkey, (uintptr_t)in, n);
	cmrdv_wr_set_dst_sge(s.dqp, omr->lkey, (uintptr_t)out, cap);
	vt_check(!ibv_wr_complete(s.qpx), "ibv_wr_complete");
	cmr_session_wait(&s, &d);
	t0 = vt_now_s() - t0;
	atomic_store(&ticking, false);
	pthread_join(th, NULL);
	vt_check(d.status == IBV_WC_SUCCESS, "zstd level %u, %u B: %s", level,
		 n, cmr_done_error(&d));
	vt_check(ZSTD_decompress(back, n, out, d.byte_len) == n &&
		 !memcmp(back, in, n), "libzstd cannot read the longest WR");
	printf("zstd level %u, %u B: %.1f s; the CPU's other thread waited at most %.2f s\n",
	       level, n, t0, max_gap);
	vt_check(max_gap < 5, "a %.1f s WR kept its CPU for %.1f s", t0,
		 max_gap);

	vt_check(!ibv_dereg_mr(omr) && !ibv_dereg_mr(imr), "dereg_mr");
	cmr_session_close(&s);
	free(back);
	free(out);
	free(in);
}

int main(void)
{
	struct ibv_device_attr_ex attr = {};
	int k;

	src = malloc(MAX_OUT);
	dst = malloc(MAX_OUT);
	ref = malloc(MAX_OUT);
	cmr_session_open(&s, vt_dev(), 8);
	vt_check(!ibv_query_device_ex(s.ctx, NULL, &attr), "query");
	for (k = 0; k < NUM_KINDS; k++) {
		int odp = k == PINNED ? 0 : IBV_ACCESS_ON_DEMAND;
		int rw = IBV_ACCESS_LOCAL_WRITE | odp;

		if (odp && !(attr.odp_caps.general_caps & IBV_ODP_SUPPORT))
			vt_die("device reports no ODP");
		if (k == IMPLICIT) {
			mrs[k][0] = ibv_reg_mr(s.pd, NULL, SIZE_MAX, rw);
			mrs[k][1] = mrs[k][0];
		} else {
			mrs[k][0] = ibv_reg_mr(s.pd, src, MAX_OUT, rw);
			mrs[k][1] = ibv_reg_mr(s.pd, dst, MAX_OUT, rw);
		}
		vt_check(mrs[k][0] && mrs[k][1], "%s MR", kind_name[k]);
	}

	/* With an engine's driver loaded: what it may serve, no more. */
	if (getenv("VT_COMPUTE_CODECS_ONLY")) {
		for (kind = 0; kind < NUM_KINDS; kind++)
			compression_interop();
		kind = PINNED;
		codec_errors();
		printf("%d compute WRs checked\n", checks);
		return 0;
	}
	kind = PINNED;
	gcm_vectors();
	digest_vectors();
	key_sizes();
	unsupported_objects();
	parent_domains();
	for (kind = 0; kind < NUM_KINDS; kind++) {
		compression_interop();
		crypto_interop();
	}
	kind = PINNED;
	exact_destinations();
	kind = ODP;
	streams();
	kind = PINNED;
	chain();
	events();
	errors();
	stream_failure();
	overlapping();
	malformed();
	long_batch(0, 2);
	long_batch(CMRDV_QP_CREATE_SQ_POLL, 2);
	dst_gone();
	longest();
	printf("%d compute WRs checked\n", checks);
	return 0;
}
