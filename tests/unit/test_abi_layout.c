// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The ABI header compiles stand-alone in user space, and the layouts that
 * cmr.ko and libcmr exchange are the ones published: a change that moves a
 * field breaks every provider already installed, so it must fail here.
 */
#include <stddef.h>
#include <stdio.h>
#include <rdma/cmr-abi.h>

static int failures;

#define EXPECT(name, got, want)                                              \
	do {                                                                  \
		if ((size_t)(got) != (size_t)(want)) {                        \
			printf("%s: %zu, expected %zu\n", name, (size_t)(got), \
			       (size_t)(want));                               \
			failures++;                                           \
		}                                                             \
	} while (0)

#define OFF(type, field, want) EXPECT(#type "." #field, offsetof(struct type, field), want)
#define SIZE(type, want) EXPECT("sizeof " #type, sizeof(struct type), want)

int main(void)
{
	SIZE(cmr_ring, CMR_RING_ENTRIES_OFFSET);
	OFF(cmr_ring, producer, 0);
	OFF(cmr_ring, consumer, 64);
	OFF(cmr_ring, flags, 128);

	SIZE(cmr_sge, 16);
	SIZE(cmr_send_wqe, 64);
	OFF(cmr_send_wqe, opcode, 8);
	OFF(cmr_send_wqe, imm_data, 12);
	OFF(cmr_send_wqe, rdma.remote_addr, 24);
	OFF(cmr_send_wqe, atomic.rkey, 48);
	SIZE(cmr_recv_wqe, 16);

	SIZE(cmr_cqe, 64);
	OFF(cmr_cqe, status, 24);
	OFF(cmr_cqe, recv.src_qp, 32);
	OFF(cmr_cqe, result, 32);

	SIZE(cmr_queue_info, 24);
	SIZE(cmr_create_qp_resp, 56);
	EXPECT("CMR_NUM_SEND_OPCODES fits u8", CMR_NUM_SEND_OPCODES <= 256, 1);

	/* Compute parameters live in the WQE's 40-byte parameter area. */
	SIZE(cmr_compute_params, 40);
	EXPECT("compute params fit the WQE", sizeof(struct cmr_compute_params) <=
	       sizeof(((struct cmr_send_wqe *)0)->raw), 1);
	OFF(cmr_compute_params, iv, 24);

	return failures ? 1 : 0;
}
