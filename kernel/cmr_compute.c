// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: compute WRs.  Parameter checks and dispatch to the backends
 * (cmr_comp.c, cmr_crypto.c), key and stream objects, per-context
 * workspaces, the registry of crypto API drivers with its module
 * parameters, and the debugfs benchmark.  The contract is in
 * cmr_compute.h.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/nospec.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <crypto/acompress.h>
#include <crypto/aead.h>
#include <crypto/hash.h>
#include <crypto/skcipher.h>

#include "cmr_compute_priv.h"

/*
 * Crypto API drivers
 *
 * A compressor (type ACOMPRESS) is served by a driver only for what an
 * engine's driver can do (one-shot WRs at its own level, see cmr_comp.c),
 * and by default only by an asynchronous driver already registered: the
 * engines' (QAT, HiSilicon ZIP, IAA; their modules load with their
 * devices).  The crypto API's software compressors are synchronous
 * wrappers (scomp) of the libraries cmr calls itself, with levels and
 * without their 128 KiB limit.
 */
struct cmr_be_desc {
	const char *name;		/* the algorithm's crypto API name */
	u32 type;			/* CRYPTO_ALG_TYPE_* */
	const char *lib;		/* ACOMPRESS: the library behind it */
	/*
	 * Requested driver, "" for the default, or lib for the library
	 * alone; under kernel_param_lock.
	 */
	char want[CRYPTO_MAX_ALG_NAME];
	/* Driver of the latest allocation, "" if none; under cmr_be_lock. */
	char used[CRYPTO_MAX_ALG_NAME];
	/*
	 * A tfm of the requested driver, held while it is requested, NULL
	 * for the default or the library; under kernel_param_lock.  It
	 * keeps the driver's module and shared set-up alive, so an engine's
	 * allocation never does first-time set-up: 6.1's scomp leaves its
	 * scratch users counted when allocating the scratches fails, and the
	 * next request then copies into a NULL buffer.
	 */
	void *held;
};

static DEFINE_MUTEX(cmr_be_lock);

static struct cmr_be_desc cmr_be[CMR_NUM_BE] = {
	[CMR_BE_DEFLATE] = { "deflate", CRYPTO_ALG_TYPE_ACOMPRESS, "lib/zlib" },
	[CMR_BE_LZ4] = { "lz4", CRYPTO_ALG_TYPE_ACOMPRESS, "lib/lz4" },
	[CMR_BE_ZSTD] = { "zstd", CRYPTO_ALG_TYPE_ACOMPRESS, "lib/zstd" },
	[CMR_BE_GCM] = { "gcm(aes)", CRYPTO_ALG_TYPE_AEAD },
	[CMR_BE_XTS] = { "xts(aes)", CRYPTO_ALG_TYPE_SKCIPHER },
	[CMR_BE_SHA256] = { "sha256", CRYPTO_ALG_TYPE_SHASH },
	[CMR_BE_HMAC_SHA256] = { "hmac(sha256)", CRYPTO_ALG_TYPE_SHASH },
	[CMR_BE_CRC32] = { "crc32", CRYPTO_ALG_TYPE_SHASH },
	[CMR_BE_CRC32C] = { "crc32c", CRYPTO_ALG_TYPE_SHASH },
};

static void cmr_be_free(enum cmr_be be, void *tfm)
{
	switch (cmr_be[be].type) {
	case CRYPTO_ALG_TYPE_ACOMPRESS:
		crypto_free_acomp(tfm);
		break;
	case CRYPTO_ALG_TYPE_AEAD:
		crypto_free_aead(tfm);
		break;
	case CRYPTO_ALG_TYPE_SKCIPHER:
		crypto_free_skcipher(tfm);
		break;
	default:
		crypto_free_shash(tfm);
		break;
	}
}

static bool cmr_be_is_lib(const struct cmr_be_desc *d, const char *driver)
{
	return d->lib && !strcmp(driver, d->lib);
}

/*
 * Allocate a tfm of algorithm @be from @driver ("" or NULL: whichever
 * implementation the crypto API prefers) and record who serves it.
 * -ENOENT: the library alone serves the compressor @be.
 */
static void *cmr_be_alloc(enum cmr_be be, const char *driver)
{
	struct cmr_be_desc *d = &cmr_be[be];
	bool pinned = driver && *driver;
	const char *name = pinned ? driver : d->name;
	struct crypto_tfm *base;
	void *tfm;

	switch (d->type) {
	case CRYPTO_ALG_TYPE_ACOMPRESS:
		if (pinned && cmr_be_is_lib(d, driver))
			return ERR_PTR(-ENOENT);
		/* By default an engine's: asynchronous, already there. */
		tfm = pinned ? crypto_alloc_acomp(name, 0, 0) :
			       crypto_alloc_acomp(name, CRYPTO_ALG_ASYNC,
						  CRYPTO_ALG_ASYNC |
						  CRYPTO_NOLOAD);
		if (IS_ERR(tfm))
			return tfm;
		base = crypto_acomp_tfm(tfm);
		break;
	case CRYPTO_ALG_TYPE_AEAD:
		tfm = crypto_alloc_aead(name, 0, 0);
		if (IS_ERR(tfm))
			return tfm;
		base = crypto_aead_tfm(tfm);
		break;
	case CRYPTO_ALG_TYPE_SKCIPHER:
		tfm = crypto_alloc_skcipher(name, 0, 0);
		if (IS_ERR(tfm))
			return tfm;
		base = crypto_skcipher_tfm(tfm);
		break;
	default:
		tfm = crypto_alloc_shash(name, 0, 0);
		if (IS_ERR(tfm))
			return tfm;
		base = crypto_shash_tfm(tfm);
		break;
	}
	/* A driver name may belong to another algorithm: insist on ours. */
	if (strcmp(crypto_tfm_alg_name(base), d->name)) {
		cmr_be_free(be, tfm);
		return ERR_PTR(-EINVAL);
	}
	mutex_lock(&cmr_be_lock);
	strscpy(d->used, crypto_tfm_alg_driver_name(base), sizeof(d->used));
	mutex_unlock(&cmr_be_lock);
	return tfm;
}

/*
 * Allocate from the driver the administrator chose, if any.  If none can
 * be had (the default driver's module went and cannot be loaded), nothing
 * serves @be now.
 */
static void *cmr_be_get(enum cmr_be be)
{
	char driver[CRYPTO_MAX_ALG_NAME];
	void *tfm;

	kernel_param_lock(THIS_MODULE);
	strscpy(driver, cmr_be[be].want, sizeof(driver));
	kernel_param_unlock(THIS_MODULE);
	tfm = cmr_be_alloc(be, driver);
	if (IS_ERR(tfm)) {
		mutex_lock(&cmr_be_lock);
		cmr_be[be].used[0] = '\0';
		mutex_unlock(&cmr_be_lock);
	}
	return tfm;
}

struct crypto_acomp *cmr_be_alloc_acomp(enum cmr_be be)
{
	if (cmr_be[be].type != CRYPTO_ALG_TYPE_ACOMPRESS)
		return ERR_PTR(-EINVAL);
	return cmr_be_get(be);
}

struct crypto_aead *cmr_be_alloc_aead(enum cmr_be be)
{
	if (cmr_be[be].type != CRYPTO_ALG_TYPE_AEAD)
		return ERR_PTR(-EINVAL);
	return cmr_be_get(be);
}

struct crypto_skcipher *cmr_be_alloc_skcipher(enum cmr_be be)
{
	if (cmr_be[be].type != CRYPTO_ALG_TYPE_SKCIPHER)
		return ERR_PTR(-EINVAL);
	return cmr_be_get(be);
}

struct crypto_shash *cmr_be_alloc_shash(enum cmr_be be)
{
	if (cmr_be[be].type != CRYPTO_ALG_TYPE_SHASH)
		return ERR_PTR(-EINVAL);
	return cmr_be_get(be);
}

/* Record which driver serves @be without keeping a tfm. */
static void cmr_be_probe(enum cmr_be be)
{
	void *tfm = cmr_be_get(be);

	if (!IS_ERR(tfm))
		cmr_be_free(be, tfm);
}

/*
 * Module parameters <alg>_driver.  The caller (module loading or a sysfs
 * write) holds kernel_param_lock(THIS_MODULE).  A driver is accepted only
 * if it can be allocated and implements the parameter's algorithm; a
 * compressor's also takes its library's name.
 */
static int cmr_param_set_driver(const char *val, const struct kernel_param *kp)
{
	struct cmr_be_desc *d = kp->arg;
	enum cmr_be be = d - cmr_be;
	char buf[CRYPTO_MAX_ALG_NAME];
	char *name;
	void *tfm;

	if (strscpy(buf, val, sizeof(buf)) < 0)
		return -ENAMETOOLONG;
	name = strim(buf);
	tfm = cmr_be_alloc(be, name);
	if (IS_ERR(tfm)) {
		if (*name && !cmr_be_is_lib(d, name))
			return PTR_ERR(tfm);
		/* The default (or the library), even if no driver serves. */
		mutex_lock(&cmr_be_lock);
		d->used[0] = '\0';
		mutex_unlock(&cmr_be_lock);
		tfm = NULL;
	} else if (!*name) {
		cmr_be_free(be, tfm);
		tfm = NULL;
	}
	if (d->held)
		cmr_be_free(be, d->held);
	d->held = tfm;
	strscpy(d->want, name, sizeof(d->want));
	return 0;
}

/* At unload, or if loading fails after the parameters were set. */
static void cmr_param_free_driver(void *arg)
{
	struct cmr_be_desc *d = arg;

	if (d->held)
		cmr_be_free(d - cmr_be, d->held);
	d->held = NULL;
}

static int cmr_param_get_driver(char *buffer, const struct kernel_param *kp)
{
	const struct cmr_be_desc *d = kp->arg;

	return sysfs_emit(buffer, "%s\n", d->want);
}

static const struct kernel_param_ops cmr_param_driver_ops = {
	.set = cmr_param_set_driver,
	.get = cmr_param_get_driver,
	.free = cmr_param_free_driver,
};

#define CMR_DRIVER_PARAM(pname, be, alg)				\
	module_param_cb(pname, &cmr_param_driver_ops, &cmr_be[be], 0644); \
	MODULE_PARM_DESC(pname, "crypto API driver for " alg		\
			 " (empty: the highest-priority one)")
#define CMR_COMP_DRIVER_PARAM(pname, be, alg, lib)			\
	module_param_cb(pname, &cmr_param_driver_ops, &cmr_be[be], 0644); \
	MODULE_PARM_DESC(pname, "compression engine's crypto API driver " \
			 "for " alg " (empty: an asynchronous one if "	\
			 "registered; " lib ": none)")

CMR_COMP_DRIVER_PARAM(deflate_driver, CMR_BE_DEFLATE, "deflate", "lib/zlib");
CMR_COMP_DRIVER_PARAM(lz4_driver, CMR_BE_LZ4, "lz4", "lib/lz4");
CMR_COMP_DRIVER_PARAM(zstd_driver, CMR_BE_ZSTD, "zstd", "lib/zstd");

CMR_DRIVER_PARAM(gcm_aes_driver, CMR_BE_GCM, "gcm(aes)");
CMR_DRIVER_PARAM(xts_aes_driver, CMR_BE_XTS, "xts(aes)");
CMR_DRIVER_PARAM(sha256_driver, CMR_BE_SHA256, "sha256");
CMR_DRIVER_PARAM(hmac_sha256_driver, CMR_BE_HMAC_SHA256, "hmac(sha256)");
CMR_DRIVER_PARAM(crc32_driver, CMR_BE_CRC32, "crc32");
CMR_DRIVER_PARAM(crc32c_driver, CMR_BE_CRC32C, "crc32c");

/* Algorithms */

struct cmr_alg_desc {
	const char *name;		/* in sysfs and the benchmark */
	int (*run)(struct cmr_run *r);
	enum cmr_be be;			/* crypto API algorithm, if any */
	bool keyed;			/* takes a key object */
	bool streams;			/* takes a stream object */
};

static const struct cmr_alg_desc cmr_algs[CMR_NUM_ALGS] = {
	[CMR_ALG_MEMCPY] = {
		.name = "memcpy", .run = cmr_comp_memcpy,
	},
	[CMR_ALG_DEFLATE] = {
		.name = "deflate", .run = cmr_comp_deflate,
		.be = CMR_BE_DEFLATE, .streams = true,
	},
	[CMR_ALG_LZ4] = {
		.name = "lz4", .run = cmr_comp_lz4, .be = CMR_BE_LZ4,
	},
	[CMR_ALG_ZSTD] = {
		.name = "zstd", .run = cmr_comp_zstd, .be = CMR_BE_ZSTD,
		.streams = true,
	},
	[CMR_ALG_AES_GCM] = {
		.name = "aes-gcm", .run = cmr_crypto_gcm, .be = CMR_BE_GCM,
		.keyed = true,
	},
	[CMR_ALG_AES_XTS] = {
		.name = "aes-xts", .run = cmr_crypto_xts, .be = CMR_BE_XTS,
		.keyed = true,
	},
	[CMR_ALG_SHA256] = {
		.name = "sha256", .run = cmr_crypto_digest,
		.be = CMR_BE_SHA256,
	},
	[CMR_ALG_HMAC_SHA256] = {
		.name = "hmac-sha256", .run = cmr_crypto_digest,
		.be = CMR_BE_HMAC_SHA256, .keyed = true,
	},
	[CMR_ALG_CRC32] = {
		.name = "crc32", .run = cmr_crypto_digest, .be = CMR_BE_CRC32,
	},
	[CMR_ALG_CRC32C] = {
		.name = "crc32c", .run = cmr_crypto_digest,
		.be = CMR_BE_CRC32C,
	},
};

/*
 * What serves algorithm @d now, into @buf: a crypto API driver, a library,
 * or "driver,library" (the driver takes what it can, the library the
 * rest), or "unavailable".  Returns whether anything serves it.
 */
static bool cmr_alg_backend(const struct cmr_alg_desc *d, char *buf,
			    size_t len)
{
	const struct cmr_be_desc *be = &cmr_be[d->be];
	bool served = true;

	if (d->be == CMR_BE_NONE) {
		strscpy(buf, d->name, len);	/* memcpy */
		return true;
	}
	/* Ask now: drivers come and go with their modules. */
	cmr_be_probe(d->be);
	mutex_lock(&cmr_be_lock);
	if (be->lib && be->used[0]) {
		snprintf(buf, len, "%s,%s", be->used, be->lib);
	} else if (be->lib) {
		strscpy(buf, be->lib, len);
	} else if (be->used[0]) {
		strscpy(buf, be->used, len);
	} else {
		strscpy(buf, "unavailable", len);
		served = false;
	}
	mutex_unlock(&cmr_be_lock);
	return served;
}

ssize_t cmr_compute_backends_show(char *buf)
{
	char backend[2 * CRYPTO_MAX_ALG_NAME];
	int len = 0, i;

	for (i = 0; i < CMR_NUM_ALGS; i++) {
		cmr_alg_backend(&cmr_algs[i], backend, sizeof(backend));
		len += sysfs_emit_at(buf, len, "%s %s\n", cmr_algs[i].name,
				     backend);
	}
	return len;
}

/*
 * Capabilities, for QUERY_COMPUTE: every algorithm the crypto API serves is
 * allocated once here, so "supported" means that a key or workspace could
 * be created now.
 */
void cmr_compute_query_caps(struct cmr_compute_caps *caps)
{
	const struct cmr_alg_desc *d;
	struct cmr_alg_caps *c;
	int i;

	caps->num_algs = CMR_NUM_ALGS;
	for (i = 0; i < CMR_NUM_ALGS; i++) {
		d = &cmr_algs[i];
		c = &caps->alg[i];
		memset(c, 0, sizeof(*c));
		if (!cmr_alg_backend(d, c->backend, sizeof(c->backend)))
			continue;
		c->flags = CMR_ALG_CAP_SUPPORTED;
		if (d->streams)
			c->flags |= CMR_ALG_CAP_STREAM;
		if (d->keyed)
			c->flags |= CMR_ALG_CAP_KEYED;
		cmr_comp_levels(i, &c->min_level, &c->max_level,
				&c->default_level);
		cmr_crypto_key_sizes(i, &c->min_key_size, &c->max_key_size,
				     &c->key_size_step);
	}
}

/* Objects */

struct cmr_key *cmr_key_create(enum cmr_compute_alg alg, const void *material,
			       u32 len)
{
	struct cmr_key *key;
	int err;

	if ((unsigned int)alg >= CMR_NUM_ALGS || !material)
		return ERR_PTR(-EINVAL);
	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key)
		return ERR_PTR(-ENOMEM);
	key->alg = alg;
	err = cmr_crypto_key_init(key, material, len);
	if (err) {
		kfree(key);
		return ERR_PTR(err);
	}
	return key;
}

void cmr_key_destroy(struct cmr_key *key)
{
	if (!key)
		return;
	cmr_crypto_key_fini(key);
	kfree(key);
}

static bool cmr_frame_ok(unsigned int alg, u32 frame)
{
	if (alg == CMR_ALG_DEFLATE)
		return frame <= CMR_COMPUTE_FRAME_GZIP;
	return frame == CMR_COMPUTE_FRAME_RAW;
}

struct cmr_stream *cmr_stream_create(enum cmr_compute_alg alg,
				     enum cmr_compute_dir dir, u32 level,
				     u32 flags)
{
	u32 frame = flags & CMR_COMPUTE_FRAME_MASK;
	struct cmr_stream *s;
	int err;

	if ((unsigned int)alg >= CMR_NUM_ALGS ||
	    (unsigned int)dir >= CMR_NUM_DIRS)
		return ERR_PTR(-EINVAL);
	alg = array_index_nospec(alg, CMR_NUM_ALGS);
	if (!cmr_algs[alg].streams)
		return ERR_PTR(-EOPNOTSUPP);
	if ((flags & ~CMR_COMPUTE_FRAME_MASK) || !cmr_frame_ok(alg, frame) ||
	    !cmr_comp_level_ok(alg, level))
		return ERR_PTR(-EINVAL);

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	s->alg = alg;
	s->dir = dir;
	s->frame = frame;
	s->level = level;
	mutex_init(&s->lock);
	err = cmr_comp_stream_init(s);
	if (err) {
		cmr_comp_stream_fini(s);
		mutex_destroy(&s->lock);
		kfree(s);
		return ERR_PTR(err);
	}
	return s;
}

/*
 * The output of the stream's last WR was lost (it could not be delivered):
 * the stream can no longer produce a valid result.
 */
void cmr_stream_kill(struct cmr_stream *s)
{
	mutex_lock(&s->lock);
	s->dead = true;
	mutex_unlock(&s->lock);
}

void cmr_stream_destroy(struct cmr_stream *s)
{
	if (!s)
		return;
	cmr_comp_stream_fini(s);
	mutex_destroy(&s->lock);
	kfree(s);
}

struct cmr_compute_ws *cmr_compute_ws_alloc(void)
{
	return kzalloc(sizeof(struct cmr_compute_ws), GFP_KERNEL_ACCOUNT);
}

void cmr_compute_ws_free(struct cmr_compute_ws *ws)
{
	if (!ws)
		return;
	cmr_comp_ws_fini(ws);
	cmr_crypto_ws_fini(ws);
	kfree(ws);
}

/* Dispatch */

int cmr_compute_run(struct cmr_compute_ws *ws,
		    const struct cmr_compute_params *p, struct cmr_key *key,
		    struct cmr_stream *stream, const void *src, u32 src_len,
		    void *dst, u32 dst_cap, u32 *produced,
		    u8 result[CMR_COMPUTE_RESULT_LEN])
{
	struct cmr_run r = {
		.ws = ws, .p = p, .key = key, .stream = stream,
		.src = src, .src_len = src_len, .dst = dst, .dst_cap = dst_cap,
		.result = result,
	};
	const struct cmr_alg_desc *d;
	unsigned int alg;
	u32 frame;
	int ret;

	*produced = 0;
	memset(result, 0, CMR_COMPUTE_RESULT_LEN);

	if (p->alg >= CMR_NUM_ALGS || p->dir >= CMR_NUM_DIRS)
		return CMR_VERR_BAD_PARAM;
	alg = array_index_nospec(p->alg, CMR_NUM_ALGS);
	d = &cmr_algs[alg];
	frame = p->flags & CMR_COMPUTE_FRAME_MASK;
	if ((p->flags & ~(CMR_COMPUTE_FRAME_MASK | CMR_COMPUTE_STREAM_END)) ||
	    !cmr_frame_ok(alg, frame) || !cmr_comp_level_ok(alg, p->level) ||
	    (p->aad_len && alg != CMR_ALG_AES_GCM) ||
	    (p->data_unit_size && alg != CMR_ALG_AES_XTS) ||
	    (!src && src_len) || (!dst && dst_cap))
		return CMR_VERR_BAD_PARAM;
	if (key && !d->keyed)
		return CMR_VERR_BAD_KEY;
	/* Backends may form pointers from src and dst: never NULL. */
	if (!src)
		r.src = ws->empty;
	if (!dst)
		r.dst = ws->empty;

	if (!stream) {
		ret = d->run(&r);
	} else {
		if (!d->streams || stream->alg != alg ||
		    stream->dir != p->dir || stream->frame != frame)
			return CMR_VERR_BAD_STREAM;
		mutex_lock(&stream->lock);
		if (stream->dead) {
			ret = CMR_VERR_STREAM_FAILED;
		} else {
			ret = d->run(&r);
			/* Input was consumed or lost: no way to resume. */
			if (ret)
				stream->dead = true;
		}
		mutex_unlock(&stream->lock);
	}

	if (ret) {
		memset(result, 0, CMR_COMPUTE_RESULT_LEN);
		return ret;
	}
	*produced = r.produced;
	return 0;
}

/* debugfs: cmr/bench */

#define CMR_BENCH_MAX_SIZE	(64U << 20)
#define CMR_BENCH_MAX_ITERS	10000000U

struct cmr_bench {
	const struct cmr_alg_desc *d;
	struct cmr_compute_params p;
	u32 size;
	u32 iters;
	bool perf_data;			/* data=perf: cmr-perf's test data */
};

/* Serialises benchmark runs; protects cmr_bench_result. */
static DEFINE_MUTEX(cmr_bench_lock);
static char cmr_bench_result[320] = "no benchmark run yet\n";

static struct dentry *cmr_debugfs_dir;	/* NULL unless we created it */
static struct dentry *cmr_bench_file;

/* Text with pseudo-random stretches: compresses about 2:1 to 3:1. */
static void cmr_bench_fill(u8 *buf, u32 len)
{
	static const char text[] =
		"cmr: compression and crypto the way RDMA NICs do it. ";
	u32 x = 0x2545f491, i = 0, run, j;

	while (i < len) {
		x = x * 1103515245 + 12345;
		run = min(16 + (x >> 26), len - i);
		if ((x >> 8) & 3) {
			for (j = 0; j < run; j++)
				buf[i + j] = text[((x >> 12) + j) %
						  (sizeof(text) - 1)];
		} else {
			for (j = 0; j < run; j++) {
				x = x * 1103515245 + 12345;
				buf[i + j] = x >> 24;
			}
		}
		i += run;
	}
}

/*
 * The test data of examples/cmr-perf.c (words with 1/16 random bytes), so
 * that device and backend can be compared on the same bytes: codecs' speed
 * depends on the data.
 */
static void cmr_bench_fill_perf(u8 *buf, u32 len)
{
	static const char words[] = "the quick brown fox jumps over a lazy "
		"dog while compressed memory regions flow through the queue ";
	u32 x = 12345, i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (x >> 24) < 16 ? (u8)(x >> 8) :
					  words[i % (sizeof(words) - 1)];
	}
}

static int cmr_bench_run(struct cmr_bench *b)
{
	static const u8 material[64] = {
		0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
		0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
		0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
		0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
		0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
		0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
		0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00,
	};
	enum cmr_compute_alg alg = b->p.alg;
	char backend[2 * CRYPTO_MAX_ALG_NAME];
	u8 result[CMR_COMPUTE_RESULT_LEN];
	struct cmr_compute_ws *ws;
	struct cmr_key *key = NULL;
	u8 *plain, *in, *out;
	u32 cap, in_len, n, i;
	u64 t0, ns;
	int ret;

	/* Room for any expansion: compression bounds, the GCM tag. */
	cap = b->size + b->size / 8 + 4096;
	ws = cmr_compute_ws_alloc();
	plain = kvmalloc(b->size, GFP_KERNEL);
	in = kvmalloc(cap, GFP_KERNEL);
	out = kvmalloc(cap, GFP_KERNEL);
	ret = -ENOMEM;
	if (!ws || !plain || !in || !out)
		goto out_free;
	if (b->perf_data)
		cmr_bench_fill_perf(plain, b->size);
	else
		cmr_bench_fill(plain, b->size);

	if (b->d->keyed) {
		key = cmr_key_create(alg, material,
				     alg == CMR_ALG_AES_XTS ? 64 : 32);
		if (IS_ERR(key)) {
			ret = PTR_ERR(key);
			key = NULL;
			goto out_free;
		}
	}

	/*
	 * The inverse runs on what the forward direction made of plain; GCM
	 * keeps the AAD in front of it, and its plain output omits the AAD.
	 */
	in_len = b->size;
	memcpy(in, plain, b->size);
	if (b->p.dir == CMR_DIR_INVERSE) {
		struct cmr_compute_params fwd = b->p;
		u32 aad = b->p.aad_len;

		fwd.dir = CMR_DIR_FORWARD;
		ret = cmr_compute_run(ws, &fwd, key, NULL, plain, b->size,
				      in + aad, cap - aad, &in_len, result);
		if (ret)
			goto out_verr;
		in_len += aad;
	}

	/* One untimed run allocates the workspace. */
	ret = cmr_compute_run(ws, &b->p, key, NULL, in, in_len, out, cap, &n,
			      result);
	if (ret)
		goto out_verr;
	if (b->p.dir == CMR_DIR_INVERSE &&
	    (n != b->size - b->p.aad_len ||
	     memcmp(out, plain + b->p.aad_len, n))) {
		ret = -EILSEQ;
		goto out_free;
	}

	t0 = ktime_get_ns();
	for (i = 0; i < b->iters; i++) {
		ret = cmr_compute_run(ws, &b->p, key, NULL, in, in_len, out,
				      cap, &n, result);
		if (ret)
			goto out_verr;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out_free;
		}
		cond_resched();
	}
	ns = max_t(u64, ktime_get_ns() - t0, 1);

	cmr_alg_backend(b->d, backend, sizeof(backend));

	snprintf(cmr_bench_result, sizeof(cmr_bench_result),
		 "alg=%s dir=%s size=%u iterations=%u level=%u flags=%u aad=%u unit=%u data=%s in_bytes=%u out_bytes=%u backend=%s ns_per_op=%llu MBps=%llu\n",
		 b->d->name, b->p.dir == CMR_DIR_FORWARD ? "fwd" : "inv",
		 b->size, b->iters, b->p.level, b->p.flags, b->p.aad_len,
		 b->p.data_unit_size, b->perf_data ? "perf" : "text",
		 in_len, n, backend,
		 div64_u64(ns, b->iters),
		 div64_u64((u64)b->size * b->iters * 1000, ns));
	ret = 0;
	goto out_free;

out_verr:
	/* The WR itself failed (e.g. unsupported): report its code. */
	snprintf(cmr_bench_result, sizeof(cmr_bench_result),
		 "alg=%s error=%d\n", b->d->name, ret);
	ret = ret > 0 ? -EINVAL : ret;
out_free:
	cmr_key_destroy(key);
	kvfree(out);
	kvfree(in);
	kvfree(plain);
	cmr_compute_ws_free(ws);
	return ret;
}

/* "ALG DIR SIZE ITERATIONS [level=N] [unit=N] [aad=N] [data=text|perf]" */
static int cmr_bench_parse(char *line, struct cmr_bench *b)
{
	char *tok[8], *s = strim(line), *v;
	int n = 0, i;
	u32 val;

	memset(b, 0, sizeof(*b));
	while (n < ARRAY_SIZE(tok) && (v = strsep(&s, " \t")))
		if (*v)
			tok[n++] = v;
	if (n < 4 || s)
		return -EINVAL;

	if (!strcmp(tok[0], "zlib") || !strcmp(tok[0], "gzip")) {
		b->p.flags = tok[0][0] == 'z' ? CMR_COMPUTE_FRAME_ZLIB :
						CMR_COMPUTE_FRAME_GZIP;
		tok[0] = "deflate";
	}
	for (i = 0; i < CMR_NUM_ALGS; i++)
		if (!strcmp(tok[0], cmr_algs[i].name))
			break;
	if (i == CMR_NUM_ALGS)
		return -EINVAL;
	b->d = &cmr_algs[i];
	b->p.alg = i;

	if (!strcmp(tok[1], "fwd"))
		b->p.dir = CMR_DIR_FORWARD;
	else if (!strcmp(tok[1], "inv"))
		b->p.dir = CMR_DIR_INVERSE;
	else
		return -EINVAL;
	if (kstrtou32(tok[2], 0, &b->size) || !b->size ||
	    b->size > CMR_BENCH_MAX_SIZE)
		return -EINVAL;
	if (kstrtou32(tok[3], 0, &b->iters) || !b->iters ||
	    b->iters > CMR_BENCH_MAX_ITERS)
		return -EINVAL;

	for (i = 4; i < n; i++) {
		v = strchr(tok[i], '=');
		if (!v)
			return -EINVAL;
		*v = '\0';
		if (!strcmp(tok[i], "data")) {
			if (!strcmp(v + 1, "perf"))
				b->perf_data = true;
			else if (strcmp(v + 1, "text"))
				return -EINVAL;
			continue;
		}
		if (kstrtou32(v + 1, 0, &val))
			return -EINVAL;
		if (!strcmp(tok[i], "level") && val <= U8_MAX)
			b->p.level = val;
		else if (!strcmp(tok[i], "unit"))
			b->p.data_unit_size = val;
		else if (!strcmp(tok[i], "aad") && val <= b->size)
			b->p.aad_len = val;
		else
			return -EINVAL;
	}
	/* GCM: the source is AAD || text; the inverse needs a tag. */
	memcpy(b->p.iv, "cmr-bench-iv-16b", sizeof(b->p.iv));
	return 0;
}

static ssize_t cmr_bench_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	struct cmr_bench b;
	char line[128];
	int err;

	if (!count || count >= sizeof(line))
		return -EINVAL;
	if (copy_from_user(line, ubuf, count))
		return -EFAULT;
	line[count] = '\0';
	err = cmr_bench_parse(line, &b);
	if (err)
		return err;

	mutex_lock(&cmr_bench_lock);
	err = cmr_bench_run(&b);
	mutex_unlock(&cmr_bench_lock);
	return err ? err : count;
}

static ssize_t cmr_bench_read(struct file *file, char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&cmr_bench_lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, cmr_bench_result,
				      strlen(cmr_bench_result));
	mutex_unlock(&cmr_bench_lock);
	return ret;
}

static const struct file_operations cmr_bench_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = cmr_bench_read,
	.write = cmr_bench_write,
	.llseek = default_llseek,
};

/*
 * debugfs files live in "cmr", which the rest of the module may have
 * created already; we remove the directory only if we created it.
 */
int cmr_compute_init(void)
{
	struct dentry *dir = debugfs_lookup("cmr", NULL);

	if (!dir) {
		dir = debugfs_create_dir("cmr", NULL);
		cmr_debugfs_dir = dir;
	}
	cmr_bench_file = debugfs_create_file("bench", 0600, dir, NULL,
					     &cmr_bench_fops);
	if (!cmr_debugfs_dir)
		dput(dir);
	return 0;
}

void cmr_compute_exit(void)
{
	debugfs_remove(cmr_bench_file);
	debugfs_remove(cmr_debugfs_dir);
	cmr_bench_file = NULL;
	cmr_debugfs_dir = NULL;
}
