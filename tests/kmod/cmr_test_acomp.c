// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr_test_acomp: an asynchronous compression driver standing in for a
 * compression engine's (QAT, HiSilicon ZIP, IAA) in tests.  It registers
 * "deflate", "lz4" and "zstd" above the crypto API's software
 * implementations and completes every request later, from a workqueue as
 * an engine's interrupt would, with the result of the software
 * implementation (and its 128 KiB limit).  The requests it completed
 * successfully are counted in /sys/module/cmr_test_acomp/parameters/.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <crypto/internal/acompress.h>

struct cta_alg {
	struct acomp_alg alg;
	unsigned int compressed;	/* under cta_count_lock */
	unsigned int decompressed;	/* under cta_count_lock */
};

struct cta_tfm_ctx {
	struct cta_alg *alg;
	struct crypto_acomp *fallback;
	/* Serialises the requests of this tfm; protects fallback_req. */
	struct mutex lock;
	struct acomp_req *fallback_req;
};

struct cta_req_ctx {
	struct work_struct work;
	struct acomp_req *req;
	bool compress;
};

static DEFINE_SPINLOCK(cta_count_lock);
static struct workqueue_struct *cta_wq;

static void cta_work(struct work_struct *work)
{
	struct cta_req_ctx *rctx = container_of(work, struct cta_req_ctx,
						work);
	struct acomp_req *req = rctx->req;
	struct cta_tfm_ctx *ctx = acomp_tfm_ctx(crypto_acomp_reqtfm(req));
	struct acomp_req *fb = ctx->fallback_req;
	DECLARE_CRYPTO_WAIT(wait);
	int err;

	mutex_lock(&ctx->lock);
	acomp_request_set_params(fb, req->src, req->dst, req->slen,
				 req->dlen);
	acomp_request_set_callback(fb, CRYPTO_TFM_REQ_MAY_SLEEP,
				   crypto_req_done, &wait);
	err = crypto_wait_req(rctx->compress ? crypto_acomp_compress(fb) :
					       crypto_acomp_decompress(fb),
			      &wait);
	req->dlen = fb->dlen;
	mutex_unlock(&ctx->lock);

	if (!err) {
		spin_lock(&cta_count_lock);
		if (rctx->compress)
			ctx->alg->compressed++;
		else
			ctx->alg->decompressed++;
		spin_unlock(&cta_count_lock);
	}
	acomp_request_complete(req, err);
}

static int cta_queue(struct acomp_req *req, bool compress)
{
	struct cta_req_ctx *rctx = acomp_request_ctx(req);

	rctx->req = req;
	rctx->compress = compress;
	INIT_WORK(&rctx->work, cta_work);
	queue_work(cta_wq, &rctx->work);
	return -EINPROGRESS;
}

static int cta_compress(struct acomp_req *req)
{
	return cta_queue(req, true);
}

static int cta_decompress(struct acomp_req *req)
{
	return cta_queue(req, false);
}

static int cta_init(struct crypto_acomp *tfm)
{
	struct cta_tfm_ctx *ctx = acomp_tfm_ctx(tfm);
	struct crypto_alg *base = crypto_acomp_tfm(tfm)->__crt_alg;

	ctx->alg = container_of(base, struct cta_alg, alg.base);
	/* The same algorithm's synchronous (software) implementation. */
	ctx->fallback = crypto_alloc_acomp(base->cra_name, 0,
					   CRYPTO_ALG_ASYNC);
	if (IS_ERR(ctx->fallback))
		return PTR_ERR(ctx->fallback);
	ctx->fallback_req = acomp_request_alloc(ctx->fallback);
	if (!ctx->fallback_req) {
		crypto_free_acomp(ctx->fallback);
		return -ENOMEM;
	}
	mutex_init(&ctx->lock);
	return 0;
}

static void cta_exit(struct crypto_acomp *tfm)
{
	struct cta_tfm_ctx *ctx = acomp_tfm_ctx(tfm);

	acomp_request_free(ctx->fallback_req);
	crypto_free_acomp(ctx->fallback);
	mutex_destroy(&ctx->lock);
}

#define CTA_ALG(name) {							\
	.alg = {							\
		.compress = cta_compress,				\
		.decompress = cta_decompress,				\
		.init = cta_init,					\
		.exit = cta_exit,					\
		.reqsize = sizeof(struct cta_req_ctx),			\
		.base = {						\
			.cra_name = name,				\
			.cra_driver_name = name "-cmr-test",		\
			.cra_priority = 5000,				\
			.cra_flags = CRYPTO_ALG_ASYNC,			\
			.cra_ctxsize = sizeof(struct cta_tfm_ctx),	\
			.cra_module = THIS_MODULE,			\
		},							\
	},								\
}

static struct cta_alg cta_algs[] = {
	CTA_ALG("deflate"),
	CTA_ALG("lz4"),
	CTA_ALG("zstd"),
};

#define CTA_COUNTERS(i, name)						\
	module_param_named(name##_compressed, cta_algs[i].compressed,	\
			   uint, 0444);					\
	module_param_named(name##_decompressed, cta_algs[i].decompressed, \
			   uint, 0444)

CTA_COUNTERS(0, deflate);
CTA_COUNTERS(1, lz4);
CTA_COUNTERS(2, zstd);

static int __init cta_module_init(void)
{
	int i, err;

	cta_wq = alloc_workqueue("cmr_test_acomp", WQ_UNBOUND, 0);
	if (!cta_wq)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(cta_algs); i++) {
		err = crypto_register_acomp(&cta_algs[i].alg);
		if (err)
			goto fail;
	}
	return 0;

fail:
	while (i--)
		crypto_unregister_acomp(&cta_algs[i].alg);
	destroy_workqueue(cta_wq);
	return err;
}

static void __exit cta_module_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(cta_algs); i++)
		crypto_unregister_acomp(&cta_algs[i].alg);
	destroy_workqueue(cta_wq);
}

module_init(cta_module_init);
module_exit(cta_module_exit);
MODULE_DESCRIPTION("cmr tests: an asynchronous acomp driver");
MODULE_LICENSE("Dual BSD/GPL");
