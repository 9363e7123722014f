// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A QEMU TCG plugin: how many guest instructions ran from each translated
 * block, written as "vaddr insns execs dispatch" lines at exit (out=FILE).
 * Guest instruction counts, unlike times under emulation, repeat from run
 * to run: bench/wr-instructions turns them into instructions per WR and
 * function.
 *
 * dispatch: how often leaving the block goes through TCG's look-up of the
 * next block (helper_lookup_tb_ptr) rather than a direct jump chained
 * between translated blocks, 0 to 1 per execution.  Under QEMU 7.2 a
 * block is chained to its successor only when the target is known and on
 * the block's first page, so every return, indirect call or jump
 * (retpolines included) and every call or jump to another page takes the
 * look-up, which costs as much as dozens of ordinary instructions: host
 * profiles of the WR round trip put a third of QEMU's time there.
 *
 * Written against QEMU's plugin API version 1 (QEMU 7.2, Debian 12); the
 * few calls it needs are declared here, as the API header is not packaged.
 * Counters are bumped inline by the translated code, without atomics: two
 * vCPUs running one block at once may lose a count, which is noise here.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb,
						 size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
	enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, void *data), void *data);

#define EXPORT __attribute__((visibility("default")))

EXPORT int qemu_plugin_version = 1;

/* One per translation; a block translated again gets another. */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t execs;
	double dispatch;	/* look-ups per execution */
	struct block *next;
};

static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER; /* blocks */
static struct block *blocks;
static const char *out_path;

#define PAGE_MASK	(~(uint64_t)0xfff)

static double off_page(uint64_t first, uint64_t target)
{
	return (first & PAGE_MASK) != (target & PAGE_MASK);
}

/*
 * How the block's last instruction (at vaddr, size bytes) leaves it: see
 * the top.  An x86 decoder for branches only; anything else ends a block
 * by falling through to the next instruction (a page or length limit, or
 * an instruction that must end it), chained if that is on the same page.
 */
static double dispatch_of(uint64_t first, uint64_t vaddr, const uint8_t *p,
			  size_t size)
{
	uint64_t next = vaddr + size;
	size_t i = 0;

	while (i < size && (p[i] == 0x66 || p[i] == 0x67 || p[i] == 0xf2 ||
			    p[i] == 0xf3 || p[i] == 0x2e || p[i] == 0x3e ||
			    p[i] == 0x26 || p[i] == 0x36 || p[i] == 0x64 ||
			    p[i] == 0x65 || (p[i] & 0xf0) == 0x40))
		i++;
	if (i >= size)
		return off_page(first, next);
	switch (p[i]) {
	case 0xc2: case 0xc3: case 0xca: case 0xcb: case 0xcf:	/* returns */
	case 0xcc: case 0xcd:					/* int */
		return 1;
	case 0xff:				/* call, jmp indirect (/2../5) */
		if (i + 1 < size) {
			unsigned int reg = (p[i + 1] >> 3) & 7;

			if (reg >= 2 && reg <= 5)
				return 1;
		}
		break;
	case 0xe8: case 0xe9:			/* call, jmp rel32 */
		if (size - i == 5) {
			int32_t rel;

			memcpy(&rel, p + i + 1, 4);
			return off_page(first, next + rel);
		}
		break;
	case 0xeb:				/* jmp rel8 */
		return off_page(first, next + (int8_t)p[i + 1]);
	case 0x0f:
		if (i + 1 < size && p[i + 1] == 0x05)	/* syscall */
			return 1;
		if (i + 1 < size && (p[i + 1] & 0xf0) == 0x80 &&
		    size - i == 6) {			/* jcc rel32 */
			int32_t rel;

			memcpy(&rel, p + i + 2, 4);
			/* Taken or not: count half of each unknown way. */
			return (off_page(first, next + rel) +
				off_page(first, next)) / 2;
		}
		break;
	default:
		if ((p[i] & 0xf0) == 0x70 && size - i == 2)	/* jcc rel8 */
			return (off_page(first, next + (int8_t)p[i + 1]) +
				off_page(first, next)) / 2;
	}
	return off_page(first, next);
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	struct block *b = calloc(1, sizeof(*b));

	if (!b)
		abort();
	b->vaddr = qemu_plugin_tb_vaddr(tb);
	b->insns = qemu_plugin_tb_n_insns(tb);
	if (b->insns) {
		struct qemu_plugin_insn *last =
			qemu_plugin_tb_get_insn(tb, b->insns - 1);

		b->dispatch = dispatch_of(b->vaddr,
					  qemu_plugin_insn_vaddr(last),
					  qemu_plugin_insn_data(last),
					  qemu_plugin_insn_size(last));
	}
	pthread_mutex_lock(&blocks_lock);
	b->next = blocks;
	blocks = b;
	pthread_mutex_unlock(&blocks_lock);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &b->execs, 1);
}

static void finished(qemu_plugin_id_t id, void *data)
{
	FILE *f = fopen(out_path, "w");
	struct block *b;

	if (!f) {
		perror(out_path);
		return;
	}
	for (b = blocks; b; b = b->next)
		if (b->execs)
			fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64 " %g\n",
				b->vaddr, b->insns, b->execs, b->dispatch);
	fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
			       const struct qemu_info_t *info, int argc,
			       char **argv)
{
	if (argc != 1 || strncmp(argv[0], "out=", 4)) {
		fprintf(stderr, "insn-count: usage: -plugin insn-count.so,out=FILE\n");
		return -1;
	}
	out_path = strdup(argv[0] + 4);
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	qemu_plugin_register_atexit_cb(id, finished, NULL);
	return 0;
}
