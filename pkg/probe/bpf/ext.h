/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Saker probe: extension params.
 *
 * Some events carry params beyond those of their row in the scap event table, appended after
 * the table's params (the header's nparams counts them; pkg/event.Event.Ext reads them):
 *   ext 0  u32 flags: EXT_IO_URING (the operation came through io_uring, not a syscall),
 *          EXT_IA32 (a 32-bit syscall: int $0x80 or a 32-bit program; every such event has it)
 *   ext 1  the kernel's path of the opened file (open, openat, openat2, creat; io_uring opens),
 *          empty where the file has none (fixed-file slots, failed opens)
 * Events without them are unchanged. Keep in step with pkg/event/ext.go. */
#ifndef SAKER_EXT_H
#define SAKER_EXT_H

#include "common.h"
#include "extract.h"

#define EXT_IO_URING 0x1
#define EXT_IA32 0x2
#define NEXT_FLAGS 1 /* ext params of an event with flags only */
#define NEXT_OPEN 2  /* flags and the resolved path */

/* 0: the resolved path is not walked (ext 1 left empty; Options.NoRealPath). Not const: user
 * space switches it while the probe runs (Probe.SetRealPath: the walk only when the rules read
 * fd.realpath). */
volatile u8 resolve_paths = 1;

static __always_inline void put_ext_flags(struct aux *a, u32 flags) { put_u32(a, flags); }

/* ext 1 of an open: the resolved path of the file it opened (f, in task t's fd table) */
static __always_inline void put_ext_realpath(struct aux *a, struct task_struct *t, struct file *f)
{
	if (!f || !resolve_paths) {
		put_empty(a);
		return;
	}
	put_path(a, t, &f->f_path);
}

/* the ext params of a syscall open: EXT_IA32 for a compat call, the resolved path of the file
 * it opened (opened_file) */
static __always_inline void put_ext_open(struct aux *a, struct file *f, bool ia32)
{
	put_ext_flags(a, ia32 ? EXT_IA32 : 0);
	put_ext_realpath(a, cur_task(), f);
}

#endif
