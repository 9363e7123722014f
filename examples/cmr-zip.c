// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr-zip: gzip-compatible compression through a cmr device.
 *
 *   cmr-zip [-d] [-c] [-k] [-f] [-1..-9] [-v] [-D DEVICE] [FILE...]
 *
 * Like gzip: FILE becomes FILE.gz (with -d, FILE.gz becomes FILE), the
 * input is removed unless -k, -c writes to standard output, no FILE or
 * "-" filters standard input.  The output is one gzip member, which gunzip
 * reads; -d reads gzip's output, several members included.  The data goes
 * through one DEFLATE stream object on the device, chunk by chunk, so a
 * file of any size yields one valid stream.  -v reports progress of large
 * files on standard error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmr_example.h"

/*
 * Chunk sizes, bounded by the device's max_compute_size (bytes per WR
 * source or destination).  Compression: an input chunk, and room for it
 * plus what the stream holds back.  Decompression: DEFLATE expands at most
 * 1032:1, so a chunk of max_compute_size / 1032 bytes always fits.
 */
#define ZIP_IN_MAX (256 << 10)
#define DEFLATE_MAX_EXPANSION 1032

struct chunks {
	size_t zip_in, zip_out, unzip_in, unzip_out, in_size, out_size;
};

struct opts {
	bool decompress, to_stdout, keep, force, verbose;
	int level;
	const char *device;
};

static struct cmr_session sess;
static struct chunks ch;
static char *inbuf, *outbuf;
static struct ibv_mr *in_mr, *out_mr;

static ssize_t read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (!n)
			break;
		got += n;
	}
	return got;
}

static int write_full(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* One stream WR: in[0..len) -> out, returns bytes produced or -1. */
static ssize_t stream_step(struct cmrdv_stream *st, size_t len, size_t out_cap,
			   uint32_t flags, bool *ended)
{
	struct cmr_done d;

	ibv_wr_start(sess.qpx);
	sess.qpx->wr_id = 1;
	sess.qpx->wr_flags = IBV_SEND_SIGNALED;
	cmrdv_wr_stream(sess.dqp, st, flags);
	ibv_wr_set_sge(sess.qpx, in_mr->lkey, (uintptr_t)inbuf, len);
	cmrdv_wr_set_dst_sge(sess.dqp, out_mr->lkey, (uintptr_t)outbuf, out_cap);
	if (ibv_wr_complete(sess.qpx)) {
		perror("cmr-zip: ibv_wr_complete");
		return -1;
	}
	cmr_session_wait(&sess, &d);
	if (d.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "cmr-zip: %s\n", cmr_done_error(&d));
		return -1;
	}
	*ended = d.result[0] & 1;
	return d.byte_len;
}

/* total: the input's size if known, for the progress report. */
static int run(const struct opts *o, int in, int out, off_t total,
	       const char *name)
{
	struct cmrdv_stream_init_attr attr = {
		.alg = CMRDV_ALG_DEFLATE,
		.dir = o->decompress ? CMRDV_INVERSE : CMRDV_FORWARD,
		.level = o->level,
		.flags = CMRDV_DEFLATE_GZIP,
	};
	size_t chunk = o->decompress ? ch.unzip_in : ch.zip_in;
	size_t cap = o->decompress ? ch.unzip_out : ch.zip_out;
	struct cmrdv_stream *st;
	off_t done = 0;
	int last_pct = -1, ret = 0;
	bool ended = false, eof = false;

	st = cmrdv_create_stream(sess.pd, &attr);
	if (!st) {
		perror("cmr-zip: cmrdv_create_stream");
		return -1;
	}
	while (!eof) {
		ssize_t n = read_full(in, inbuf, chunk), produced;

		if (n < 0) {
			perror(name);
			ret = -1;
			break;
		}
		/*
		 * read_full() is short only at the end; input that ends on a
		 * chunk boundary ends the stream with an empty WR.  st_size
		 * cannot tell: it is 0 for pipes, FIFOs and procfs files.
		 */
		eof = (size_t)n < chunk;
		produced = stream_step(st, n, cap, eof ? CMRDV_STREAM_END : 0,
				       &ended);
		if (produced < 0 || write_full(out, outbuf, produced)) {
			ret = -1;
			break;
		}
		done += n;
		if (o->verbose && total > 0) {
			int pct = (int)(100 * done / total);

			if (pct / 10 != last_pct / 10)
				fprintf(stderr, "\r%s: %3d%%", name, pct);
			last_pct = pct;
		}
	}
	if (!ret && o->decompress && !ended) {
		fprintf(stderr, "cmr-zip: %s: unexpected end of file\n", name);
		ret = -1;
	}
	if (o->verbose && total > 0)
		fprintf(stderr, "\n");
	cmrdv_destroy_stream(st);
	return ret;
}

static int do_file(const struct opts *o, const char *path)
{
	char *target = NULL;
	struct stat sb;
	int in, out, ret;
	size_t len;

	if (!strcmp(path, "-"))
		return run(o, 0, 1, -1, "stdin");

	len = strlen(path);
	if (o->to_stdout) {
		/* No output name to derive: like gzip, -dc takes any name. */
	} else if (o->decompress) {
		if (len < 4 || strcmp(path + len - 3, ".gz")) {
			fprintf(stderr, "cmr-zip: %s: unknown suffix\n", path);
			return -1;
		}
		target = strndup(path, len - 3);
	} else {
		if (asprintf(&target, "%s.gz", path) < 0)
			return -1;
	}
	in = open(path, O_RDONLY);
	if (in < 0 || fstat(in, &sb)) {
		perror(path);
		return -1;
	}
	if (o->to_stdout) {
		out = 1;
	} else {
		out = open(target, O_WRONLY | O_CREAT | O_TRUNC |
			   (o->force ? 0 : O_EXCL), sb.st_mode & 0777);
		if (out < 0) {
			perror(target);
			close(in);
			return -1;
		}
		/* The input's mode as gzip keeps it, whatever the umask. */
		fchmod(out, sb.st_mode & 0777);
	}
	ret = run(o, in, out, sb.st_size, path);
	close(in);
	if (out != 1 && close(out))
		ret = -1;
	if (ret && target && out != 1)
		unlink(target);
	if (!ret && !o->keep && !o->to_stdout)
		unlink(path);
	free(target);
	return ret;
}

static int size_chunks(struct chunks *c)
{
	struct cmrdv_device_attr attr;
	size_t max;
	int err;

	err = cmrdv_query_device(sess.ctx, &attr);
	if (err) {
		fprintf(stderr, "cmr-zip: cmrdv_query_device: %s\n",
			strerror(err));
		return -1;
	}
	if (!(attr.alg[CMRDV_ALG_DEFLATE].flags & CMRDV_ALG_CAP_STREAM)) {
		fprintf(stderr, "cmr-zip: the device has no DEFLATE streams\n");
		return -1;
	}
	max = attr.max_compute_size;
	c->zip_in = max / 2 < ZIP_IN_MAX ? max / 2 : ZIP_IN_MAX;
	c->zip_out = 2 * c->zip_in;
	c->unzip_in = max / DEFLATE_MAX_EXPANSION;
	c->unzip_out = max;
	if (!c->zip_in || !c->unzip_in) {
		fprintf(stderr, "cmr-zip: max_compute_size %zu is too small\n",
			max);
		return -1;
	}
	c->in_size = c->zip_in > c->unzip_in ? c->zip_in : c->unzip_in;
	c->out_size = c->zip_out > c->unzip_out ? c->zip_out : c->unzip_out;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .level = 6 };
	int c, i, ret = 0;

	while ((c = getopt(argc, argv, "dckfv123456789D:")) != -1) {
		switch (c) {
		case 'd': o.decompress = true; break;
		case 'c': o.to_stdout = true; break;
		case 'k': o.keep = true; break;
		case 'f': o.force = true; break;
		case 'v': o.verbose = true; break;
		case 'D': o.device = optarg; break;
		case '1' ... '9': o.level = c - '0'; break;
		default:
			fprintf(stderr, "usage: cmr-zip [-d] [-c] [-k] [-f] "
				"[-1..-9] [-v] [-D DEVICE] [FILE...]\n");
			return 2;
		}
	}
	cmr_session_open(&sess, o.device, 4);
	if (size_chunks(&ch))
		return 1;
	inbuf = malloc(ch.in_size);
	outbuf = malloc(ch.out_size);
	if (!inbuf || !outbuf)
		return 1;
	in_mr = cmr_session_reg(&sess, inbuf, ch.in_size);
	out_mr = cmr_session_reg(&sess, outbuf, ch.out_size);

	if (optind == argc)
		ret = do_file(&o, "-");
	for (i = optind; i < argc; i++)
		if (do_file(&o, argv[i]))
			ret = 1;

	ibv_dereg_mr(in_mr);
	ibv_dereg_mr(out_mr);
	cmr_session_close(&sess);
	return ret ? 1 : 0;
}
