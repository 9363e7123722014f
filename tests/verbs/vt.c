// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vt.h"

const char *vt_dev(void)
{
	const char *d = getenv("CMR_TEST_DEV");

	return d ? d : "cmr0";
}

void vt_open(struct vt_ctx *v, const char *devname)
{
	struct ibv_device **list;
	int i, n;

	memset(v, 0, sizeof(*v));
	list = ibv_get_device_list(&n);
	vt_check(list, "ibv_get_device_list: %s", strerror(errno));
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), devname))
			v->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	vt_check(v->ctx, "cannot open %s", devname);
	vt_check(!ibv_query_port(v->ctx, 1, &v->port), "query_port");
	v->pd = ibv_alloc_pd(v->ctx);
	vt_check(v->pd, "alloc_pd: %s", strerror(errno));
}

void vt_close(struct vt_ctx *v)
{
	vt_check(!ibv_dealloc_pd(v->pd), "dealloc_pd");
	vt_check(!ibv_close_device(v->ctx), "close_device");
}

void vt_end_create(struct vt_ctx *v, struct vt_end *e, int depth)
{
	vt_end_create_cq(v, e, depth, 2 * depth);
}

void vt_end_create_cq(struct vt_ctx *v, struct vt_end *e, int depth, int cqe)
{
	struct ibv_qp_init_attr attr = {
		.qp_type = IBV_QPT_RC,
		.cap = {
			.max_send_wr = depth,
			.max_recv_wr = depth,
			.max_send_sge = 4,
			.max_recv_sge = 4,
			.max_inline_data = 64,
		},
	};

	e->cq = ibv_create_cq(v->ctx, cqe, NULL, NULL, 0);
	vt_check(e->cq, "create_cq: %s", strerror(errno));
	attr.send_cq = e->cq;
	attr.recv_cq = e->cq;
	e->qp = ibv_create_qp(v->pd, &attr);
	vt_check(e->qp, "create_qp: %s", strerror(errno));
}

void vt_end_destroy(struct vt_end *e)
{
	vt_check(!ibv_destroy_qp(e->qp), "destroy_qp");
	vt_check(!ibv_destroy_cq(e->cq), "destroy_cq");
}

int vt_try_to_rts(struct vt_ctx *v, struct ibv_qp *qp, uint32_t dqpn,
		   const struct vt_qp_opts *o)
{
	/* UC takes none of RC's retry, RNR and RDMA READ attributes. */
	const int rc_rtr = qp->qp_type == IBV_QPT_RC ?
		IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER : 0;
	const int rc_rts = qp->qp_type == IBV_QPT_RC ?
		IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
		IBV_QP_MAX_QP_RD_ATOMIC : 0;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = o->access,
	};
	int err;

	err = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			    IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_4096;
	a.dest_qp_num = dqpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = o->min_rnr_timer;
	a.ah_attr.dlid = v->port.lid;
	a.ah_attr.port_num = 1;
	err = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			    IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | rc_rtr);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = o->rnr_retry;
	a.sq_psn = 0;
	a.max_rd_atomic = 1;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN | rc_rts);
}

void vt_to_rts(struct vt_ctx *v, struct ibv_qp *qp, uint32_t dqpn,
	       const struct vt_qp_opts *o)
{
	int err = vt_try_to_rts(v, qp, dqpn, o);

	vt_check(!err, "to RTS: %s", strerror(err));
}

void vt_connect(struct vt_ctx *v, struct vt_end *a, struct vt_end *b,
		const struct vt_qp_opts *o)
{
	vt_to_rts(v, a->qp, b->qp->qp_num, o);
	vt_to_rts(v, b->qp, a->qp->qp_num, o);
}

void vt_pair(struct vt_ctx *v, struct vt_end *a, struct vt_end *b)
{
	struct vt_qp_opts o = {
		.rnr_retry = 7,
		.min_rnr_timer = 1,
		.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			  IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};

	vt_end_create(v, a, 64);
	vt_end_create(v, b, 64);
	vt_connect(v, a, b, &o);
}

struct ibv_mr *vt_reg(struct vt_ctx *v, void *buf, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(v->pd, buf, len, access);

	vt_check(mr, "reg_mr(%zu, 0x%x): %s", len, access, strerror(errno));
	return mr;
}

double vt_now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

void *vt_stall_probe(void *arg)
{
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct vt_stall_probe *t = arg;
	static uint8_t buf[4096];
	struct ibv_mr *mr = ibv_reg_mr(t->pd, buf, sizeof(buf), 0);
	struct ibv_cq *cq = ibv_create_cq(t->pd->context, 2, NULL, NULL, 0);
	struct ibv_qp *qp;
	double t0;

	vt_check(mr && cq, "reg_mr, create_cq");
	qa.send_cq = qa.recv_cq = cq;
	qp = ibv_create_qp(t->pd, &qa);
	vt_check(qp, "create_qp");
	usleep(500000);
	t0 = vt_now_s();
	vt_check(!ibv_dereg_mr(mr), "dereg_mr");
	t->dereg = vt_now_s() - t0;
	t0 = vt_now_s();
	vt_check(!ibv_destroy_qp(qp), "destroy_qp");
	t->destroy = vt_now_s() - t0;
	vt_check(!ibv_destroy_cq(cq), "destroy_cq");
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

bool vt_try_poll(struct ibv_cq *cq, struct ibv_wc *wc, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		vt_check(n >= 0, "poll_cq: %d", n);
		if (n)
			return true;
		usleep(100);
	} while (now_ms() < end);
	return false;
}

void vt_poll(struct ibv_cq *cq, struct ibv_wc *wc, int timeout_ms)
{
	vt_check(vt_try_poll(cq, wc, timeout_ms), "no completion in %d ms",
		 timeout_ms);
}

int vt_post_send(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
		 struct ibv_sge *sge, int nsge, uint64_t raddr, uint32_t rkey)
{
	struct ibv_send_wr wr = {
		.wr_id = wr_id,
		.sg_list = sge,
		.num_sge = nsge,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return ibv_post_send(qp, &wr, &bad);
}

int vt_post_recv(struct ibv_qp *qp, uint64_t wr_id, struct ibv_sge *sge,
		 int nsge)
{
	struct ibv_recv_wr wr = {
		.wr_id = wr_id,
		.sg_list = sge,
		.num_sge = nsge,
	}, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

void vt_expect(struct ibv_cq *cq, uint64_t wr_id, enum ibv_wc_status status)
{
	struct ibv_wc wc;

	vt_poll(cq, &wc, 5000);
	vt_check(wc.wr_id == wr_id && wc.status == status,
		 "wr_id %llu status %s (%d), expected wr_id %llu status %s",
		 (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status),
		 wc.status, (unsigned long long)wr_id,
		 ibv_wc_status_str(status));
}

uint64_t vt_sysfs_u64(const char *devname, const char *file)
{
	unsigned long long val;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/%s", devname,
		 file);
	f = fopen(path, "r");
	vt_check(f, "%s: %s", path, strerror(errno));
	vt_check(fscanf(f, "%llu", &val) == 1, "%s unreadable", path);
	fclose(f);
	return val;
}
