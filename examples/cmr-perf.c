// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr-perf: perftest-style latency and bandwidth of compute WRs.
 *
 *   cmr-perf [-D DEV] [-a ALG] [-i] [-s SIZE] [-n ITERS] [-q DEPTH] [-b]
 *            [-P] [-e] [-A] [-C] [-R] [-l LEVEL] [-N]
 *
 *   -a ALG    memcpy (default), deflate, lz4, zstd, aes-gcm, aes-xts,
 *             sha256, hmac-sha256, crc32, crc32c
 *   -i        the inverse direction (decompress, decrypt); the input is
 *             produced by the device first
 *   -s SIZE   bytes of plain data per WR (default 8)
 *   -n ITERS  WRs to time (default 1000)
 *   -q DEPTH  WRs in flight in bandwidth mode (default 16)
 *   -b        bandwidth instead of latency
 *   -P        ask for a kernel SQ poller (no doorbell system calls)
 *   -e        wait for completions on a completion channel (as perftest's
 *             -e) instead of busy polling the CQ
 *   -A        the same operation through AF_ALG instead of the device
 *             (aes-gcm, sha256, hmac-sha256): the comparison row
 *   -C        a two-thread cache-line ping-pong instead: the floor of
 *             any cross-CPU round trip
 *   -R        a two-thread ring-shaped ping-pong instead: a 64-byte
 *             request and its producer index one way, a 64-byte completion
 *             and its index back, each in its own cache line — the
 *             floor of a WR posted to one CPU and completed by another
 *   -N        run the loop but print no figures (no calibration or
 *             sorting either), and then the process's mappings, which
 *             name what bench/wr-instructions counts
 *
 * Latency is post-to-completion of one WR at a time, timed with the CPU
 * cycle counter as perftest does (a clock read costs ~0.7 us in the VM),
 * and printed as perftest prints it: t_min, t_max, t_typical (median),
 * t_avg, t_stdev, 99% and 99.9% percentiles in microseconds.  Bandwidth
 * is in MiB/s, as perftest's.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/if_alg.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "cmr_example.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

struct alg_desc {
	const char *name;
	enum cmrdv_alg alg;
	const char *af_alg_type, *af_alg_name;
	uint32_t key_len;
};

static const struct alg_desc algs[] = {
	{ .name = "memcpy", .alg = CMRDV_ALG_MEMCPY },
	{ .name = "deflate", .alg = CMRDV_ALG_DEFLATE },
	{ .name = "lz4", .alg = CMRDV_ALG_LZ4 },
	{ .name = "zstd", .alg = CMRDV_ALG_ZSTD },
	{ .name = "aes-gcm", .alg = CMRDV_ALG_AES_GCM, .af_alg_type = "aead",
	  .af_alg_name = "gcm(aes)", .key_len = 32 },
	{ .name = "aes-xts", .alg = CMRDV_ALG_AES_XTS,
	  .af_alg_type = "skcipher", .af_alg_name = "xts(aes)", .key_len = 64 },
	{ .name = "sha256", .alg = CMRDV_ALG_SHA256, .af_alg_type = "hash",
	  .af_alg_name = "sha256" },
	{ .name = "hmac-sha256", .alg = CMRDV_ALG_HMAC_SHA256,
	  .af_alg_type = "hash", .af_alg_name = "hmac(sha256)", .key_len = 32 },
	{ .name = "crc32", .alg = CMRDV_ALG_CRC32 },
	{ .name = "crc32c", .alg = CMRDV_ALG_CRC32C },
};

static struct {
	const struct alg_desc *alg;
	bool inverse, bw, sqpoll, events, af_alg, pingpong, ring_pingpong;
	bool no_report;
	uint32_t size, iters, depth, level;
	const char *device;
} opt = { .alg = &algs[0], .size = 8, .iters = 1000, .depth = 16 };

static double cycles_per_us;

static void calibrate(void)
{
	struct timespec a, b;
	uint64_t c0, c1;

	clock_gettime(CLOCK_MONOTONIC, &a);
	c0 = __rdtsc();
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 2e8);
	c1 = __rdtsc();
	cycles_per_us = (c1 - c0) /
		(((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Where the code ran from, while the provider is still mapped. */
static void print_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	while (f && fgets(line, sizeof(line), f))
		fputs(line, stdout);
	if (f)
		fclose(f);
}

/*
 * As perftest's print_report_lat(): the two largest samples are left out
 * (its LAT_MEASURE_TAIL), and of the m others t_typical is the median and
 * percentile p is sample ceil(m * p) (t_max stays the largest sample).
 */
static void report_latency(const char *what, uint64_t *c, uint32_t n)
{
	uint32_t m = n > 2 ? n - 2 : n, i;
	double sum = 0, sq = 0, avg, med;

	if (opt.no_report)
		return;
	qsort(c, n, sizeof(*c), cmp_u64);
	for (i = 0; i < m; i++)
		sum += c[i];
	avg = sum / m;
	for (i = 0; i < m; i++)
		sq += (c[i] - avg) * (c[i] - avg);
	med = m % 2 ? c[m / 2] : (c[m / 2 - 1] + c[m / 2]) / 2.0;
#define PCT(p) c[(uint32_t)fmin(ceil(m * (p)), n - 1)]
#define US(x) ((x) / cycles_per_us)
	printf("# %s\n", what);
	printf(" #bytes #iterations t_min[usec] t_max[usec] t_typical[usec] "
	       "t_avg[usec] t_stdev[usec] 99%% percentile[usec] "
	       "99.9%% percentile[usec]\n");
	printf(" %-6u %-11u %-11.2f %-11.2f %-15.2f %-11.2f %-13.2f %-21.2f %.2f\n",
	       opt.size, n, US(c[0]), US(c[n - 1]), US(med), US(avg),
	       US(sqrt(sq / m)), US(PCT(0.99)), US(PCT(0.999)));
#undef US
#undef PCT
}

/* The two-thread cache-line ping-pong: the floor of any ring round trip. */
static _Alignas(64) atomic_uint ping;
static _Alignas(64) atomic_uint pong;

static void *ponger(void *arg)
{
	uint32_t i, n = *(uint32_t *)arg;

	for (i = 1; i <= n; i++) {
		while (atomic_load_explicit(&ping, memory_order_acquire) != i)
			;
		atomic_store_explicit(&pong, i, memory_order_release);
	}
	return NULL;
}

static void run_pingpong(void)
{
	uint32_t i, n = opt.iters + 100;
	uint64_t *c = calloc(n, sizeof(*c)), t;
	pthread_t th;

	pthread_create(&th, NULL, ponger, &n);
	for (i = 1; i <= n; i++) {
		t = __rdtsc();
		atomic_store_explicit(&ping, i, memory_order_release);
		while (atomic_load_explicit(&pong, memory_order_acquire) != i)
			;
		c[i - 1] = __rdtsc() - t;
	}
	pthread_join(th, NULL);
	report_latency("cache-line ping-pong round trip (two threads)", c + 100,
		       opt.iters);
}

/*
 * The ring-shaped ping-pong: what a WR and its completion move between two
 * CPUs at the least (a WQE line, the SQ producer, a CQE line, the CQ
 * producer), with nothing else done.
 */
struct ring_line {
	_Alignas(64) uint64_t word[8];
};

static struct ring_line req, cqe;
static _Alignas(64) atomic_uint req_prod;
static _Alignas(64) atomic_uint cqe_prod;

static void *ring_responder(void *arg)
{
	uint32_t i, n = *(uint32_t *)arg;
	struct ring_line copy;

	for (i = 1; i <= n; i++) {
		while (atomic_load_explicit(&req_prod, memory_order_acquire) != i)
			;
		copy = req;
		cqe = copy;
		atomic_store_explicit(&cqe_prod, i, memory_order_release);
	}
	return NULL;
}

static void run_ring_pingpong(void)
{
	uint32_t i, n = opt.iters + 100;
	uint64_t *c = calloc(n, sizeof(*c)), t, sum = 0;
	pthread_t th;

	pthread_create(&th, NULL, ring_responder, &n);
	for (i = 1; i <= n; i++) {
		t = __rdtsc();
		for (int w = 0; w < 8; w++)
			req.word[w] = i + w;
		atomic_store_explicit(&req_prod, i, memory_order_release);
		while (atomic_load_explicit(&cqe_prod, memory_order_acquire) != i)
			;
		sum += cqe.word[7];
		c[i - 1] = __rdtsc() - t;
	}
	pthread_join(th, NULL);
	if (sum != (uint64_t)n * (n + 1) / 2 + 7ULL * n)
		fprintf(stderr, "cmr-perf: ring ping-pong lost a completion\n");
	report_latency("ring-shaped ping-pong round trip (two threads)",
		       c + 100, opt.iters);
}

/* AF_ALG: the same operation through the kernel's socket interface. */
static void run_af_alg(void)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG };
	const struct alg_desc *a = opt.alg;
	uint8_t key[64] = { 1 }, *in, *out;
	uint64_t *c, t;
	int tfm, op;
	uint32_t i, n = opt.iters + 20;

	if (!a->af_alg_type) {
		fprintf(stderr, "cmr-perf: no AF_ALG form of %s\n", a->name);
		exit(2);
	}
	strcpy((char *)sa.salg_type, a->af_alg_type);
	strcpy((char *)sa.salg_name, a->af_alg_name);
	tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (tfm < 0 || bind(tfm, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("cmr-perf: AF_ALG");
		exit(1);
	}
	if (a->key_len &&
	    setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, a->key_len)) {
		perror("cmr-perf: ALG_SET_KEY");
		exit(1);
	}
	op = accept(tfm, NULL, 0);
	in = calloc(1, opt.size + 64);
	out = calloc(1, opt.size + 64);
	c = calloc(n, sizeof(*c));
	for (i = 0; i < n; i++) {
		t = __rdtsc();
		if (!strcmp(a->af_alg_type, "hash")) {
			if (send(op, in, opt.size, 0) != (ssize_t)opt.size ||
			    read(op, out, 32) != 32)
				goto fail;
		} else {
			char cbuf[CMSG_SPACE(4) + CMSG_SPACE(4 + 16)] = {};
			struct iovec iov = { in, opt.size };
			struct msghdr msg = {
				.msg_iov = &iov, .msg_iovlen = 1,
				.msg_control = cbuf,
				.msg_controllen = sizeof(cbuf),
			};
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
			struct af_alg_iv *iv;
			size_t outlen = opt.size +
				(!strcmp(a->af_alg_type, "aead") ? 16 : 0);

			cm->cmsg_level = SOL_ALG;
			cm->cmsg_type = ALG_SET_OP;
			cm->cmsg_len = CMSG_LEN(4);
			*(uint32_t *)CMSG_DATA(cm) = ALG_OP_ENCRYPT;
			cm = CMSG_NXTHDR(&msg, cm);
			cm->cmsg_level = SOL_ALG;
			cm->cmsg_type = ALG_SET_IV;
			cm->cmsg_len = CMSG_LEN(4 + 16);
			iv = (void *)CMSG_DATA(cm);
			iv->ivlen = !strcmp(a->af_alg_type, "aead") ? 12 : 16;
			if (sendmsg(op, &msg, 0) != (ssize_t)opt.size ||
			    read(op, out, outlen) != (ssize_t)outlen)
				goto fail;
		}
		c[i] = __rdtsc() - t;
	}
	report_latency("AF_ALG, same operation", c + 20, opt.iters);
	return;
fail:
	perror("cmr-perf: AF_ALG operation");
	exit(1);
}

/* The device.  Slot i's source is src_len[i] bytes at src + i * src_stride. */
static struct cmr_session sess;
static struct cmrdv_key *dkey;
static uint8_t *src, *dst;
static uint32_t *src_len, src_stride, dst_cap;
static struct ibv_mr *src_mr, *dst_mr;

static void post_one(uint64_t wr_id, uint32_t slot)
{
	struct cmrdv_crypto_attr ca = { .iv = { 7 } };
	enum cmrdv_alg alg = opt.alg->alg;
	uint8_t *s = src + (size_t)slot * src_stride;
	uint8_t *d = dst + (size_t)slot * dst_cap;

	sess.qpx->wr_id = wr_id;
	sess.qpx->wr_flags = IBV_SEND_SIGNALED;
	switch (alg) {
	case CMRDV_ALG_MEMCPY:
		cmrdv_wr_memcpy(sess.dqp);
		break;
	case CMRDV_ALG_DEFLATE:
	case CMRDV_ALG_LZ4:
	case CMRDV_ALG_ZSTD:
		if (opt.inverse)
			cmrdv_wr_decompress(sess.dqp, alg, 0);
		else
			cmrdv_wr_compress(sess.dqp, alg, opt.level, 0);
		break;
	case CMRDV_ALG_AES_GCM:
	case CMRDV_ALG_AES_XTS:
		if (opt.inverse)
			cmrdv_wr_decrypt(sess.dqp, dkey, &ca);
		else
			cmrdv_wr_encrypt(sess.dqp, dkey, &ca);
		break;
	default:
		cmrdv_wr_digest(sess.dqp, alg, dkey);
		break;
	}
	ibv_wr_set_sge(sess.qpx, src_mr->lkey, (uintptr_t)s, src_len[slot]);
	cmrdv_wr_set_dst_sge(sess.dqp, dst_mr->lkey, (uintptr_t)d, dst_cap);
}

static void wait_ok(struct cmr_done *d)
{
	cmr_session_wait(&sess, d);
	if (d->status != IBV_WC_SUCCESS) {
		fprintf(stderr, "cmr-perf: WR failed: %s\n", cmr_done_error(d));
		exit(1);
	}
}

/* Test data: text-like and compressible, as a real workload would be. */
static void fill(uint8_t *p, size_t n)
{
	static const char words[] = "the quick brown fox jumps over a lazy "
		"dog while compressed memory regions flow through the queue ";
	uint32_t x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		p[i] = (x >> 24) < 16 ? (uint8_t)(x >> 8) :
		       (uint8_t)words[i % (sizeof(words) - 1)];
	}
}

static void setup_device(void)
{
	uint32_t slots = opt.bw ? opt.depth : 1, i;
	struct cmr_done d;
	size_t src_size;

	cmr_session_open_attr(&sess, &(struct cmr_session_attr){
		.devname = opt.device,
		.depth = opt.depth + 1,
		.create_flags = opt.sqpoll ? CMRDV_QP_CREATE_SQ_POLL : 0,
		.events = opt.events,
	});
	if (opt.alg->key_len) {
		uint8_t key[64];
		struct cmrdv_key_init_attr ka = {
			.alg = opt.alg->alg, .material = key,
			.length = opt.alg->key_len,
		};

		for (i = 0; i < sizeof(key); i++)
			key[i] = i * 13 + 1;
		dkey = cmrdv_create_key(sess.pd, &ka);
		if (!dkey) {
			perror("cmr-perf: cmrdv_create_key");
			exit(1);
		}
	}
	/* Room for any forward output: compressors expand small inputs. */
	dst_cap = opt.size + opt.size / 8 + 1024;
	/* Inverse: each slot will hold its forward output. */
	src_stride = opt.inverse ? dst_cap : opt.size;
	src_size = (size_t)src_stride * slots;
	src = aligned_alloc(4096, (src_size + 8191) & ~4095ul);
	dst = aligned_alloc(4096, ((size_t)dst_cap * slots + 8191) & ~4095ul);
	src_len = calloc(slots, sizeof(*src_len));
	if (!src || !dst || !src_len) {
		fprintf(stderr, "cmr-perf: out of memory\n");
		exit(1);
	}
	fill(src, src_size);
	for (i = 0; i < slots; i++)
		src_len[i] = opt.size;
	src_mr = cmr_session_reg(&sess, src, src_size);
	dst_mr = cmr_session_reg(&sess, dst, (size_t)dst_cap * slots);

	if (opt.inverse) {
		/* Produce the input of the inverse operation on the device. */
		opt.inverse = false;
		for (i = 0; i < slots; i++) {
			ibv_wr_start(sess.qpx);
			post_one(i, i);
			if (ibv_wr_complete(sess.qpx))
				exit(1);
			wait_ok(&d);
			memcpy(src + (size_t)i * src_stride,
			       dst + (size_t)i * dst_cap, d.byte_len);
			src_len[i] = d.byte_len;
		}
		opt.inverse = true;
		dst_cap = opt.size + 64;
	}
}

static void run_latency(void)
{
	uint32_t i, n = opt.iters + 50;
	uint64_t *c = calloc(n, sizeof(*c)), t;
	struct cmr_done d;

	for (i = 0; i < n; i++) {
		t = __rdtsc();
		ibv_wr_start(sess.qpx);
		post_one(i, 0);
		if (ibv_wr_complete(sess.qpx)) {
			perror("cmr-perf: ibv_wr_complete");
			exit(1);
		}
		wait_ok(&d);
		c[i] = __rdtsc() - t;
	}
	/* The first WRs warm caches and workspaces. */
	report_latency("cmr device, post to completion", c + 50, opt.iters);
}

static void run_bw(void)
{
	uint32_t posted = 0, done = 0, inflight = 0;
	uint64_t t0, t1, bytes = 0;
	struct cmr_done d;

	t0 = __rdtsc();
	while (done < opt.iters) {
		if (posted < opt.iters && inflight < opt.depth) {
			ibv_wr_start(sess.qpx);
			post_one(posted, posted % opt.depth);
			if (ibv_wr_complete(sess.qpx)) {
				perror("cmr-perf: ibv_wr_complete");
				exit(1);
			}
			posted++;
			inflight++;
			continue;
		}
		wait_ok(&d);
		done++;
		inflight--;
		bytes += opt.size;
	}
	t1 = __rdtsc();
	/* perftest's unit: MiB/s, under the header its 4.5 release prints. */
	printf(" #bytes #iterations BW average[MB/sec] MsgRate[Mpps]\n");
	printf(" %-6u %-11u %-18.2f %.6f\n", opt.size, opt.iters,
	       bytes / ((t1 - t0) / cycles_per_us) * 1e6 / 0x100000,
	       opt.iters / ((t1 - t0) / cycles_per_us));
}

int main(int argc, char **argv)
{
	int c;
	size_t i;

	while ((c = getopt(argc, argv, "D:a:is:n:q:bPeACRl:N")) != -1) {
		switch (c) {
		case 'D': opt.device = optarg; break;
		case 'a':
			opt.alg = NULL;
			for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
				if (!strcmp(optarg, algs[i].name))
					opt.alg = &algs[i];
			if (!opt.alg) {
				fprintf(stderr, "cmr-perf: unknown alg %s\n", optarg);
				return 2;
			}
			break;
		case 'i': opt.inverse = true; break;
		case 's': opt.size = strtoul(optarg, NULL, 0); break;
		case 'n': opt.iters = strtoul(optarg, NULL, 0); break;
		case 'q': opt.depth = strtoul(optarg, NULL, 0); break;
		case 'b': opt.bw = true; break;
		case 'P': opt.sqpoll = true; break;
		case 'e': opt.events = true; break;
		case 'A': opt.af_alg = true; break;
		case 'C': opt.pingpong = true; break;
		case 'R': opt.ring_pingpong = true; break;
		case 'l': opt.level = strtoul(optarg, NULL, 0); break;
		case 'N': opt.no_report = true; break;
		default:
			fprintf(stderr, "usage: see the comment at the top of cmr-perf.c\n");
			return 2;
		}
	}
	if (!opt.size || !opt.iters || !opt.depth) {
		fprintf(stderr, "cmr-perf: size, iterations and depth must be > 0\n");
		return 2;
	}
	if (!opt.no_report)
		calibrate();
	printf("# alg %s%s, %u bytes, %u iterations, %.0f MHz cycle counter\n",
	       opt.alg->name, opt.inverse ? " (inverse)" : "", opt.size,
	       opt.iters, cycles_per_us);
	if (opt.pingpong) {
		run_pingpong();
		return 0;
	}
	if (opt.ring_pingpong) {
		run_ring_pingpong();
		return 0;
	}
	if (opt.af_alg) {
		run_af_alg();
		return 0;
	}
	setup_device();
	if (opt.bw)
		run_bw();
	else
		run_latency();
	if (opt.no_report)
		print_maps();
	ibv_dereg_mr(src_mr);
	ibv_dereg_mr(dst_mr);
	if (dkey)
		cmrdv_destroy_key(dkey);
	cmr_session_close(&sess);
	return 0;
}
