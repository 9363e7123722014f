// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr_test_acomp: an asynchronous compression driver standing in for a
 * compression engine's (QAT, HiSilicon ZIP, IAA) in tests.  It registers
 * "deflate", "lz4" and "zstd" above the crypto API's software
 * implementations and completes every request later, from a workqueue as
 * an engine's interrupt would, with the result of the software
 * implementation (and its 128 KiB limit).  The requests it completed
 * successfully are counted in /sys/module/cmr_test_acomp/parameters/.
 *
 * The software implementations are set up when the module loads, not per
 * tfm: a tfm is then as cheap as an engine's, and fault injection in its
 * user's thread does not reach 6.1's scompress, whose failed scratch
 * allocation leaves the scratch buffers NULL for every later user.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <crypto/internal/acompress.h>

struct cta_alg {
	struct acomp_alg alg;
	struct crypto_acomp *fallback;	/* the software implementation */
	/* Serialises the requests of all tfms; protects fallback_req. */
	struct mutex lock;
	struct acomp_req *fallback_req;
	unsigned int compressed;	/* under cta_count_lock */
	unsigned int decompressed;	/* under cta_count_lock */
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
	struct crypto_tfm *tfm = crypto_acomp_tfm(crypto_acomp_reqtfm(req));
	struct cta_alg *a = container_of(tfm->__crt_alg, struct cta_alg,
					 alg.base);
	struct acomp_req *fb = a->fallback_req;
	DECLARE_CRYPTO_WAIT(wait);
	int err;

	mutex_lock(&a->lock);
	acomp_request_set_params(fb, req->src, req->dst, req->slen,
				 req->dlen);
	acomp_request_set_callback(fb, CRYPTO_TFM_REQ_MAY_SLEEP,
				   crypto_req_done, &wait);
	err = crypto_wait_req(rctx->compress ? crypto_acomp_compress(fb) :
					       crypto_acomp_decompress(fb),
			      &wait);
	req->dlen = fb->dlen;
	mutex_unlock(&a->lock);

	if (!err) {
		spin_lock(&cta_count_lock);
		if (rctx->compress)
			a->compressed++;
		else
			a->decompressed++;
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

/* The same algorithm's synchronous (software) implementation. */
static int cta_fallback_init(struct cta_alg *a)
{
	a->fallback = crypto_alloc_acomp(a->alg.base.cra_name, 0,
					 CRYPTO_ALG_ASYNC);
	if (IS_ERR(a->fallback))
		return PTR_ERR(a->fallback);
	a->fallback_req = acomp_request_alloc(a->fallback);
	if (!a->fallback_req) {
		crypto_free_acomp(a->fallback);
		return -ENOMEM;
	}
	mutex_init(&a->lock);
	return 0;
}

static void cta_fallback_fini(struct cta_alg *a)
{
	acomp_request_free(a->fallback_req);
	crypto_free_acomp(a->fallback);
	mutex_destroy(&a->lock);
}

#define CTA_ALG(name) {							\
	.alg = {							\
		.compress = cta_compress,				\
		.decompress = cta_decompress,				\
		.reqsize = sizeof(struct cta_req_ctx),			\
		.base = {						\
			.cra_name = name,				\
			.cra_driver_name = name "-cmr-test",		\
			.cra_priority = 5000,				\
			.cra_flags = CRYPTO_ALG_ASYNC,			\
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
		err = cta_fallback_init(&cta_algs[i]);
		if (err)
			goto fail;
		err = crypto_register_acomp(&cta_algs[i].alg);
		if (err) {
			cta_fallback_fini(&cta_algs[i]);
			goto fail;
		}
	}
	return 0;

fail:
	while (i--) {
		crypto_unregister_acomp(&cta_algs[i].alg);
		cta_fallback_fini(&cta_algs[i]);
	}
	destroy_workqueue(cta_wq);
	return err;
}

static void __exit cta_module_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(cta_algs); i++) {
		crypto_unregister_acomp(&cta_algs[i].alg);
		cta_fallback_fini(&cta_algs[i]);
	}
	destroy_workqueue(cta_wq);
}

module_init(cta_module_init);
module_exit(cta_module_exit);
MODULE_DESCRIPTION("cmr tests: an asynchronous acomp driver");
MODULE_LICENSE("Dual BSD/GPL");
