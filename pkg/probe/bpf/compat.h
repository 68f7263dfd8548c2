/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Saker probe: 32-bit (ia32) system calls on x86_64.
 *
 * A 32-bit program, or a 64-bit one using the `int $0x80` gate, enters the kernel through the
 * ia32 entry points: the thread's thread_info.status carries TS_COMPAT for the duration of the
 * call (cleared on the way back to user mode, so it is still set at sys_exit), orig_ax holds the
 * number of the ia32 table, and the arguments are in ebx, ecx, edx, esi, edi, ebp (only their low
 * 32 bits count: pointers are 32-bit).
 *
 * The dispatcher translates such a call into the 64-bit syscall it stands for (ia32_to_64,
 * filled from Go) and stashes the arguments, in the 64-bit order and meaning, in a per-CPU
 * slot (sc32); the encoders then read their arguments through ARG(), which takes them from the
 * stash for a compat call and from the registers otherwise, so both paths produce the same
 * event. Calls whose ia32 form differs from the 64-bit one are rewritten here: socketcall
 * (one entry point for the socket calls, arguments in a user array), the old mmap (arguments
 * in a user struct), mmap2 (offset in pages), oldumount (no flags), pread64/pwrite64 (offset
 * split over two registers) and the 16-bit uid/gid calls (0xffff is -1).
 *
 * The `interesting` map holds two bits per number: SEL_64 for the 64-bit table, SEL_IA32 for
 * the ia32 table (set by Go for the ia32 numbers of the selected syscalls), so an unselected
 * syscall still costs one lookup and no TS_COMPAT read. */
#ifndef SAKER_COMPAT_H
#define SAKER_COMPAT_H

#include "common.h"

#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */

#define SEL_64 0x1
#define SEL_IA32 0x2

/* ia32 numbers that need more than a renumbering (arch/x86/entry/syscalls/syscall_32.tbl) */
#define IA32_LCHOWN16 16
#define IA32_UMOUNT 22
#define IA32_SETUID16 23
#define IA32_SETGID16 46
#define IA32_SETREUID16 70
#define IA32_SETREGID16 71
#define IA32_OLD_MMAP 90
#define IA32_FCHOWN16 95
#define IA32_SOCKETCALL 102
#define IA32_SETRESUID16 164
#define IA32_SETRESGID16 170
#define IA32_PREAD64 180
#define IA32_PWRITE64 181
#define IA32_CHOWN16 182
#define IA32_MMAP2 192
#define IA32_PREADV 333
#define IA32_PWRITEV 334

/* x86_64 numbers socketcall's calls become */
#define NR64_SOCKET 41
#define NR64_CONNECT 42
#define NR64_ACCEPT 43
#define NR64_SENDTO 44
#define NR64_RECVFROM 45
#define NR64_SENDMSG 46
#define NR64_RECVMSG 47
#define NR64_BIND 49
#define NR64_LISTEN 50
#define NR64_ACCEPT4 288

/* the arguments of a compat call, in the 64-bit syscall's order, and its 64-bit number */
struct sc_args {
	u64 a[6];
	u32 nr;   /* x86_64 number, NSYSCALLS when the call has none */
	u32 nr32; /* ia32 number */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct sc_args);
} sc32 SEC(".maps");

/* ia32_to_64[ia32 nr]: the x86_64 number of the same syscall, NSYSCALLS when none is encoded */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSYSCALLS);
	__type(key, u32);
	__type(value, u32);
} ia32_to_64 SEC(".maps");

static __always_inline bool in_ia32(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return bpf_core_field_exists(t->thread_info.status) && (t->thread_info.status & TS_COMPAT);
}

/* the stash of the current compat call, NULL for a 64-bit call */
static __always_inline struct sc_args *compat_args(void)
{
	if (!in_ia32())
		return NULL;
	u32 k = 0;
	return bpf_map_lookup_elem(&sc32, &k);
}

/* a 16-bit uid or gid as the kernel widens it (low2highuid): 0xffff means -1 */
static __always_inline u64 uid16(u64 v)
{
	v &= 0xffff;
	return v == 0xffff ? 0xffffffffULL : v;
}

/* socketcall(call, args): the socket syscall call stands for, arguments from the user array */
static __always_inline u32 ia32_socketcall(struct sc_args *s)
{
	u32 v[6] = {};
	u32 nr = NSYSCALLS;
	void *p = (void *)s->a[1];
	switch ((u32)s->a[0]) {
	case 1: nr = NR64_SOCKET; bpf_probe_read_user(v, 12, p); break;
	case 2: nr = NR64_BIND; bpf_probe_read_user(v, 12, p); break;
	case 3: nr = NR64_CONNECT; bpf_probe_read_user(v, 12, p); break;
	case 4: nr = NR64_LISTEN; bpf_probe_read_user(v, 8, p); break;
	case 5: nr = NR64_ACCEPT; bpf_probe_read_user(v, 12, p); break;
	case 9: nr = NR64_SENDTO; bpf_probe_read_user(v, 16, p); break;   /* send: no address */
	case 10: nr = NR64_RECVFROM; bpf_probe_read_user(v, 16, p); break; /* recv: no address */
	case 11: nr = NR64_SENDTO; bpf_probe_read_user(v, 24, p); break;
	case 12: nr = NR64_RECVFROM; bpf_probe_read_user(v, 24, p); break;
	case 16: nr = NR64_SENDMSG; bpf_probe_read_user(v, 12, p); break;
	case 17: nr = NR64_RECVMSG; bpf_probe_read_user(v, 12, p); break;
	case 18: nr = NR64_ACCEPT4; bpf_probe_read_user(v, 16, p); break;
	}
	for (int i = 0; i < 6; i++)
		s->a[i] = v[i];
	return nr;
}

/* Fills the stash for the compat call nr32 (registers of regs) and returns its x86_64 number,
 * NSYSCALLS when it has none. */
static __always_inline u32 ia32_enter(struct pt_regs *regs, u32 nr32)
{
	u32 k = 0;
	struct sc_args *s = bpf_map_lookup_elem(&sc32, &k);
	if (!s)
		return NSYSCALLS;
	s->a[0] = (u32)regs->bx;
	s->a[1] = (u32)regs->cx;
	s->a[2] = (u32)regs->dx;
	s->a[3] = (u32)regs->si;
	s->a[4] = (u32)regs->di;
	s->a[5] = (u32)regs->bp;
	s->nr32 = nr32;
	u32 *to = bpf_map_lookup_elem(&ia32_to_64, &nr32);
	u32 nr = to ? *to : NSYSCALLS;
	switch (nr32) {
	case IA32_SOCKETCALL:
		nr = ia32_socketcall(s);
		break;
	case IA32_OLD_MMAP: { /* struct mmap_arg_struct32 {addr, len, prot, flags, fd, offset} */
		u32 m[6] = {};
		bpf_probe_read_user(m, sizeof(m), (void *)s->a[0]);
		for (int i = 0; i < 6; i++)
			s->a[i] = m[i];
		break;
	}
	case IA32_MMAP2:
		s->a[5] <<= 12; /* pgoff, in 4 KiB units whatever the page size */
		break;
	case IA32_UMOUNT:
		s->a[1] = 0;
		break;
	case IA32_PREAD64:
	case IA32_PWRITE64:
		s->a[3] |= s->a[4] << 32;
		s->a[4] = 0;
		break;
	case IA32_PREADV:
	case IA32_PWRITEV:
		s->a[3] |= s->a[4] << 32;
		s->a[4] = 0;
		break;
	case IA32_SETUID16:
	case IA32_SETGID16:
		s->a[0] = uid16(s->a[0]);
		break;
	case IA32_SETREUID16:
	case IA32_SETREGID16:
		s->a[0] = uid16(s->a[0]);
		s->a[1] = uid16(s->a[1]);
		break;
	case IA32_SETRESUID16:
	case IA32_SETRESGID16:
		s->a[0] = uid16(s->a[0]);
		s->a[1] = uid16(s->a[1]);
		s->a[2] = uid16(s->a[2]);
		break;
	case IA32_CHOWN16:
	case IA32_LCHOWN16:
	case IA32_FCHOWN16:
		s->a[1] = uid16(s->a[1]);
		s->a[2] = uid16(s->a[2]);
		break;
	}
	s->nr = nr;
	return nr;
}

/* syscall argument i of the current call (compat stash c32, or the x86_64 registers) */
static __always_inline unsigned long sys_arg(struct pt_regs *regs, struct sc_args *c32, int i)
{
	unsigned long v;
	/* the empty asm keeps the two loads apart: the verifier refuses one load instruction
	 * used with a map value pointer and a pt_regs pointer */
	if (c32) {
		v = (i >= 0 && i < 6) ? c32->a[i] : 0;
		asm volatile("" : "+r"(v));
	} else {
		v = sc_arg(regs, i);
		asm volatile("" : "+r"(v));
	}
	return v;
}

/* the x86_64 number of the current call */
static __always_inline u32 sys_nr(struct pt_regs *regs, struct sc_args *c32)
{
	u32 nr;
	if (c32) {
		nr = c32->nr;
		asm volatile("" : "+r"(nr));
	} else {
		nr = regs->orig_ax;
		asm volatile("" : "+r"(nr));
	}
	return nr;
}

/* size in bytes of a user pointer of the current call */
static __always_inline u32 ptr_size(struct sc_args *c32) { return c32 ? 4 : 8; }

/* a user pointer read from an array of the caller's pointers (argv, envp) */
static __always_inline unsigned long read_uptr(unsigned long at, u32 psize)
{
	if (psize == 4) {
		u32 p = 0;
		bpf_probe_read_user(&p, sizeof(p), (void *)at);
		return p;
	}
	unsigned long p = 0;
	bpf_probe_read_user(&p, sizeof(p), (void *)at);
	return p;
}

/* struct compat_msghdr and compat_iovec (32-bit pointers and sizes) */
struct msghdr32 {
	u32 name;
	s32 namelen;
	u32 iov;
	u32 iovlen;
	u32 control;
	u32 controllen;
	u32 flags;
};
struct iovec32 {
	u32 base;
	u32 len;
};

#endif
