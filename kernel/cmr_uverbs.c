// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr: driver-specific uverbs ioctl objects and methods (cmr-abi.h,
 * "Compute objects and capabilities"): CMR_OBJECT_KEY, CMR_OBJECT_STREAM
 * and QUERY_COMPUTE on the device, and the engine's lookup of keys and
 * streams by the numbers compute WQEs carry.
 *
 * A key or stream lives in its user context's table from CREATE until its
 * uobject is destroyed (DESTROY, the context's teardown, a failed CREATE).
 * While it is in the table it holds a use count on its PD, so the PD
 * outlives the entry and a lookup can compare it with the QP's.  An engine
 * context that found it holds a reference until its WR is done; the last
 * reference frees the backend object (for a key, its tfm, which zeroes the
 * expanded key).  The key material itself is copied into a stack buffer,
 * handed to the crypto API and wiped: it is never stored.
 */
#include <linux/slab.h>
#include <rdma/uverbs_ioctl.h>

#define UVERBS_MODULE_NAME cmr
#include <rdma/uverbs_named_ioctl.h>
#include <rdma/uverbs_std_types.h>

#include "cmr_loc.h"
#include "cmr_compute.h"

static const int cmr_cobj_max[CMR_NUM_COBJ_TYPES] = {
	[CMR_COBJ_KEY] = CMR_MAX_KEYS,
	[CMR_COBJ_STREAM] = CMR_MAX_STREAMS,
};

static atomic_t *cmr_cobj_count(struct cmr_dev *dev, enum cmr_cobj_type type)
{
	return type == CMR_COBJ_KEY ? &dev->num_keys : &dev->num_streams;
}

void cmr_uc_cobjs_init(struct cmr_ucontext *uc)
{
	int t;

	for (t = 0; t < CMR_NUM_COBJ_TYPES; t++)
		xa_init_flags(&uc->cobjs[t], XA_FLAGS_ALLOC1);
}

/* Every uobject is destroyed before the context is. */
void cmr_uc_cobjs_fini(struct cmr_ucontext *uc)
{
	int t;

	for (t = 0; t < CMR_NUM_COBJ_TYPES; t++) {
		WARN_ON_ONCE(!xa_empty(&uc->cobjs[t]));
		xa_destroy(&uc->cobjs[t]);
	}
}

void cmr_cobj_put(struct cmr_cobj *obj)
{
	if (!refcount_dec_and_test(&obj->ref))
		return;
	if (obj->type == CMR_COBJ_KEY)
		cmr_key_destroy(obj->key);
	else
		cmr_stream_destroy(obj->stream);
	atomic_dec(cmr_cobj_count(obj->dev, obj->type));
	kfree(obj);
}

/*
 * The key or stream numbered num of uc, if it belongs to pd, with a
 * reference; NULL otherwise.  Any context.
 */
struct cmr_cobj *cmr_cobj_get(struct cmr_ucontext *uc,
			      enum cmr_cobj_type type, u32 num,
			      struct ib_pd *pd)
{
	struct cmr_cobj *obj;

	xa_lock(&uc->cobjs[type]);
	obj = xa_load(&uc->cobjs[type], num);
	/* In the table, obj->pd is alive: compare before taking a ref. */
	if (obj && (obj->pd != pd || !refcount_inc_not_zero(&obj->ref)))
		obj = NULL;
	xa_unlock(&uc->cobjs[type]);
	return obj;
}

/*
 * Count one more object of the device; -ENOMEM at the limit.  The count
 * goes with the object (cmr_cobj_put()), or back with cmr_cobj_unreserve().
 */
static int cmr_cobj_reserve(struct ib_device *ibdev, enum cmr_cobj_type type)
{
	atomic_t *count = cmr_cobj_count(to_cmr_dev(ibdev), type);

	if (atomic_inc_return(count) > cmr_cobj_max[type]) {
		atomic_dec(count);
		return -ENOMEM;
	}
	return 0;
}

static void cmr_cobj_unreserve(struct ib_device *ibdev,
			       enum cmr_cobj_type type)
{
	atomic_dec(cmr_cobj_count(to_cmr_dev(ibdev), type));
}

/*
 * Enter a new backend object (key or stream) into uc's table.  The object
 * and its reserved count are taken over: released here on failure.
 */
static struct cmr_cobj *cmr_cobj_add(struct cmr_ucontext *uc,
				     struct ib_pd *pd,
				     enum cmr_cobj_type type, void *backend)
{
	struct cmr_dev *dev = to_cmr_dev(uc->ibuc.device);
	struct cmr_cobj *obj;
	int err;

	obj = kzalloc(sizeof(*obj), GFP_KERNEL_ACCOUNT);
	if (!obj) {
		err = -ENOMEM;
		goto err_free_backend;
	}
	refcount_set(&obj->ref, 1);
	obj->dev = dev;
	obj->pd = pd;
	obj->type = type;
	if (type == CMR_COBJ_KEY)
		obj->key = backend;
	else
		obj->stream = backend;

	atomic_inc(&pd->usecnt);
	err = xa_alloc_cyclic(&uc->cobjs[type], &obj->num, obj,
			      XA_LIMIT(1, U32_MAX), &uc->cobj_next[type],
			      GFP_KERNEL);
	if (err < 0) {
		atomic_dec(&pd->usecnt);
		cmr_cobj_put(obj);	/* frees the backend, drops the count */
		return ERR_PTR(err);
	}
	return obj;

err_free_backend:
	if (type == CMR_COBJ_KEY)
		cmr_key_destroy(backend);
	else
		cmr_stream_destroy(backend);
	cmr_cobj_unreserve(&dev->ibdev, type);
	return ERR_PTR(err);
}

/* The uobject's destroy_object, whatever the reason. */
static int cmr_cobj_cleanup(struct ib_uobject *uobj,
			    enum rdma_remove_reason why,
			    struct uverbs_attr_bundle *attrs)
{
	struct cmr_ucontext *uc = to_cmr_uc(uobj->context);
	struct cmr_cobj *obj = uobj->object;

	/* No lookup finds it after this; users in flight keep it alive. */
	xa_erase(&uc->cobjs[obj->type], obj->num);
	atomic_dec(&obj->pd->usecnt);
	cmr_cobj_put(obj);
	return 0;
}

/* A backend error as the ABI reports it: unavailable algorithms alike. */
static int cmr_cobj_errno(int err)
{
	return err == -ENOENT ? -EOPNOTSUPP : err;
}

/* CMR_OBJECT_KEY */

static int UVERBS_HANDLER(CMR_METHOD_KEY_CREATE)(
	struct uverbs_attr_bundle *attrs)
{
	struct ib_uobject *uobj =
		uverbs_attr_get_uobject(attrs, CMR_ATTR_KEY_CREATE_HANDLE);
	struct ib_pd *pd = uverbs_attr_get_obj(attrs, CMR_ATTR_KEY_CREATE_PD);
	u8 material[CMR_MAX_KEY_LEN];
	struct cmr_ucontext *uc;
	struct cmr_cobj *obj;
	struct cmr_key *key;
	int len, err;
	u32 alg;

	uc = to_cmr_uc(uobj->context);
	err = uverbs_copy_from(&alg, attrs, CMR_ATTR_KEY_CREATE_ALG);
	if (err)
		return err;
	len = uverbs_attr_get_len(attrs, CMR_ATTR_KEY_CREATE_MATERIAL);
	if (len < 1 || len > CMR_MAX_KEY_LEN)
		return -EINVAL;
	err = cmr_cobj_reserve(pd->device, CMR_COBJ_KEY);
	if (err)
		return err;

	err = _uverbs_copy_from(material, attrs, CMR_ATTR_KEY_CREATE_MATERIAL,
				sizeof(material));
	key = err ? ERR_PTR(err) : cmr_key_create(alg, material, len);
	memzero_explicit(material, sizeof(material));
	if (IS_ERR(key)) {
		cmr_cobj_unreserve(pd->device, CMR_COBJ_KEY);
		return cmr_cobj_errno(PTR_ERR(key));
	}
	obj = cmr_cobj_add(uc, pd, CMR_COBJ_KEY, key);
	if (IS_ERR(obj))
		return PTR_ERR(obj);

	uobj->object = obj;
	uverbs_finalize_uobj_create(attrs, CMR_ATTR_KEY_CREATE_HANDLE);
	return uverbs_copy_to(attrs, CMR_ATTR_KEY_CREATE_NUM, &obj->num,
			      sizeof(obj->num));
}

DECLARE_UVERBS_NAMED_METHOD(
	CMR_METHOD_KEY_CREATE,
	UVERBS_ATTR_IDR(CMR_ATTR_KEY_CREATE_HANDLE, CMR_OBJECT_KEY,
			UVERBS_ACCESS_NEW, UA_MANDATORY),
	UVERBS_ATTR_IDR(CMR_ATTR_KEY_CREATE_PD, UVERBS_OBJECT_PD,
			UVERBS_ACCESS_READ, UA_MANDATORY),
	UVERBS_ATTR_PTR_IN(CMR_ATTR_KEY_CREATE_ALG, UVERBS_ATTR_TYPE(u32),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_IN(CMR_ATTR_KEY_CREATE_MATERIAL,
			   UVERBS_ATTR_SIZE(1, CMR_MAX_KEY_LEN), UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(CMR_ATTR_KEY_CREATE_NUM, UVERBS_ATTR_TYPE(u32),
			    UA_MANDATORY));

DECLARE_UVERBS_NAMED_METHOD_DESTROY(
	CMR_METHOD_KEY_DESTROY,
	UVERBS_ATTR_IDR(CMR_ATTR_KEY_DESTROY_HANDLE, CMR_OBJECT_KEY,
			UVERBS_ACCESS_DESTROY, UA_MANDATORY));

DECLARE_UVERBS_NAMED_OBJECT(CMR_OBJECT_KEY,
			    UVERBS_TYPE_ALLOC_IDR(cmr_cobj_cleanup),
			    &UVERBS_METHOD(CMR_METHOD_KEY_CREATE),
			    &UVERBS_METHOD(CMR_METHOD_KEY_DESTROY));

/* CMR_OBJECT_STREAM */

static int UVERBS_HANDLER(CMR_METHOD_STREAM_CREATE)(
	struct uverbs_attr_bundle *attrs)
{
	struct ib_uobject *uobj =
		uverbs_attr_get_uobject(attrs, CMR_ATTR_STREAM_CREATE_HANDLE);
	struct ib_pd *pd =
		uverbs_attr_get_obj(attrs, CMR_ATTR_STREAM_CREATE_PD);
	struct cmr_stream_params params;
	struct cmr_stream *stream;
	struct cmr_ucontext *uc;
	struct cmr_cobj *obj;
	int err;

	uc = to_cmr_uc(uobj->context);
	err = uverbs_copy_from(&params, attrs,
				       CMR_ATTR_STREAM_CREATE_PARAMS);
	if (err)
		return err;
	err = cmr_cobj_reserve(pd->device, CMR_COBJ_STREAM);
	if (err)
		return err;
	stream = cmr_stream_create(params.alg, params.dir, params.level,
				   params.flags);
	if (IS_ERR(stream)) {
		cmr_cobj_unreserve(pd->device, CMR_COBJ_STREAM);
		return cmr_cobj_errno(PTR_ERR(stream));
	}
	obj = cmr_cobj_add(uc, pd, CMR_COBJ_STREAM, stream);
	if (IS_ERR(obj))
		return PTR_ERR(obj);

	uobj->object = obj;
	uverbs_finalize_uobj_create(attrs, CMR_ATTR_STREAM_CREATE_HANDLE);
	return uverbs_copy_to(attrs, CMR_ATTR_STREAM_CREATE_NUM, &obj->num,
			      sizeof(obj->num));
}

DECLARE_UVERBS_NAMED_METHOD(
	CMR_METHOD_STREAM_CREATE,
	UVERBS_ATTR_IDR(CMR_ATTR_STREAM_CREATE_HANDLE, CMR_OBJECT_STREAM,
			UVERBS_ACCESS_NEW, UA_MANDATORY),
	UVERBS_ATTR_IDR(CMR_ATTR_STREAM_CREATE_PD, UVERBS_OBJECT_PD,
			UVERBS_ACCESS_READ, UA_MANDATORY),
	UVERBS_ATTR_PTR_IN(CMR_ATTR_STREAM_CREATE_PARAMS,
			   UVERBS_ATTR_STRUCT(struct cmr_stream_params, flags),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(CMR_ATTR_STREAM_CREATE_NUM, UVERBS_ATTR_TYPE(u32),
			    UA_MANDATORY));

DECLARE_UVERBS_NAMED_METHOD_DESTROY(
	CMR_METHOD_STREAM_DESTROY,
	UVERBS_ATTR_IDR(CMR_ATTR_STREAM_DESTROY_HANDLE, CMR_OBJECT_STREAM,
			UVERBS_ACCESS_DESTROY, UA_MANDATORY));

DECLARE_UVERBS_NAMED_OBJECT(CMR_OBJECT_STREAM,
			    UVERBS_TYPE_ALLOC_IDR(cmr_cobj_cleanup),
			    &UVERBS_METHOD(CMR_METHOD_STREAM_CREATE),
			    &UVERBS_METHOD(CMR_METHOD_STREAM_DESTROY));

/* QUERY_COMPUTE on UVERBS_OBJECT_DEVICE */

static int UVERBS_HANDLER(CMR_METHOD_QUERY_COMPUTE)(
	struct uverbs_attr_bundle *attrs)
{
	struct cmr_compute_caps *caps;
	int err;

	/* ~800 bytes: not on the stack. */
	caps = kzalloc(sizeof(*caps), GFP_KERNEL);
	if (!caps)
		return -ENOMEM;
	cmr_compute_query_caps(caps);
	caps->max_compute_size = CMR_MAX_COMPUTE_SIZE;
	caps->max_keys = CMR_MAX_KEYS;
	caps->max_streams = CMR_MAX_STREAMS;
	caps->sq_poll = cmr_sqp_enabled();
	err = uverbs_copy_to_struct_or_zero(attrs, CMR_ATTR_QUERY_COMPUTE_CAPS,
					    caps, sizeof(*caps));
	kfree(caps);
	return err;
}

DECLARE_UVERBS_NAMED_METHOD(
	CMR_METHOD_QUERY_COMPUTE,
	UVERBS_ATTR_PTR_OUT(CMR_ATTR_QUERY_COMPUTE_CAPS,
			    UVERBS_ATTR_STRUCT(struct cmr_compute_caps, alg),
			    UA_MANDATORY));

ADD_UVERBS_METHODS(cmr_device_methods, UVERBS_OBJECT_DEVICE,
		   &UVERBS_METHOD(CMR_METHOD_QUERY_COMPUTE));

const struct uapi_definition cmr_uapi_defs[] = {
	UAPI_DEF_CHAIN_OBJ_TREE_NAMED(CMR_OBJECT_KEY),
	UAPI_DEF_CHAIN_OBJ_TREE_NAMED(CMR_OBJECT_STREAM),
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_DEVICE, &cmr_device_methods),
	{},
};
