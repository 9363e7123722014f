// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cmr-crypt: AES-256-GCM file encryption through a cmr device.
 *
 *   cmr-crypt -e|-d -k KEYFILE [-D DEVICE] INPUT OUTPUT
 *
 * KEYFILE holds 32 raw key bytes.  The file format (all integers
 * big-endian):
 *   header  "CMRCRYPT" | u32 version (1) | u32 chunk size | 12-byte nonce
 *           | u32 zero                                        (32 bytes)
 *   chunks  ciphertext of up to chunk-size bytes | 16-byte tag, one per
 *           chunk; the last chunk may be empty.
 * Chunk i uses IV = nonce with its last 8 bytes XORed with i, and as AAD
 * the 32-byte header | u64 i | u8 last, so reordered, swapped-in or
 * truncated chunks fail authentication.  The nonce is random per file.
 *
 * OUTPUT, when it is a regular file or does not exist, is written under a
 * temporary name and renamed into place only when every chunk succeeded;
 * anything else (standard output, a pipe, a symlink) is written as it goes
 * and a failure shows only in the exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmr_example.h"

#define CHUNK (64 << 10)
#define TAG 16
#define HDR 32
#define AAD (HDR + 9)

static struct cmr_session sess;

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : (ssize_t)got;
		got += n;
	}
	return got;
}

static int write_full(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

/*
 * A regular or new OUTPUT: a temporary file next to it, named in *tmp, so
 * that a wrong key never destroys what is there (OUTPUT may be INPUT).
 * Anything else, *tmp NULL: OUTPUT itself.  lstat(), so that /dev/stdout,
 * a link, is never replaced.
 */
static int open_output(const char *path, char **tmp)
{
	struct stat sb;
	int fd;

	*tmp = NULL;
	if (lstat(path, &sb) ? errno != ENOENT : !S_ISREG(sb.st_mode))
		return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	*tmp = malloc(strlen(path) + sizeof(".XXXXXX"));
	if (!*tmp)
		return -1;
	strcpy(stpcpy(*tmp, path), ".XXXXXX");
	fd = mkstemp(*tmp);	/* O_EXCL, mode 0600 */
	if (fd < 0) {
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *keyfile = NULL, *device = NULL;
	uint8_t key[32], hdr[HDR], *aad, *in, *out, peek;
	struct cmrdv_key_init_attr kattr = { .alg = CMRDV_ALG_AES_GCM };
	struct ibv_mr *in_mr, *out_mr;
	struct cmrdv_key *dkey;
	int mode = 0, c, fd, ifd, ofd, ret = 1;
	char *tmp;
	bool carry = false;
	uint64_t idx = 0;

	while ((c = getopt(argc, argv, "edk:D:")) != -1) {
		switch (c) {
		case 'e': case 'd': mode = c; break;
		case 'k': keyfile = optarg; break;
		case 'D': device = optarg; break;
		default: goto usage;
		}
	}
	if (!mode || !keyfile || argc - optind != 2)
		goto usage;

	fd = open(keyfile, O_RDONLY);
	if (fd < 0 || read_full(fd, key, sizeof(key)) != sizeof(key)) {
		fprintf(stderr, "cmr-crypt: %s: need 32 key bytes\n", keyfile);
		return 1;
	}
	close(fd);
	ifd = open(argv[optind], O_RDONLY);
	if (ifd < 0) {
		perror(argv[optind]);
		return 1;
	}

	cmr_session_open(&sess, device, 4);
	kattr.material = key;
	kattr.length = sizeof(key);
	dkey = cmrdv_create_key(sess.pd, &kattr);
	memset(key, 0, sizeof(key));
	if (!dkey) {
		perror("cmr-crypt: cmrdv_create_key");
		return 1;
	}
	/* One MR: AAD | data in, data | tag out. */
	in = malloc(AAD + CHUNK + TAG);
	out = malloc(CHUNK + TAG);
	in_mr = cmr_session_reg(&sess, in, AAD + CHUNK + TAG);
	out_mr = cmr_session_reg(&sess, out, CHUNK + TAG);
	aad = in;
	/* After the set-up, whose exit() on failure would leave it behind. */
	ofd = open_output(argv[optind + 1], &tmp);
	if (ofd < 0) {
		perror(argv[optind + 1]);
		goto out;
	}

	if (mode == 'e') {
		memcpy(hdr, "CMRCRYPT", 8);
		put_be32(hdr + 8, 1);
		put_be32(hdr + 12, CHUNK);
		if (getrandom(hdr + 16, 12, 0) != 12)
			goto out;
		put_be32(hdr + 28, 0);
		if (write_full(ofd, hdr, HDR))
			goto out;
	} else {
		if (read_full(ifd, hdr, HDR) != HDR ||
		    memcmp(hdr, "CMRCRYPT", 8) || get_be32(hdr + 8) != 1 ||
		    get_be32(hdr + 12) != CHUNK) {
			fprintf(stderr, "cmr-crypt: not a cmr-crypt file\n");
			goto out;
		}
	}
	memcpy(aad, hdr, HDR);

	for (;;) {
		size_t want = mode == 'e' ? CHUNK : CHUNK + TAG;
		struct cmrdv_crypto_attr ca = { .aad_len = AAD };
		struct cmr_done d;
		ssize_t n;
		bool last;

		/* The byte peeked at below starts this chunk. */
		if (carry)
			in[AAD] = peek;
		n = read_full(ifd, in + AAD + carry, want - carry);
		if (n < 0)
			goto out;
		n += carry;
		/*
		 * The last chunk is the one nothing follows.  Peek rather than
		 * seek back: the input may be a pipe.
		 */
		last = (size_t)n < want;
		if (!last) {
			ssize_t p = read_full(ifd, &peek, 1);

			if (p < 0)
				goto out;
			last = !p;
			carry = p;
		}
		memcpy(ca.iv, hdr + 16, 12);
		for (int i = 0; i < 8; i++)
			ca.iv[4 + i] ^= (uint8_t)(idx >> (56 - 8 * i));
		for (int i = 0; i < 8; i++)
			aad[HDR + i] = (uint8_t)(idx >> (56 - 8 * i));
		aad[HDR + 8] = last;

		ibv_wr_start(sess.qpx);
		sess.qpx->wr_id = idx;
		sess.qpx->wr_flags = IBV_SEND_SIGNALED;
		if (mode == 'e')
			cmrdv_wr_encrypt(sess.dqp, dkey, &ca);
		else
			cmrdv_wr_decrypt(sess.dqp, dkey, &ca);
		ibv_wr_set_sge(sess.qpx, in_mr->lkey, (uintptr_t)in, AAD + n);
		cmrdv_wr_set_dst_sge(sess.dqp, out_mr->lkey, (uintptr_t)out,
				     CHUNK + TAG);
		if (ibv_wr_complete(sess.qpx)) {
			perror("cmr-crypt: ibv_wr_complete");
			goto out;
		}
		cmr_session_wait(&sess, &d);
		if (d.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "cmr-crypt: chunk %llu: %s\n",
				(unsigned long long)idx, cmr_done_error(&d));
			goto out;
		}
		if (write_full(ofd, out, d.byte_len))
			goto out;
		idx++;
		if (last)
			break;
	}
	ret = 0;
out:
	if (ofd >= 0 && close(ofd))
		ret = 1;
	if (tmp && !ret && rename(tmp, argv[optind + 1])) {
		perror(argv[optind + 1]);
		ret = 1;
	}
	if (tmp && ret)
		unlink(tmp);
	free(tmp);
	close(ifd);
	ibv_dereg_mr(in_mr);
	ibv_dereg_mr(out_mr);
	cmrdv_destroy_key(dkey);
	cmr_session_close(&sess);
	return ret;
usage:
	fprintf(stderr, "usage: cmr-crypt -e|-d -k KEYFILE [-D DEVICE] INPUT OUTPUT\n");
	return 2;
}
