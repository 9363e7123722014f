// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: crypto, digest and checksum backends, all through the kernel crypto
 * API so that whichever driver serves the algorithm (a hardware engine
 * included) serves the WR: AES-GCM (aead "gcm(aes)"), AES-XTS (skcipher
 * "xts(aes)"), SHA-256, HMAC-SHA256, CRC32 and CRC32C (shash); and the
 * compression engines' drivers (acomp "deflate", "lz4", "zstd") for the
 * WRs cmr_comp.c hands them.  An asynchronous driver is waited for: WRs of
 * one context run one at a time.
 */
#include <crypto/acompress.h>
#include <crypto/aead.h>
#include <crypto/hash.h>
#include <crypto/skcipher.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cmr_compute_priv.h"
#include "compat.h"

#define CMR_GCM_IV_LEN		12
#define CMR_GCM_TAG_LEN		16
#define CMR_XTS_IV_LEN		16
#define CMR_XTS_MIN_LEN		16	/* one AES block */
#define CMR_HMAC_MAX_KEY	CMR_MAX_KEY_LEN
#define CMR_DIGEST_LEN		32	/* SHA-256 */
#define CMR_CRC_LEN		4

#define CMR_CRYPTO_REQ_FLAGS	(CRYPTO_TFM_REQ_MAY_BACKLOG | \
				 CRYPTO_TFM_REQ_MAY_SLEEP)

/* Keys */

/*
 * Key lengths each keyed algorithm accepts: min, min + step, ..., max.
 * cmr_crypto_key_init() checks against this table and the compute caps
 * report it, so the two cannot disagree.
 */
struct cmr_key_range {
	u16 min;
	u16 max;
	u16 step;
};

static const struct cmr_key_range cmr_key_ranges[CMR_NUM_ALGS] = {
	[CMR_ALG_AES_GCM] = { 16, 32, 16 },		/* AES-128, AES-256 */
	[CMR_ALG_AES_XTS] = { 32, 64, 32 },		/* two AES-128/256 keys */
	[CMR_ALG_HMAC_SHA256] = { 1, CMR_HMAC_MAX_KEY, 1 },
};

static bool cmr_key_len_ok(enum cmr_compute_alg alg, u32 len)
{
	const struct cmr_key_range *r = &cmr_key_ranges[alg];

	return r->step && len >= r->min && len <= r->max &&
	       (len - r->min) % r->step == 0;
}

int cmr_crypto_key_init(struct cmr_key *key, const void *material, u32 len)
{
	int err;

	/* An algorithm without keys, or a key size it does not take. */
	if (!cmr_key_len_ok(key->alg, len))
		return -EOPNOTSUPP;

	switch (key->alg) {
	case CMR_ALG_AES_GCM:
		key->aead = cmr_be_alloc_aead(CMR_BE_GCM);
		if (IS_ERR(key->aead))
			break;
		err = crypto_aead_setauthsize(key->aead, CMR_GCM_TAG_LEN) ?:
		      crypto_aead_setkey(key->aead, material, len);
		if (!err && crypto_aead_ivsize(key->aead) != CMR_GCM_IV_LEN)
			err = -EINVAL;
		goto out;
	case CMR_ALG_AES_XTS:
		key->xts = cmr_be_alloc_skcipher(CMR_BE_XTS);
		if (IS_ERR(key->xts))
			break;
		/* Refuse equal halves, as fscrypt does. */
		crypto_skcipher_set_flags(key->xts,
					  CRYPTO_TFM_REQ_FORBID_WEAK_KEYS);
		err = crypto_skcipher_setkey(key->xts, material, len);
		if (!err && crypto_skcipher_ivsize(key->xts) != CMR_XTS_IV_LEN)
			err = -EINVAL;
		goto out;
	case CMR_ALG_HMAC_SHA256:
		key->hmac = cmr_be_alloc_shash(CMR_BE_HMAC_SHA256);
		if (IS_ERR(key->hmac))
			break;
		err = crypto_shash_setkey(key->hmac, material, len);
		goto out;
	default:
		return -EINVAL;
	}
	/* Allocation failed; all union members alias. */
	err = PTR_ERR(key->aead);
	key->aead = NULL;
	return err;

out:
	if (err)
		cmr_crypto_key_fini(key);
	return err;
}

/* crypto_free_*() zero the expanded key before freeing it. */
void cmr_crypto_key_fini(struct cmr_key *key)
{
	switch (key->alg) {
	case CMR_ALG_AES_GCM:
		crypto_free_aead(key->aead);
		break;
	case CMR_ALG_AES_XTS:
		crypto_free_skcipher(key->xts);
		break;
	case CMR_ALG_HMAC_SHA256:
		crypto_free_shash(key->hmac);
		break;
	default:
		break;
	}
	key->aead = NULL;
}

/*
 * Scatterlists over the linear buffers of struct cmr_run: the linear map
 * (a pinned user page, kmalloc) is described by one entry, vmalloc by one
 * per page.  Whether a buffer is vmalloc is asked once per WR.
 */
struct cmr_sg_part {
	const u8 *buf;
	u32 len;
	bool vmalloc;
};

static struct cmr_sg_part cmr_sg_part_of(const u8 *buf, u32 len)
{
	return (struct cmr_sg_part){
		.buf = buf, .len = len, .vmalloc = is_vmalloc_addr(buf),
	};
}

static unsigned int cmr_sg_count(const struct cmr_sg_part *part)
{
	if (!part->len)
		return 0;
	if (!part->vmalloc)
		return 1;	/* physically contiguous */
	return DIV_ROUND_UP(offset_in_page(part->buf) + part->len, PAGE_SIZE);
}

/* A vmalloc buffer, page by page. */
static noinline unsigned int cmr_sg_add_vmalloc(struct scatterlist *sg,
						const u8 *buf, u32 len)
{
	unsigned int n = 0, off, chunk;

	while (len) {
		off = offset_in_page(buf);
		chunk = min_t(u32, len, PAGE_SIZE - off);
		sg_set_page(&sg[n++], vmalloc_to_page(buf), chunk, off);
		buf += chunk;
		len -= chunk;
	}
	return n;
}

static __always_inline unsigned int cmr_sg_add(struct scatterlist *sg,
					       const struct cmr_sg_part *part)
{
	if (!part->len)
		return 0;
	if (part->vmalloc)
		return cmr_sg_add_vmalloc(sg, part->buf, part->len);
	sg_set_buf(sg, part->buf, part->len);
	return 1;
}

/* Entries for a then b (b may be NULL); at least one. */
static unsigned int cmr_sg_nents(const struct cmr_sg_part *a,
				 const struct cmr_sg_part *b)
{
	return max(cmr_sg_count(a) + (b ? cmr_sg_count(b) : 0), 1U);
}

/*
 * Describe a then b in table t of ws (0: source, 1: destination) as its
 * nents == cmr_sg_nents(a, b) entries, which it has room for.  A table
 * keeps its end mark between WRs: it is set up anew only when the number
 * of entries changes.
 */
static __always_inline struct scatterlist *
cmr_sg_fill(struct cmr_compute_ws *ws, unsigned int t, unsigned int nents,
	    const struct cmr_sg_part *a, const struct cmr_sg_part *b)
{
	struct scatterlist *sg = ws->sg + t * ws->sg_cap;
	unsigned int n;

	if (ws->sg_nents[t] != nents) {
		sg_init_table(sg, nents);
		ws->sg_nents[t] = nents;
	}
	n = cmr_sg_add(sg, a);
	if (b)
		n += cmr_sg_add(sg + n, b);
	if (!n)
		sg_set_buf(sg, ws->empty, 0);
	return sg;
}

/*
 * Room for nents source and nents destination entries and a request of
 * req_size bytes.  Grows only: after the first WRs of a context the fast
 * path allocates nothing.
 */
static int cmr_ws_prepare(struct cmr_compute_ws *ws, unsigned int nents,
			  unsigned int req_size)
{
	struct scatterlist *sg;
	void *req;

	if (nents > ws->sg_cap) {
		sg = kvmalloc_array(2 * (size_t)nents, sizeof(*sg),
				    GFP_KERNEL_ACCOUNT);
		if (!sg)
			return -ENOMEM;
		kvfree(ws->sg);
		ws->sg = sg;
		ws->sg_cap = nents;
		ws->sg_nents[0] = 0;
		ws->sg_nents[1] = 0;
	}
	if (req_size > ws->req_size) {
		/* kmalloc: some drivers DMA from the request context. */
		req = kmalloc(req_size, GFP_KERNEL_ACCOUNT);
		if (!req)
			return -ENOMEM;
		kfree_sensitive(ws->req);
		ws->req = req;
		ws->req_size = req_size;
	}
	return 0;
}

/* AES-GCM */

int cmr_crypto_gcm(struct cmr_run *r)
{
	const struct cmr_compute_params *p = r->p;
	struct cmr_compute_ws *ws = r->ws;
	bool enc = p->dir == CMR_DIR_FORWARD;
	struct cmr_sg_part src, aad_part, dst;
	struct scatterlist *sgs, *sgd;
	struct aead_request *req;
	struct crypto_aead *tfm;
	u32 aad = p->aad_len, text, out;
	DECLARE_CRYPTO_WAIT(wait);
	unsigned int ns, nd;
	int err;

	if (!r->key || r->key->alg != CMR_ALG_AES_GCM)
		return CMR_VERR_BAD_KEY;
	if (aad > r->src_len)
		return CMR_VERR_BAD_PARAM;
	text = r->src_len - aad;
	if (enc) {
		if (text > U32_MAX - CMR_GCM_TAG_LEN)
			return CMR_VERR_DST_TOO_SMALL;
		out = text + CMR_GCM_TAG_LEN;
	} else {
		if (text < CMR_GCM_TAG_LEN)
			return CMR_VERR_CORRUPT_INPUT;
		out = text - CMR_GCM_TAG_LEN;
	}
	if (r->dst_cap < out)
		return CMR_VERR_DST_TOO_SMALL;

	tfm = r->key->aead;
	src = cmr_sg_part_of(r->src, r->src_len);
	aad_part = src;
	aad_part.len = aad;
	dst = cmr_sg_part_of(r->dst, out);
	ns = cmr_sg_nents(&src, NULL);
	nd = cmr_sg_nents(&aad_part, &dst);
	err = cmr_ws_prepare(ws, max(ns, nd),
			     sizeof(*req) + crypto_aead_reqsize(tfm));
	if (err)
		return err;

	/*
	 * The API wants the AAD at the start of the destination too; it is
	 * only read (or copied onto itself), so point at the source's, as
	 * net/tls does, rather than demand room for it in dst.
	 */
	sgs = cmr_sg_fill(ws, 0, ns, &src, NULL);
	sgd = cmr_sg_fill(ws, 1, nd, &aad_part, &dst);
	memcpy(ws->iv, p->iv, CMR_GCM_IV_LEN);

	req = ws->req;
	aead_request_set_tfm(req, tfm);
	aead_request_set_callback(req, CMR_CRYPTO_REQ_FLAGS, crypto_req_done,
				  &wait);
	aead_request_set_crypt(req, sgs, sgd, text, ws->iv);
	aead_request_set_ad(req, aad);
	err = crypto_wait_req(enc ? crypto_aead_encrypt(req) :
				    crypto_aead_decrypt(req), &wait);
	if (err) {
		/* Unauthenticated plaintext must not reach the user. */
		if (!enc)
			memset(r->dst, 0, out);
		return err == -EBADMSG ? CMR_VERR_AUTH_FAILED : err;
	}
	r->produced = out;
	return 0;
}

/* AES-XTS */

int cmr_crypto_xts(struct cmr_run *r)
{
	const struct cmr_compute_params *p = r->p;
	struct cmr_compute_ws *ws = r->ws;
	bool enc = p->dir == CMR_DIR_FORWARD;
	struct cmr_sg_part src, dst;
	struct skcipher_request *req;
	struct scatterlist *sgs, *sgd;
	struct crypto_skcipher *tfm;
	DECLARE_CRYPTO_WAIT(wait);
	u32 unit, off;
	u64 lo, hi;
	int err;

	if (!r->key || r->key->alg != CMR_ALG_AES_XTS)
		return CMR_VERR_BAD_KEY;
	unit = p->data_unit_size ? p->data_unit_size : r->src_len;
	if (r->src_len < CMR_XTS_MIN_LEN || unit < CMR_XTS_MIN_LEN ||
	    r->src_len % unit)
		return CMR_VERR_BAD_PARAM;
	if (r->dst_cap < r->src_len)
		return CMR_VERR_DST_TOO_SMALL;

	tfm = r->key->xts;
	/* Worst case of one unit in a vmalloc buffer. */
	err = cmr_ws_prepare(ws, DIV_ROUND_UP(unit, PAGE_SIZE) + 1,
			     sizeof(*req) + crypto_skcipher_reqsize(tfm));
	if (err)
		return err;
	req = ws->req;

	/* The tweak is a 128-bit little-endian number, + 1 per unit. */
	lo = get_unaligned_le64(p->iv);
	hi = get_unaligned_le64(p->iv + 8);
	src = cmr_sg_part_of(r->src, unit);
	dst = cmr_sg_part_of(r->dst, unit);
	for (off = 0; off < r->src_len; off += unit) {
		src.buf = r->src + off;
		dst.buf = r->dst + off;
		sgs = cmr_sg_fill(ws, 0, cmr_sg_nents(&src, NULL), &src, NULL);
		sgd = cmr_sg_fill(ws, 1, cmr_sg_nents(&dst, NULL), &dst, NULL);
		put_unaligned_le64(lo, ws->iv);
		put_unaligned_le64(hi, ws->iv + 8);

		skcipher_request_set_tfm(req, tfm);
		skcipher_request_set_callback(req, CMR_CRYPTO_REQ_FLAGS,
					      crypto_req_done, &wait);
		skcipher_request_set_crypt(req, sgs, sgd, unit, ws->iv);
		err = crypto_wait_req(enc ? crypto_skcipher_encrypt(req) :
					    crypto_skcipher_decrypt(req),
				      &wait);
		if (err)
			return err;
		if (!++lo)
			hi++;
		cond_resched();
	}
	r->produced = r->src_len;
	return 0;
}

/* Compression drivers */

/*
 * The context's request on the compression driver for @be, or NULL when
 * the library serves @be.  The driver is chosen when the context first
 * needs one and kept, as the hash tfms are; a failed allocation is not
 * remembered (the library serves this WR, the next one tries again).
 */
static struct acomp_req *cmr_ws_acomp(struct cmr_compute_ws *ws,
				      enum cmr_be be)
{
	struct crypto_acomp *tfm;
	struct acomp_req *req;

	if (ws->acomp_req[be] || (ws->acomp_none & BIT(be)))
		return ws->acomp_req[be];
	tfm = cmr_be_alloc_acomp(be);
	if (IS_ERR(tfm)) {
		if (PTR_ERR(tfm) != -ENOMEM)
			ws->acomp_none |= BIT(be);
		return NULL;
	}
	/* A software driver's request carries its codec's workspace. */
	req = acomp_request_alloc(tfm);
	if (!req) {
		crypto_free_acomp(tfm);
		return NULL;
	}
	ws->acomp_req[be] = req;
	return req;
}

/*
 * Compress (FORWARD) or decompress r's source into @dst on the driver
 * serving @be.  Returns 0 with *produced set; -ENOENT if no driver serves
 * @be; another error if the driver could not do it.  On any error the
 * caller runs the library, which also decides the WR's status: drivers
 * report a short destination and corrupt input alike.
 */
int cmr_crypto_acomp(struct cmr_run *r, enum cmr_be be, u8 *dst, u32 dst_cap,
		     u32 *produced)
{
	struct cmr_compute_ws *ws = r->ws;
	struct cmr_sg_part src_part, dst_part;
	struct scatterlist *sgs, *sgd;
	DECLARE_CRYPTO_WAIT(wait);
	struct acomp_req *req;
	unsigned int ns, nd;
	int err;

	req = cmr_ws_acomp(ws, be);
	if (!req)
		return -ENOENT;
	if (!r->src_len || !dst_cap)
		return -EINVAL;		/* drivers refuse empty buffers */
	src_part = cmr_sg_part_of(r->src, r->src_len);
	dst_part = cmr_sg_part_of(dst, dst_cap);
	ns = cmr_sg_nents(&src_part, NULL);
	nd = cmr_sg_nents(&dst_part, NULL);
	err = cmr_ws_prepare(ws, max(ns, nd), 0);
	if (err)
		return err;
	sgs = cmr_sg_fill(ws, 0, ns, &src_part, NULL);
	sgd = cmr_sg_fill(ws, 1, nd, &dst_part, NULL);

	acomp_request_set_params(req, sgs, sgd, r->src_len, dst_cap);
	acomp_request_set_callback(req, CMR_CRYPTO_REQ_FLAGS, crypto_req_done,
				   &wait);
	err = crypto_wait_req(r->p->dir == CMR_DIR_FORWARD ?
			      crypto_acomp_compress(req) :
			      crypto_acomp_decompress(req), &wait);
	if (err)
		return err;
	if (req->dlen > dst_cap)
		return -EIO;
	*produced = req->dlen;
	return 0;
}

/* Digests and checksums */

static const enum cmr_be cmr_ws_hash_be[CMR_NUM_WS_HASH] = {
	[CMR_WS_SHA256] = CMR_BE_SHA256,
	[CMR_WS_CRC32] = CMR_BE_CRC32,
	[CMR_WS_CRC32C] = CMR_BE_CRC32C,
};

/* The context's tfm for an unkeyed hash, allocated on first use. */
static struct crypto_shash *cmr_ws_hash(struct cmr_compute_ws *ws,
					enum cmr_ws_hash h)
{
	struct crypto_shash *tfm = ws->hash[h];
	__le32 seed;
	int err;

	if (tfm)
		return tfm;
	tfm = cmr_be_alloc_shash(cmr_ws_hash_be[h]);
	if (IS_ERR(tfm))
		return tfm;
	if (h == CMR_WS_CRC32) {
		/*
		 * "crc32" is crc32_le() without inversions and seed 0; zlib's
		 * crc32() starts from ~0 and inverts the result.
		 */
		seed = cpu_to_le32(~0U);
		err = crypto_shash_setkey(tfm, (const u8 *)&seed, sizeof(seed));
		if (err) {
			crypto_free_shash(tfm);
			return ERR_PTR(err);
		}
	}
	ws->hash[h] = tfm;
	return tfm;
}

/* Hash in chunks: one update of 2 GiB would hog the CPU. */
static int cmr_shash(struct crypto_shash *tfm, const u8 *data, u32 len,
		     u8 *out)
{
	SHASH_DESC_ON_STACK(desc, tfm);
	int err;

	desc->tfm = tfm;
	if (len <= CMR_COMPUTE_CHUNK) {
		err = crypto_shash_digest(desc, data, len, out);
		goto out;
	}
	err = crypto_shash_init(desc);
	while (!err && len > CMR_COMPUTE_CHUNK) {
		err = crypto_shash_update(desc, data, CMR_COMPUTE_CHUNK);
		data += CMR_COMPUTE_CHUNK;
		len -= CMR_COMPUTE_CHUNK;
		cond_resched();
	}
	if (!err)
		err = crypto_shash_finup(desc, data, len, out);
out:
	shash_desc_zero(desc);	/* HMAC state is key material */
	return err;
}

int cmr_crypto_digest(struct cmr_run *r)
{
	struct crypto_shash *tfm;
	u32 size, crc;
	int err;

	if (r->p->dir != CMR_DIR_FORWARD)
		return CMR_VERR_BAD_PARAM;

	switch (r->p->alg) {
	case CMR_ALG_HMAC_SHA256:
		if (!r->key || r->key->alg != CMR_ALG_HMAC_SHA256)
			return CMR_VERR_BAD_KEY;
		tfm = r->key->hmac;
		size = CMR_DIGEST_LEN;
		break;
	case CMR_ALG_SHA256:
		tfm = cmr_ws_hash(r->ws, CMR_WS_SHA256);
		size = CMR_DIGEST_LEN;
		break;
	case CMR_ALG_CRC32:
		tfm = cmr_ws_hash(r->ws, CMR_WS_CRC32);
		size = CMR_CRC_LEN;
		break;
	case CMR_ALG_CRC32C:
		tfm = cmr_ws_hash(r->ws, CMR_WS_CRC32C);
		size = CMR_CRC_LEN;
		break;
	default:
		return CMR_VERR_BAD_PARAM;
	}
	if (IS_ERR(tfm))
		return PTR_ERR(tfm) == -ENOENT ? CMR_VERR_UNSUPPORTED :
						 PTR_ERR(tfm);
	if (r->dst_cap && r->dst_cap < size)
		return CMR_VERR_DST_TOO_SMALL;
	if (crypto_shash_digestsize(tfm) != size)
		return -EINVAL;

	/* On failure cmr_compute_run() clears the result again. */
	BUILD_BUG_ON(CMR_COMPUTE_RESULT_LEN < CMR_DIGEST_LEN);
	err = cmr_shash(tfm, r->src, r->src_len, r->result);
	if (err)
		return err;
	if (r->p->alg == CMR_ALG_CRC32) {
		crc = ~get_unaligned_le32(r->result);
		put_unaligned_le32(crc, r->result);
	}
	if (r->dst_cap) {
		memcpy(r->dst, r->result, size);
		r->produced = size;
	}
	return 0;
}

void cmr_crypto_key_sizes(enum cmr_compute_alg alg, u16 *min, u16 *max,
			  u16 *step)
{
	const struct cmr_key_range *r = &cmr_key_ranges[alg];

	*min = r->min;
	*max = r->max;
	*step = r->step;
}

void cmr_crypto_ws_fini(struct cmr_compute_ws *ws)
{
	int i;

	for (i = 0; i < CMR_NUM_WS_HASH; i++)
		if (ws->hash[i])
			crypto_free_shash(ws->hash[i]);
	for (i = 0; i < CMR_NUM_BE; i++) {
		struct acomp_req *req = ws->acomp_req[i];

		if (req) {
			struct crypto_acomp *tfm = crypto_acomp_reqtfm(req);

			acomp_request_free(req);
			crypto_free_acomp(tfm);
		}
	}
	kvfree(ws->sg);
	kfree_sensitive(ws->req);	/* request contexts may hold key state */
}
