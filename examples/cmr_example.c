// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmr_example.h"

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err));
	exit(1);
}

static struct ibv_context *open_device(const char *devname)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int i, n;

	list = ibv_get_device_list(&n);
	if (!list)
		die("ibv_get_device_list", errno);
	for (i = 0; i < n && !ctx; i++) {
		const char *name = ibv_get_device_name(list[i]);

		if (devname ? !strcmp(name, devname) : !strncmp(name, "cmr", 3))
			ctx = ibv_open_device(list[i]);
	}
	ibv_free_device_list(list);
	if (!ctx) {
		fprintf(stderr, "no device %s\n", devname ? devname : "cmr*");
		exit(1);
	}
	return ctx;
}

static void connect_to_self(struct cmr_session *s)
{
	struct ibv_port_attr port;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				   IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ,
	};

	if (ibv_query_port(s->ctx, 1, &port))
		die("ibv_query_port", errno);
	if (ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		die("modify_qp INIT", errno);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_4096;
	a.dest_qp_num = s->qp->qp_num;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 1;
	a.ah_attr.dlid = port.lid;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		die("modify_qp RTR", errno);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	if (ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		die("modify_qp RTS", errno);
}

void cmr_session_open(struct cmr_session *s, const char *devname,
		      uint32_t depth)
{
	cmr_session_open_flags(s, devname, depth, 0);
}

void cmr_session_open_flags(struct cmr_session *s, const char *devname,
			    uint32_t depth, uint32_t create_flags)
{
	struct cmr_session_attr attr = {
		.devname = devname,
		.depth = depth,
		.create_flags = create_flags,
	};

	cmr_session_open_attr(s, &attr);
}

void cmr_session_open_attr(struct cmr_session *s,
			   const struct cmr_session_attr *sa)
{
	uint32_t depth = sa->depth;
	struct ibv_cq_init_attr_ex cq_attr = {
		.cqe = depth,
		.wc_flags = IBV_WC_EX_WITH_BYTE_LEN,
	};
	struct ibv_qp_init_attr_ex qp_attr = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = depth, .max_recv_wr = 1,
			 .max_send_sge = 8, .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD |
			     IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE |
				  IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
				  IBV_QP_EX_WITH_SEND,
	};
	struct cmrdv_qp_init_attr dv_attr = {
		.comp_mask = CMRDV_QP_INIT_ATTR_MASK_SEND_OPS_FLAGS |
			     CMRDV_QP_INIT_ATTR_MASK_CREATE_FLAGS,
		.send_ops_flags = CMRDV_QP_EX_WITH_COMPUTE,
		.create_flags = sa->create_flags,
	};

	memset(s, 0, sizeof(*s));
	s->depth = depth;
	s->ctx = open_device(sa->devname);
	s->pd = ibv_alloc_pd(s->ctx);
	if (!s->pd)
		die("ibv_alloc_pd", errno);
	if (sa->events) {
		s->channel = ibv_create_comp_channel(s->ctx);
		if (!s->channel)
			die("ibv_create_comp_channel", errno);
		cq_attr.channel = s->channel;
	}
	s->cq = ibv_create_cq_ex(s->ctx, &cq_attr);
	if (!s->cq)
		die("ibv_create_cq_ex", errno);
	qp_attr.pd = s->pd;
	qp_attr.send_cq = ibv_cq_ex_to_cq(s->cq);
	qp_attr.recv_cq = ibv_cq_ex_to_cq(s->cq);
	s->qp = cmrdv_create_qp(s->ctx, &qp_attr, &dv_attr);
	if (!s->qp)
		die("cmrdv_create_qp", errno);
	s->qpx = ibv_qp_to_qp_ex(s->qp);
	s->dqp = cmrdv_qp_ex_from_ibv_qp_ex(s->qpx);
	connect_to_self(s);
}

void cmr_session_close(struct cmr_session *s)
{
	ibv_destroy_qp(s->qp);
	ibv_destroy_cq(ibv_cq_ex_to_cq(s->cq));
	if (s->channel)
		ibv_destroy_comp_channel(s->channel);
	ibv_dealloc_pd(s->pd);
	ibv_close_device(s->ctx);
}

struct ibv_mr *cmr_session_reg(struct cmr_session *s, void *buf, size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(s->pd, buf, len,
				       IBV_ACCESS_LOCAL_WRITE |
				       IBV_ACCESS_REMOTE_WRITE |
				       IBV_ACCESS_REMOTE_READ);

	if (!mr)
		die("ibv_reg_mr", errno);
	return mr;
}

/*
 * Event mode: arm the CQ, look once more (a completion that came before
 * the arming raises no event), then sleep on the channel.
 */
static int wait_event(struct cmr_session *s, struct ibv_poll_cq_attr *attr)
{
	struct ibv_cq *cq = ibv_cq_ex_to_cq(s->cq), *ev_cq;
	void *ev_ctx;
	int ret;

	for (;;) {
		if (ibv_req_notify_cq(cq, 0))
			die("ibv_req_notify_cq", errno);
		ret = ibv_start_poll(s->cq, attr);
		if (ret != ENOENT)
			return ret;
		if (ibv_get_cq_event(s->channel, &ev_cq, &ev_ctx))
			die("ibv_get_cq_event", errno);
		ibv_ack_cq_events(ev_cq, 1);
		ret = ibv_start_poll(s->cq, attr);
		if (ret != ENOENT)
			return ret;
	}
}

void cmr_session_wait(struct cmr_session *s, struct cmr_done *d)
{
	struct ibv_poll_cq_attr attr = {};
	int ret;

	ret = ibv_start_poll(s->cq, &attr);
	if (ret == ENOENT && s->channel)
		ret = wait_event(s, &attr);
	while (ret == ENOENT)
		ret = ibv_start_poll(s->cq, &attr);
	if (ret)
		die("ibv_start_poll", ret);
	d->wr_id = s->cq->wr_id;
	d->status = s->cq->status;
	d->vendor_err = ibv_wc_read_vendor_err(s->cq);
	d->byte_len = ibv_wc_read_byte_len(s->cq);
	d->result_len = cmrdv_wc_read_result(s->cq, d->result,
					     sizeof(d->result));
	ibv_end_poll(s->cq);
}

/* The completion's status, and what its vendor_err says, for messages. */
const char *cmr_done_error(const struct cmr_done *d)
{
	static char buf[128];
	const char *why;

	switch (d->vendor_err) {
	case CMRDV_ERR_DST_TOO_SMALL: why = "destination too small"; break;
	case CMRDV_ERR_CORRUPT_INPUT: why = "corrupt input"; break;
	case CMRDV_ERR_AUTH_FAILED: why = "authentication failed"; break;
	case CMRDV_ERR_BAD_KEY: why = "bad key"; break;
	case CMRDV_ERR_BAD_STREAM: why = "bad stream"; break;
	case CMRDV_ERR_BAD_PARAM: why = "bad parameters"; break;
	case CMRDV_ERR_UNSUPPORTED: why = "unsupported"; break;
	case CMRDV_ERR_PREV_FAILED: why = "the WR it reads from failed"; break;
	case CMRDV_ERR_STREAM_FAILED: why = "its stream failed before"; break;
	default:
		snprintf(buf, sizeof(buf), "%s (vendor_err 0x%x)",
			 ibv_wc_status_str(d->status), d->vendor_err);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s: %s", ibv_wc_status_str(d->status),
		 why);
	return buf;
}
