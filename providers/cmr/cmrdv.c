// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libcmr: cmrdv direct verbs (include/infiniband/cmrdv.h) — compute
 * capabilities, keys, streams and compute QPs.  Keys, streams and the
 * capability query are driver-specific uverbs ioctl methods; the WQE
 * builders live with the other send builders in qp.c, the result of a
 * completion with the CQ in cq.c.
 *
 * Errors: int-returning calls return a positive errno, pointer-returning
 * ones NULL with errno set; EOPNOTSUPP for objects of other devices and
 * for kernels without compute.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ccan/minmax.h>
#include <infiniband/cmd_ioctl.h>
#include <infiniband/cmd_write.h>

#include "cmr.h"

/*
 * The public names are the ABI's numbers, so values pass through unchanged
 * (compared as int: they are different enum types).
 */
#define CMR_SAME_AS_ABI(pub, abi) \
	static_assert((int)(pub) == (int)(abi), #pub " differs from " #abi)

CMR_SAME_AS_ABI(CMRDV_ALG_MEMCPY, CMR_ALG_MEMCPY);
CMR_SAME_AS_ABI(CMRDV_ALG_DEFLATE, CMR_ALG_DEFLATE);
CMR_SAME_AS_ABI(CMRDV_ALG_LZ4, CMR_ALG_LZ4);
CMR_SAME_AS_ABI(CMRDV_ALG_ZSTD, CMR_ALG_ZSTD);
CMR_SAME_AS_ABI(CMRDV_ALG_AES_GCM, CMR_ALG_AES_GCM);
CMR_SAME_AS_ABI(CMRDV_ALG_AES_XTS, CMR_ALG_AES_XTS);
CMR_SAME_AS_ABI(CMRDV_ALG_SHA256, CMR_ALG_SHA256);
CMR_SAME_AS_ABI(CMRDV_ALG_HMAC_SHA256, CMR_ALG_HMAC_SHA256);
CMR_SAME_AS_ABI(CMRDV_ALG_CRC32, CMR_ALG_CRC32);
CMR_SAME_AS_ABI(CMRDV_ALG_CRC32C, CMR_ALG_CRC32C);
CMR_SAME_AS_ABI(CMRDV_NUM_ALGS, CMR_NUM_ALGS);

CMR_SAME_AS_ABI(CMRDV_FORWARD, CMR_DIR_FORWARD);
CMR_SAME_AS_ABI(CMRDV_INVERSE, CMR_DIR_INVERSE);

CMR_SAME_AS_ABI(CMRDV_DEFLATE_RAW, CMR_COMPUTE_FRAME_RAW);
CMR_SAME_AS_ABI(CMRDV_DEFLATE_ZLIB, CMR_COMPUTE_FRAME_ZLIB);
CMR_SAME_AS_ABI(CMRDV_DEFLATE_GZIP, CMR_COMPUTE_FRAME_GZIP);
CMR_SAME_AS_ABI(CMRDV_STREAM_END, CMR_COMPUTE_STREAM_END);

CMR_SAME_AS_ABI(CMRDV_ALG_CAP_SUPPORTED, CMR_ALG_CAP_SUPPORTED);
CMR_SAME_AS_ABI(CMRDV_ALG_CAP_STREAM, CMR_ALG_CAP_STREAM);
CMR_SAME_AS_ABI(CMRDV_ALG_CAP_KEYED, CMR_ALG_CAP_KEYED);

CMR_SAME_AS_ABI(CMRDV_ERR_DST_TOO_SMALL, CMR_VERR_DST_TOO_SMALL);
CMR_SAME_AS_ABI(CMRDV_ERR_CORRUPT_INPUT, CMR_VERR_CORRUPT_INPUT);
CMR_SAME_AS_ABI(CMRDV_ERR_AUTH_FAILED, CMR_VERR_AUTH_FAILED);
CMR_SAME_AS_ABI(CMRDV_ERR_BAD_KEY, CMR_VERR_BAD_KEY);
CMR_SAME_AS_ABI(CMRDV_ERR_BAD_STREAM, CMR_VERR_BAD_STREAM);
CMR_SAME_AS_ABI(CMRDV_ERR_BAD_PARAM, CMR_VERR_BAD_PARAM);
CMR_SAME_AS_ABI(CMRDV_ERR_UNSUPPORTED, CMR_VERR_UNSUPPORTED);
CMR_SAME_AS_ABI(CMRDV_ERR_PREV_FAILED, CMR_VERR_PREV_FAILED);
CMR_SAME_AS_ABI(CMRDV_ERR_STREAM_FAILED, CMR_VERR_STREAM_FAILED);

CMR_SAME_AS_ABI(CMRDV_WC_COMPUTE, CMR_CQE_OPCODE_COMPUTE);

static_assert(sizeof(((struct cmrdv_alg_caps *)0)->backend) ==
	      sizeof(((struct cmr_alg_caps *)0)->backend),
	      "backend names differ in size");
static_assert(sizeof(((struct cmr_compute_params *)0)->iv) ==
	      sizeof(((struct cmrdv_crypto_attr *)0)->iv),
	      "IVs differ in size");

/*
 * A kernel without compute has no such method or object: uverbs answers
 * EPROTONOSUPPORT, which callers see as EOPNOTSUPP like any other
 * unsupported feature.
 */
static int cmr_execute(struct ibv_context *ibctx, struct ibv_command_buffer *cmd)
{
	int ret = execute_ioctl(ibctx, cmd);

	return ret == EPROTONOSUPPORT ? EOPNOTSUPP : ret;
}

/* Capabilities */

int cmrdv_query_device(struct ibv_context *ibctx,
		       struct cmrdv_device_attr *attr)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_DEVICE,
			       CMR_METHOD_QUERY_COMPUTE, 1);
	struct cmr_compute_caps caps = {};
	unsigned int i, num_algs;
	int ret;

	if (!ibctx || !attr)
		return EINVAL;
	if (!is_cmr_dev(ibctx->device))
		return EOPNOTSUPP;

	fill_attr_out_ptr(cmd, CMR_ATTR_QUERY_COMPUTE_CAPS, &caps);
	ret = cmr_execute(ibctx, cmd);
	if (ret)
		return ret;

	memset(attr, 0, sizeof(*attr));
	attr->max_compute_size = caps.max_compute_size;
	attr->max_keys = caps.max_keys;
	attr->max_streams = caps.max_streams;
	attr->sq_poll = caps.sq_poll;
	/* Algorithms a newer kernel knows and this header does not stay out. */
	num_algs = min_t(unsigned int, caps.num_algs, CMRDV_NUM_ALGS);
	for (i = 0; i < num_algs; i++) {
		const struct cmr_alg_caps *from = &caps.alg[i];
		struct cmrdv_alg_caps *to = &attr->alg[i];

		to->flags = from->flags;
		to->min_level = from->min_level;
		to->max_level = from->max_level;
		to->default_level = from->default_level;
		to->min_key_size = from->min_key_size;
		to->max_key_size = from->max_key_size;
		to->key_size_step = from->key_size_step;
		memcpy(to->backend, from->backend, sizeof(to->backend));
		to->backend[sizeof(to->backend) - 1] = 0;
	}
	return 0;
}

/* Keys and streams: uverbs objects of the context, bound to a PD */

static int cmr_destroy_object(struct ibv_context *ibctx, uint16_t object_id,
			      uint16_t method_id, uint16_t attr_id,
			      uint32_t handle)
{
	DECLARE_COMMAND_BUFFER(cmd, object_id, method_id, 1);
	int ret;

	fill_attr_in_obj(cmd, attr_id, handle);
	ret = cmr_execute(ibctx, cmd);
	/* After a disassociation the kernel already destroyed it. */
	verbs_is_destroy_err(&ret);
	return ret;
}

/*
 * A WQE names "no key" and "no stream" with 0, so a kernel must never
 * hand out number 0; if one did, the object would be unusable.
 */
static int cmr_check_num(struct ibv_context *ibctx, const char *what,
			 uint32_t num)
{
	if (num)
		return 0;
	verbs_err(verbs_get_ctx(ibctx), "cmr: the kernel returned %s 0\n",
		  what);
	return EPROTO;
}

struct cmrdv_key *cmrdv_create_key(struct ibv_pd *pd,
				   const struct cmrdv_key_init_attr *attr)
{
	DECLARE_COMMAND_BUFFER(cmd, CMR_OBJECT_KEY, CMR_METHOD_KEY_CREATE, 5);
	struct ib_uverbs_attr *handle, *material;
	struct cmrdv_key *key;
	uint32_t key_num = 0;
	int ret;

	if (!pd || !attr) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_cmr_dev(pd->context->device) || attr->comp_mask) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	/* Which algorithms take keys, and of which sizes, is the kernel's. */
	if ((unsigned int)attr->alg >= CMRDV_NUM_ALGS || !attr->material ||
	    !attr->length || attr->length > CMR_MAX_KEY_LEN) {
		errno = EINVAL;
		return NULL;
	}

	key = calloc(1, sizeof(*key));
	if (!key)
		return NULL;

	handle = fill_attr_out_obj(cmd, CMR_ATTR_KEY_CREATE_HANDLE);
	fill_attr_in_obj(cmd, CMR_ATTR_KEY_CREATE_PD, pd->handle);
	fill_attr_in_uint32(cmd, CMR_ATTR_KEY_CREATE_ALG, attr->alg);
	material = fill_attr_in(cmd, CMR_ATTR_KEY_CREATE_MATERIAL,
				attr->material, attr->length);
	fill_attr_out_ptr(cmd, CMR_ATTR_KEY_CREATE_NUM, &key_num);
	ret = cmr_execute(pd->context, cmd);
	/* Material of up to 8 bytes travels inside the command: wipe it. */
	explicit_bzero(&material->data, sizeof(material->data));
	if (ret)
		goto err_free;

	key->pd = cmr_protection_domain(pd);
	key->handle = read_attr_obj(CMR_ATTR_KEY_CREATE_HANDLE, handle);
	key->key_num = key_num;
	key->alg = attr->alg;
	ret = cmr_check_num(pd->context, "key_num", key_num);
	if (ret)
		goto err_destroy;
	return key;

err_destroy:
	cmr_destroy_object(pd->context, CMR_OBJECT_KEY, CMR_METHOD_KEY_DESTROY,
			   CMR_ATTR_KEY_DESTROY_HANDLE, key->handle);
err_free:
	free(key);
	errno = ret;
	return NULL;
}

int cmrdv_destroy_key(struct cmrdv_key *key)
{
	int ret;

	if (!key)
		return EINVAL;
	ret = cmr_destroy_object(key->pd->context, CMR_OBJECT_KEY,
				 CMR_METHOD_KEY_DESTROY,
				 CMR_ATTR_KEY_DESTROY_HANDLE, key->handle);
	if (ret)
		return ret;
	free(key);
	return 0;
}

struct cmrdv_stream *
cmrdv_create_stream(struct ibv_pd *pd, const struct cmrdv_stream_init_attr *attr)
{
	DECLARE_COMMAND_BUFFER(cmd, CMR_OBJECT_STREAM, CMR_METHOD_STREAM_CREATE,
			       4);
	struct cmr_stream_params params = {};
	struct cmrdv_stream *stream;
	struct ib_uverbs_attr *handle;
	uint32_t stream_num = 0;
	int ret;

	if (!pd || !attr) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_cmr_dev(pd->context->device) || attr->comp_mask) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	/*
	 * Which algorithms stream is the kernel's; the level must fit a
	 * WQE and flags are deflate framing only (STREAM_END is per WR).
	 */
	if ((unsigned int)attr->alg >= CMRDV_NUM_ALGS ||
	    (unsigned int)attr->dir >= CMR_NUM_DIRS ||
	    attr->level > UINT8_MAX ||
	    (attr->flags & ~CMR_COMPUTE_FRAME_MASK) ||
	    attr->flags > CMR_COMPUTE_FRAME_GZIP) {
		errno = EINVAL;
		return NULL;
	}

	stream = calloc(1, sizeof(*stream));
	if (!stream)
		return NULL;

	params.alg = attr->alg;
	params.dir = attr->dir;
	params.level = attr->level;
	params.flags = attr->flags;
	handle = fill_attr_out_obj(cmd, CMR_ATTR_STREAM_CREATE_HANDLE);
	fill_attr_in_obj(cmd, CMR_ATTR_STREAM_CREATE_PD, pd->handle);
	fill_attr_in_ptr(cmd, CMR_ATTR_STREAM_CREATE_PARAMS, &params);
	fill_attr_out_ptr(cmd, CMR_ATTR_STREAM_CREATE_NUM, &stream_num);
	ret = cmr_execute(pd->context, cmd);
	if (ret)
		goto err_free;

	stream->pd = cmr_protection_domain(pd);
	stream->handle = read_attr_obj(CMR_ATTR_STREAM_CREATE_HANDLE, handle);
	stream->stream_num = stream_num;
	stream->alg = attr->alg;
	stream->dir = attr->dir;
	stream->level = attr->level;
	stream->flags = attr->flags;
	ret = cmr_check_num(pd->context, "stream_num", stream_num);
	if (ret)
		goto err_destroy;
	return stream;

err_destroy:
	cmr_destroy_object(pd->context, CMR_OBJECT_STREAM,
			   CMR_METHOD_STREAM_DESTROY,
			   CMR_ATTR_STREAM_DESTROY_HANDLE, stream->handle);
err_free:
	free(stream);
	errno = ret;
	return NULL;
}

int cmrdv_destroy_stream(struct cmrdv_stream *stream)
{
	int ret;

	if (!stream)
		return EINVAL;
	ret = cmr_destroy_object(stream->pd->context, CMR_OBJECT_STREAM,
				 CMR_METHOD_STREAM_DESTROY,
				 CMR_ATTR_STREAM_DESTROY_HANDLE, stream->handle);
	if (ret)
		return ret;
	free(stream);
	return 0;
}

/* Compute QPs */

enum {
	CMRDV_QP_COMP_MASK = CMRDV_QP_INIT_ATTR_MASK_SEND_OPS_FLAGS |
			     CMRDV_QP_INIT_ATTR_MASK_CREATE_FLAGS,
	CMRDV_QP_SEND_OPS = CMRDV_QP_EX_WITH_COMPUTE,
	CMRDV_QP_CREATE_FLAGS = CMRDV_QP_CREATE_SQ_POLL,
};

struct ibv_qp *cmrdv_create_qp(struct ibv_context *ibctx,
			       struct ibv_qp_init_attr_ex *qp_attr,
			       struct cmrdv_qp_init_attr *cmr_attr)
{
	uint64_t send_ops = 0;
	uint32_t create_flags = 0;
	uint32_t flags = 0;

	if (!ibctx || !qp_attr) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_cmr_dev(ibctx->device)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (cmr_attr) {
		if (cmr_attr->comp_mask & ~(uint64_t)CMRDV_QP_COMP_MASK) {
			errno = EOPNOTSUPP;
			return NULL;
		}
		if (cmr_attr->comp_mask & CMRDV_QP_INIT_ATTR_MASK_SEND_OPS_FLAGS)
			send_ops = cmr_attr->send_ops_flags;
		if (cmr_attr->comp_mask & CMRDV_QP_INIT_ATTR_MASK_CREATE_FLAGS)
			create_flags = cmr_attr->create_flags;
	}
	if ((send_ops & ~(uint64_t)CMRDV_QP_SEND_OPS) ||
	    (create_flags & ~(uint32_t)CMRDV_QP_CREATE_FLAGS)) {
		errno = EOPNOTSUPP;
		return NULL;
	}

	if (send_ops & CMRDV_QP_EX_WITH_COMPUTE) {
		/* Compute WRs are posted with the builders only. */
		if (!(qp_attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)) {
			errno = EINVAL;
			return NULL;
		}
		if (qp_attr->qp_type != IBV_QPT_RC) {
			errno = EOPNOTSUPP;
			return NULL;
		}
		flags |= CMR_QP_FLAG_COMPUTE;
	}
	if (create_flags & CMRDV_QP_CREATE_SQ_POLL)
		flags |= CMR_QP_FLAG_SQ_POLL;

	return cmr_create_qp_flags(ibctx, qp_attr, flags);
}
