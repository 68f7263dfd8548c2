/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Saker probe: maps, the per-CPU event builder and the ring-buffer submit path.
 *
 * Every event is built in a per-CPU scratch buffer (auxmap) in the scap layout:
 *   26-byte header (u64 ts, u64 tid, u32 len, u16 type, u32 nparams),
 *   nparams u16 lengths, then the values back to back,
 * and copied into the ring buffer with bpf_ringbuf_output once complete. */
#ifndef SAKER_COMMON_H
#define SAKER_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define MAX_EV (1 << 16)          /* largest event (scap non-large block limit) */
#define EV_MASK (MAX_EV - 1)
#define HDR_LEN 26
#define MAX_STR 4096              /* one path / string param */
#define MAX_ARGS 4096             /* args or env area */
#define MAX_COMM 16
#define NSYSCALLS 512
#define PSEUDO_PROCEXIT 511       /* slot of `interesting` that gates procexit */
#define MAX_COMP 32               /* path components kept per path */

/* ---------- settings written by userspace before load ---------- */
const volatile u64 boot_offset_ns = 0;   /* epoch ns - boottime ns */
const volatile u32 exclude_tgid = 0;     /* Saker itself */
/* force a wakeup every N records per CPU. Not also "when much is unread": a consumer that is
 * behind is awake anyway, and a forced wakeup on every record then (an irq_work each) made the
 * probe's cost per event 5-20x (0.45 -> 2.9 us with a busy reader, 8.4 us with a stopped one). */
const volatile u32 wake_batch = 64;
const volatile u8 mmap_exec_only = 1;    /* mmap/mprotect only with PROT_EXEC */

/* ---------- maps ---------- */
struct aux {
	u8 data[MAX_EV * 2];
	u32 pos;     /* next value byte */
	u32 idx;     /* next param index */
	u32 np;      /* params of the event being built */
	u32 unwoken; /* records submitted without a wakeup */
	u32 type;
	u32 drop;    /* set when the event overflowed */
	u64 comp[MAX_COMP]; /* scratch: path component name pointers */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs at load */
	__type(key, u32);
	__type(value, struct aux);
} auxmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 26); /* resized at load */
} events SEC(".maps");

/* interesting[nr] != 0: the syscall with that number is captured.
 * Slot PSEUDO_PROCEXIT gates the procexit event. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSYSCALLS);
	__type(key, u32);
	__type(value, u8);
} interesting SEC(".maps");

/* exit_progs[nr]: the program encoding the exit event of syscall nr. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NSYSCALLS);
	__type(key, u32);
	__type(value, u32);
} exit_progs SEC(".maps");

/* stage_progs[i]: second and third stages of events too large for one program. */
#define STAGE_PROC2 0
#define STAGE_PROC3 1
#define STAGE_CLONE2 2
#define NSTAGES 4
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NSTAGES);
	__type(key, u32);
	__type(value, u32);
} stage_progs SEC(".maps");

/* stats: per-CPU counters. */
#define STAT_EVENTS 0
#define STAT_DROPS 1     /* ring buffer full */
#define STAT_TOOBIG 2    /* event larger than MAX_EV */
#define STAT_WAKEUPS 3
#define NSTATS 4
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NSTATS);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps");

/* execve filename of a successful exec, taken at sched_process_exec (kernel copy),
 * consumed by the execve exit of the same thread. */
struct exec_name {
	char s[MAX_STR];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, struct exec_name);
} exec_fname SEC(".maps");

/* ---------- helpers ---------- */
static __always_inline void stat_inc(u32 k)
{
	u64 *v = bpf_map_lookup_elem(&stats, &k);
	if (v)
		*v += 1;
}

static __always_inline struct aux *aux_get(void)
{
	u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&auxmap, &cpu);
}

static __always_inline void ev_begin(struct aux *a, u32 type, u32 np)
{
	a->type = type;
	a->np = np;
	a->idx = 0;
	a->drop = 0;
	a->pos = HDR_LEN + np * 2;
}

static __always_inline void push_len(struct aux *a, u32 len)
{
	u32 off = HDR_LEN + (a->idx & 63) * 2;
	*(u16 *)&a->data[off & EV_MASK] = (u16)len;
	a->idx++;
	a->pos += len;
	if (a->pos > MAX_EV - 1)
		a->drop = 1;
}

#define VAL_PTR(a, T) ((T *)&(a)->data[(a)->pos & EV_MASK])

static __always_inline void put_u8(struct aux *a, u8 v)
{
	*VAL_PTR(a, u8) = v;
	push_len(a, 1);
}
static __always_inline void put_u16(struct aux *a, u16 v)
{
	*VAL_PTR(a, u16) = v;
	push_len(a, 2);
}
static __always_inline void put_u32(struct aux *a, u32 v)
{
	*VAL_PTR(a, u32) = v;
	push_len(a, 4);
}
static __always_inline void put_u64(struct aux *a, u64 v)
{
	*VAL_PTR(a, u64) = v;
	push_len(a, 8);
}
static __always_inline void put_s64(struct aux *a, s64 v) { put_u64(a, (u64)v); }
/* an fd argument: int sign-extended to 64 bits */
static __always_inline void put_fd(struct aux *a, u64 arg) { put_s64(a, (s64)(s32)arg); }
static __always_inline void put_empty(struct aux *a) { push_len(a, 0); }

/* NUL-terminated string from user memory; an unreadable pointer gives an empty param. */
static __always_inline u32 put_ustr(struct aux *a, unsigned long p)
{
	long n = 0;
	if (p)
		n = bpf_probe_read_user_str(&a->data[a->pos & EV_MASK], MAX_STR, (void *)p);
	if (n < 0)
		n = 0;
	push_len(a, n);
	return n;
}

static __always_inline u32 put_kstr(struct aux *a, const void *p, u32 max)
{
	long n = 0;
	if (p)
		n = bpf_probe_read_kernel_str(&a->data[a->pos & EV_MASK], max & (MAX_STR * 2 - 1), p);
	if (n < 0)
		n = 0;
	push_len(a, n);
	return n;
}

/* raw bytes from user memory (len bounded by MAX_ARGS). */
static __always_inline void put_ubytes(struct aux *a, unsigned long p, u32 len)
{
	if (len > MAX_ARGS - 1)
		len = MAX_ARGS - 1;
	asm volatile("" : "+r"(len)); /* keep the mask below for the verifier */
	len &= (MAX_ARGS - 1);
	if (!p || len == 0 || bpf_probe_read_user(&a->data[a->pos & EV_MASK], len, (void *)p) < 0)
		len = 0;
	push_len(a, len);
}

/* DYN param with the UINT64 index (ptrace addr/data). */
static __always_inline void put_dyn_u64(struct aux *a, u64 v)
{
	*VAL_PTR(a, u8) = 0;
	*(u64 *)&a->data[(a->pos + 1) & EV_MASK] = v;
	push_len(a, 9);
}

/* submits the event built in a as thread tid's */
static __always_inline void ev_submit_tid(struct aux *a, u32 tid)
{
	u32 len = a->pos;
	if (a->drop || len > MAX_EV - 1 || a->idx != a->np) {
		stat_inc(STAT_TOOBIG);
		return;
	}
	*(u64 *)&a->data[0] = bpf_ktime_get_boot_ns() + boot_offset_ns;
	*(u64 *)&a->data[8] = tid;
	*(u32 *)&a->data[16] = len;
	*(u16 *)&a->data[20] = (u16)a->type;
	*(u32 *)&a->data[22] = a->np;

	u64 flags = BPF_RB_NO_WAKEUP;
	a->unwoken++;
	if (a->unwoken >= wake_batch) {
		flags = BPF_RB_FORCE_WAKEUP;
		a->unwoken = 0;
		stat_inc(STAT_WAKEUPS);
	}
	asm volatile("" : "+r"(len)); /* keep the bound below for the verifier */
	len &= EV_MASK;
	if (bpf_ringbuf_output(&events, a->data, len, flags) < 0) {
		stat_inc(STAT_DROPS);
		return;
	}
	stat_inc(STAT_EVENTS);
}

static __always_inline void ev_submit(struct aux *a) { ev_submit_tid(a, (u32)bpf_get_current_pid_tgid()); }

/* syscall arguments from the saved user registers (x86_64). At sys_exit they still hold the
 * values the syscall was called with (only ax is overwritten by the return value). */
static __always_inline unsigned long sc_arg(struct pt_regs *regs, int i)
{
	switch (i) {
	case 0: return regs->di;
	case 1: return regs->si;
	case 2: return regs->dx;
	case 3: return regs->r10;
	case 4: return regs->r8;
	case 5: return regs->r9;
	}
	return 0;
}

#endif
