// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//go:build ignore

/* Saker capture probe (x86_64).
 *
 * One dispatcher on tp_btf/sys_exit: a syscall not selected in `interesting` costs one array
 * lookup. Selected syscalls tail-call the program of that syscall (exit_progs[nr]), which builds
 * the scap exit event of the current event table (exit-only layout: the exit carries the enter
 * params too) from the return value, the saved user registers (still holding the arguments at
 * sys_exit) and the task's state, and submits it to the ring buffer. Large events (execve,
 * clone) are split over stage programs. procexit comes from tp_btf/sched_process_exit. */

#include "common.h"
#include "extract.h"
#include "ext.h"
#include "compat.h"
#include "data.h"
#include "enforce.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A program on sys_exit whose body sees regs, ret and c32: the stash of a compat (ia32)
 * call, NULL for a 64-bit one (compat.h). */
#define SYS_EXIT_PROG(prog, body)                                                                  \
	static __always_inline int body(void *ctx, struct pt_regs *regs, long ret,                \
					struct sc_args *c32);                                       \
	SEC("tp_btf/sys_exit") int BPF_PROG(prog, struct pt_regs *regs, long ret)                 \
	{                                                                                          \
		return body(ctx, regs, ret, compat_args());                                        \
	}                                                                                          \
	static __always_inline int body(void *ctx, struct pt_regs *regs, long ret,                \
					struct sc_args *c32)
/* the encoder of syscall name (exit_progs), and a stage program (stage_progs) */
#define EXIT_PROG(name) SYS_EXIT_PROG(x_##name, enc_##name)
#define STAGE_PROG(name) SYS_EXIT_PROG(name, enc_##name)
/* BEGIN(code, np) starts the event; a compat call's event gets one more param, ext flags
 * EXT_IA32, which END() appends (ext.h). BEGIN_EXT is for the events that write their own ext
 * params (the open family: put_ext_open sets EXT_IA32 itself). */
#define BEGIN_EXT(code, np)              \
	struct aux *a = aux_get();       \
	if (!a)                          \
		return 0;                \
	ev_begin(a, code, np)
#define BEGIN(code, np) BEGIN_EXT(code, (np) + (c32 ? NEXT_FLAGS : 0))
#define END()                                     \
	if (c32 && a->idx + NEXT_FLAGS == a->np) \
		put_ext_flags(a, EXT_IA32);       \
	ev_submit(a);                             \
	return 0
#define ARG(i) sys_arg(regs, c32, i)
#define SYSNR() sys_nr(regs, c32)

static __always_inline bool selected(u32 nr)
{
	u8 *on = bpf_map_lookup_elem(&interesting, &nr);
	return on && *on;
}

/* ---------------------------------------------------------------- dispatcher */
SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	u32 nr = (u32)regs->orig_ax;
	if (nr >= NSYSCALLS)
		return 0;
	u8 *on = bpf_map_lookup_elem(&interesting, &nr);
	if (!on || !*on)
		return 0;
	u8 sel = *on;
	if ((bpf_get_current_pid_tgid() >> 32) == exclude_tgid)
		return 0;
	if (!in_ia32()) {
		if (!(sel & SEL_64))
			return 0;
	} else {
		/* an ia32 call: encoded as the x86_64 syscall it stands for (compat.h) */
		if (!(sel & SEL_IA32))
			return 0;
		nr = ia32_enter(regs, nr);
		if (nr >= NSYSCALLS)
			return 0;
		on = bpf_map_lookup_elem(&interesting, &nr);
		if (!on || !(*on & SEL_64))
			return 0;
	}
	bpf_tail_call(ctx, &exit_progs, nr);
	return 0;
}

/* ---------------------------------------------------------------- process info */
/* exe (argv[0]) from a user argv array */
static __always_inline void put_argv_exe(struct aux *a, unsigned long argv, u32 psize)
{
	unsigned long p = 0;
	if (argv)
		p = read_uptr(argv, psize);
	put_ustr(a, p);
}

/* NUL-separated strings argv[skip..] from a user array */
struct argv_wr {
	struct aux *a;
	unsigned long argv;
	u32 start;
	u32 off;
	u32 psize; /* 8, or 4 for a compat call */
};
static long argv_cb(u64 i, void *ctx)
{
	struct argv_wr *w = ctx;
	struct aux *a = w->a;
	unsigned long p = 0;
	if (w->off > MAX_ARGS)
		return 1;
	p = read_uptr(w->argv + i * w->psize, w->psize);
	if (!p)
		return 1;
	long r = bpf_probe_read_user_str(&a->data[(w->start + w->off) & EV_MASK], 1024, (void *)p);
	if (r <= 0)
		return 1;
	w->off += r;
	return 0;
}
static __always_inline void put_argv(struct aux *a, unsigned long argv, int skip, u32 psize)
{
	struct argv_wr w = {.a = a, .argv = argv + skip * psize, .start = a->pos, .psize = psize};
	if (argv)
		bpf_loop(64, argv_cb, &w, 0);
	push_len(a, w.off);
}

/* params exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size, vm_rss, vm_swap,
 * comm (shared by execve and the clone family) */
static __always_inline void put_proc_common(struct aux *a, struct task_struct *t, bool from_mm,
					    unsigned long argv, u32 psize)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	if (from_mm && mm) {
		unsigned long as = BPF_CORE_READ(mm, arg_start);
		unsigned long ae = BPF_CORE_READ(mm, arg_end);
		u32 el = put_ustr(a, as);
		if (ae > as + el)
			put_ubytes(a, as + el, ae - as - el);
		else
			put_empty(a);
	} else if (from_mm) {
		put_empty(a);
		put_empty(a);
	} else {
		put_argv_exe(a, argv, psize);
		put_argv(a, argv, 1, psize);
	}
	put_s64(a, BPF_CORE_READ(t, pid));
	put_s64(a, BPF_CORE_READ(t, tgid));
	put_s64(a, BPF_CORE_READ(t, real_parent, tgid));
	struct fs_struct *fs = BPF_CORE_READ(t, fs);
	if (fs)
		put_path(a, t, &fs->pwd);
	else
		put_empty(a);
	put_u64(a, task_fdlimit(t));
	put_u64(a, BPF_CORE_READ(t, maj_flt));
	put_u64(a, BPF_CORE_READ(t, min_flt));
	put_u32(a, mm_vm_size_kb(mm));
	put_u32(a, mm_rss_kb(mm));
	put_u32(a, mm_swap_kb(mm));
	put_kstr(a, &t->comm, MAX_COMM);
}

/* ---------------------------------------------------------------- execve / execveat */
/* 293 execve / 331 execveat, 31 / 30 params */
static __always_inline int execve_common(void *ctx, struct pt_regs *regs, long ret, bool at,
					 struct sc_args *c32)
{
	BEGIN(at ? 331 : 293, at ? 30 : 31);
	put_s64(a, ret);
	put_proc_common(a, cur_task(), ret == 0, ARG(at ? 2 : 1), ptr_size(c32));
	bpf_tail_call(ctx, &stage_progs, STAGE_PROC2);
	return 0;
}
EXIT_PROG(execve) { return execve_common(ctx, regs, ret, false, c32); }
EXIT_PROG(execveat) { return execve_common(ctx, regs, ret, true, c32); }

/* params cgroups .. uid */
STAGE_PROG(execve_stage2)
{
	struct aux *a = aux_get();
	if (!a)
		return 0;
	struct task_struct *t = cur_task();
	bool at = SYSNR() == 322;
	put_cgroups(a, t);
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	if (ret == 0 && mm) {
		unsigned long es = BPF_CORE_READ(mm, env_start);
		unsigned long ee = BPF_CORE_READ(mm, env_end);
		put_ubytes(a, es, ee > es ? ee - es : 0);
	} else {
		put_argv(a, ARG(at ? 3 : 2), 0, ptr_size(c32));
	}
	put_u32(a, task_tty(t));
	put_s64(a, pid_vnr(task_pgrp(t)));
	put_u32(a, task_loginuid(t));

	struct file *exe = mm ? BPF_CORE_READ(mm, exe_file) : NULL;
	struct inode *ino = exe ? BPF_CORE_READ(exe, f_inode) : NULL;
	const struct cred *cred = BPF_CORE_READ(t, cred);
	u32 euid = BPF_CORE_READ(cred, euid.val);
	u32 egid = BPF_CORE_READ(cred, egid.val);
	u32 flags = 0;
	if (ino) {
		u16 mode = BPF_CORE_READ(ino, i_mode);
		u32 iuid = BPF_CORE_READ(ino, i_uid.val);
		u32 igid = BPF_CORE_READ(ino, i_gid.val);
		if (euid == 0 || (iuid == euid && (mode & 0200)) || (igid == egid && (mode & 020)) ||
		    (mode & 02))
			flags |= 0x1; /* EXE_WRITABLE (approximation of inode_permission) */
		char pfx[8] = {};
		bpf_probe_read_kernel(pfx, 6, BPF_CORE_READ(exe, f_path.dentry, d_name.name));
		if (pfx[0] == 'm' && pfx[1] == 'e' && pfx[2] == 'm' && pfx[3] == 'f' && pfx[4] == 'd' &&
		    pfx[5] == ':')
			flags |= 0x4; /* EXE_FROM_MEMFD */
		u32 layer = overlay_layer(ino);
		if (layer == LAYER_UPPER)
			flags |= 0x2; /* EXE_UPPER_LAYER */
		else if (layer == LAYER_LOWER)
			flags |= 0x8; /* EXE_LOWER_LAYER */
	}
	put_u32(a, flags);
	put_u64(a, read_cap(&cred->cap_inheritable));
	put_u64(a, read_cap(&cred->cap_permitted));
	put_u64(a, read_cap(&cred->cap_effective));
	put_u64(a, ino ? BPF_CORE_READ(ino, i_ino) : 0);
	put_u64(a, inode_time_ns(ino, true));
	put_u64(a, inode_time_ns(ino, false));
	put_u32(a, euid);
	bpf_tail_call(ctx, &stage_progs, STAGE_PROC3);
	return 0;
}

/* params trusted_exepath, pgid, gid, [filename] */
STAGE_PROG(execve_stage3)
{
	struct aux *a = aux_get();
	if (!a)
		return 0;
	struct task_struct *t = cur_task();
	bool at = SYSNR() == 322;
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	if (exe)
		put_path(a, t, &exe->f_path);
	else
		put_empty(a);
	put_s64(a, task_pgid(t));
	put_u32(a, BPF_CORE_READ(t, cred, egid.val));
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct exec_name *fn = ret == 0 ? bpf_map_lookup_elem(&exec_fname, &tid) : NULL;
	if (!at) {
		if (fn)
			put_kstr(a, fn->s, MAX_STR);
		else if (ret == 0)
			put_empty(a);
		else
			put_ustr(a, ARG(0));
	}
	if (fn)
		bpf_map_delete_elem(&exec_fname, &tid);
	END();
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct exec_name);
} fname_scratch SEC(".maps");

/* the kernel's copy of the execve filename, for the exit event (the user pointer is gone) */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!selected(59) && !selected(322))
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == exclude_tgid)
		return 0;
	u32 zero = 0;
	struct exec_name *fn = bpf_map_lookup_elem(&fname_scratch, &zero);
	if (!fn)
		return 0;
	if (bpf_probe_read_kernel_str(fn->s, sizeof(fn->s), BPF_CORE_READ(bprm, filename)) <= 0)
		return 0;
	u32 tid = BPF_CORE_READ(p, pid);
	bpf_map_update_elem(&exec_fname, &tid, fn, BPF_ANY);
	return 0;
}

/* ---------------------------------------------------------------- clone family */
/* 223 clone, 225 fork, 227 vfork, 335 clone3: 21 params */
static __always_inline u64 clone_raw_flags(struct pt_regs *regs, struct sc_args *c32)
{
	switch (SYSNR()) {
	case 56: return ARG(0);                       /* clone */
	case 58: return 0x4000 | 0x100;               /* vfork: CLONE_VFORK|CLONE_VM */
	case 435: {                                   /* clone3: clone_args.flags */
		u64 f = 0;
		bpf_probe_read_user(&f, sizeof(f), (void *)ARG(0));
		return f;
	}
	}
	return 0; /* fork */
}

static __always_inline int clone_common(void *ctx, struct pt_regs *regs, long ret, u32 code,
					struct sc_args *c32)
{
	BEGIN(code, 21);
	put_s64(a, ret);
	put_proc_common(a, cur_task(), true, 0, 8);
	bpf_tail_call(ctx, &stage_progs, STAGE_CLONE2);
	return 0;
}
EXIT_PROG(clone) { return clone_common(ctx, regs, ret, 223, c32); }
EXIT_PROG(fork) { return clone_common(ctx, regs, ret, 225, c32); }
EXIT_PROG(vfork) { return clone_common(ctx, regs, ret, 227, c32); }
EXIT_PROG(clone3) { return clone_common(ctx, regs, ret, 335, c32); }

/* params cgroups, flags, uid, gid, vtid, vpid, pidns_init_start_ts */
STAGE_PROG(clone_stage2)
{
	struct aux *a = aux_get();
	if (!a)
		return 0;
	struct task_struct *t = cur_task();
	put_cgroups(a, t);
	u32 flags = clone_flags_to_scap(clone_raw_flags(regs, c32));
	struct pid *tp = BPF_CORE_READ(t, thread_pid);
	u32 level = tp ? BPF_CORE_READ(tp, level) : 0;
	if (ret == 0 && level > 0)
		flags |= 0x20000000; /* CLONE_CHILD_IN_PIDNS */
	put_u32(a, flags);
	put_u32(a, BPF_CORE_READ(t, cred, euid.val));
	put_u32(a, BPF_CORE_READ(t, cred, egid.val));
	put_s64(a, task_vtid(t));
	put_s64(a, task_vpid(t));
	u64 start = 0;
	if (tp) {
		struct pid_namespace *ns = NULL;
		void *up = (void *)tp + bpf_core_field_offset(struct pid, numbers) +
			   (level & 31) * bpf_core_type_size(struct upid);
		bpf_probe_read_kernel(&ns, sizeof(ns), up + bpf_core_field_offset(struct upid, ns));
		struct task_struct *reaper = ns ? BPF_CORE_READ(ns, child_reaper) : NULL;
		if (reaper)
			start = BPF_CORE_READ(reaper, start_boottime) + boot_offset_ns;
	}
	put_u64(a, start);
	END();
}

/* ---------------------------------------------------------------- procexit */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p, bool group_dead)
{
	if (!selected(PSEUDO_PROCEXIT))
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == exclude_tgid)
		return 0;
	struct sc_args *c32 = NULL; /* not a syscall: no ext flags */
	BEGIN(186, 5);
	int code = BPF_CORE_READ(p, exit_code);
	put_s64(a, code);
	put_s64(a, (code >> 8) & 0xff);
	put_u8(a, code & 0x7f);
	put_u8(a, (code & 0x80) ? 1 : 0);
	put_empty(a); /* reaper_tid: not computed */
	END();
}

/* ---------------------------------------------------------------- files */
/* the file an open returned (fd its result), looked up once for all the open's params */
static __always_inline struct file *opened_file(long fd)
{
	return fd >= 0 ? fd_file(cur_task(), fd) : NULL;
}

static __always_inline void put_file_dev_ino(struct aux *a, struct file *f)
{
	u32 dev = 0;
	u64 ino = 0;
	if (f) {
		struct inode *in = KREAD(struct file, f, f_inode);
		if (in) {
			struct super_block *sb = KREAD(struct inode, in, i_sb);
			if (sb)
				dev = encode_dev(KREAD(struct super_block, sb, s_dev));
			ino = KREAD(struct inode, in, i_ino);
		}
	}
	put_u32(a, dev);
	put_u64(a, ino);
}

/* flags learnt from the opened file (O_F_CREATED, FD_UPPER_LAYER, FD_LOWER_LAYER); they go in
 * the flags param, before dev and ino */
static __always_inline u32 file_created(struct file *f)
{
	u32 r = 0;
	if (!f)
		return 0;
	if (KREAD(struct file, f, f_mode) & L_FMODE_CREATED)
		r |= 0x4000;
	u32 layer = overlay_layer(KREAD(struct file, f, f_inode));
	if (layer == LAYER_UPPER)
		r |= 0x8000;
	else if (layer == LAYER_LOWER)
		r |= 0x10000;
	return r;
}

EXIT_PROG(open) /* 3: fd, name, flags, mode, dev, ino */
{
	BEGIN_EXT(3, 6 + NEXT_OPEN);
	struct file *f = opened_file(ret);
	put_s64(a, ret);
	put_ustr(a, ARG(0));
	put_u32(a, open_flags_to_scap(ARG(1)) | file_created(f));
	put_u32(a, open_mode_to_scap(ARG(1), ARG(2)));
	put_file_dev_ino(a, f);
	put_ext_open(a, f, c32 != NULL);
	END();
}

EXIT_PROG(openat) /* 307: fd, dirfd, name, flags, mode, dev, ino */
{
	BEGIN_EXT(307, 7 + NEXT_OPEN);
	struct file *f = opened_file(ret);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, open_flags_to_scap(ARG(2)) | file_created(f));
	put_u32(a, open_mode_to_scap(ARG(2), ARG(3)));
	put_file_dev_ino(a, f);
	put_ext_open(a, f, c32 != NULL);
	END();
}

EXIT_PROG(openat2) /* 327: fd, dirfd, name, flags, mode, resolve, dev, ino */
{
	BEGIN_EXT(327, 8 + NEXT_OPEN);
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)ARG(2));
	struct file *f = opened_file(ret);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, open_flags_to_scap(how.flags) | file_created(f));
	put_u32(a, open_mode_to_scap(how.flags, how.mode));
	put_u32(a, (u32)how.resolve);
	put_file_dev_ino(a, f);
	put_ext_open(a, f, c32 != NULL);
	END();
}

EXIT_PROG(creat) /* 59: fd, name, mode, dev, ino, creat_flags */
{
	BEGIN_EXT(59, 6 + NEXT_OPEN);
	struct file *f = opened_file(ret);
	put_s64(a, ret);
	put_ustr(a, ARG(0));
	put_u32(a, ARG(1) & 07777);
	put_file_dev_ino(a, f);
	{
		u32 fl = file_created(f);
		put_u16(a, (fl & 0x8000) ? 1 : (fl & 0x10000) ? 2 : 0); /* FD_UPPER/LOWER_LAYER_CREAT */
	}
	put_ext_open(a, f, c32 != NULL);
	END();
}

EXIT_PROG(close) { BEGIN(5, 2); put_s64(a, ret); put_fd(a, ARG(0)); END(); }
/* ---------------------------------------------------------------- reads and writes (data.h) */
/* data: what a read returned; what a write was given (written bytes when it succeeded) */
#define WRITTEN(size) (ret > 0 ? ret : (long)(size))
EXIT_PROG(read) /* 7: res, data, fd, size */
{
	BEGIN(7, 4);
	put_s64(a, ret);
	put_udata(a, ARG(1), ret);
	put_fd(a, ARG(0));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(write) /* 9: res, data, fd, size */
{
	BEGIN(9, 4);
	put_s64(a, ret);
	put_udata(a, ARG(1), WRITTEN(ARG(2)));
	put_fd(a, ARG(0));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(pread) /* 113: res, data, fd, size, pos */
{
	BEGIN(113, 5);
	put_s64(a, ret);
	put_udata(a, ARG(1), ret);
	put_fd(a, ARG(0));
	put_u32(a, ARG(2));
	put_u64(a, ARG(3));
	END();
}
EXIT_PROG(pwrite) /* 115: res, data, fd, size, pos */
{
	BEGIN(115, 5);
	put_s64(a, ret);
	put_udata(a, ARG(1), WRITTEN(ARG(2)));
	put_fd(a, ARG(0));
	put_u32(a, ARG(2));
	put_u64(a, ARG(3));
	END();
}
EXIT_PROG(readv) /* 117: res, size, data, fd */
{
	BEGIN(117, 4);
	put_s64(a, ret);
	put_u32(a, iov_size(ARG(1), ARG(2), c32));
	put_iovdata(a, ARG(1), ARG(2), ret, c32);
	put_fd(a, ARG(0));
	END();
}
EXIT_PROG(writev) /* 119: res, data, fd, size */
{
	BEGIN(119, 4);
	u64 size = iov_size(ARG(1), ARG(2), c32);
	put_s64(a, ret);
	put_iovdata(a, ARG(1), ARG(2), WRITTEN(size), c32);
	put_fd(a, ARG(0));
	put_u32(a, size);
	END();
}
EXIT_PROG(preadv) /* 121: res, size, data, fd, pos */
{
	BEGIN(121, 5);
	put_s64(a, ret);
	put_u32(a, iov_size(ARG(1), ARG(2), c32));
	put_iovdata(a, ARG(1), ARG(2), ret, c32);
	put_fd(a, ARG(0));
	put_u64(a, ARG(3));
	END();
}
EXIT_PROG(pwritev) /* 123: res, data, fd, size, pos */
{
	BEGIN(123, 5);
	u64 size = iov_size(ARG(1), ARG(2), c32);
	put_s64(a, ret);
	put_iovdata(a, ARG(1), ARG(2), WRITTEN(size), c32);
	put_fd(a, ARG(0));
	put_u32(a, size);
	put_u64(a, ARG(3));
	END();
}

EXIT_PROG(dup) { BEGIN(367, 2); put_s64(a, ret); put_fd(a, ARG(0)); END(); }
EXIT_PROG(dup2) { BEGIN(363, 3); put_s64(a, ret); put_fd(a, ARG(0)); put_fd(a, ARG(1)); END(); }
EXIT_PROG(dup3)
{
	BEGIN(365, 4);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_fd(a, ARG(1));
	put_u32(a, fd_flags_to_scap(ARG(2)));
	END();
}

/* fcntl's command as the scap enum (flag-tables fcntl_commands): Linux's F_* numbers, the
 * ia32 *LK64 ones included */
static __always_inline u8 fcntl_cmd_to_scap(u64 cmd)
{
	switch (cmd) {
	case 0: return 0x1;     /* F_DUPFD */
	case 1: return 0x2;     /* F_GETFD */
	case 2: return 0x3;     /* F_SETFD */
	case 3: return 0x4;     /* F_GETFL */
	case 4: return 0x5;     /* F_SETFL */
	case 5: return 0x6;     /* F_GETLK */
	case 6: return 0x8;     /* F_SETLK */
	case 7: return 0x9;     /* F_SETLKW */
	case 8: return 0xa;     /* F_SETOWN */
	case 9: return 0xc;     /* F_GETOWN */
	case 10: return 0xd;    /* F_SETSIG */
	case 11: return 0xf;    /* F_GETSIG */
	case 12: return 0x11;   /* F_GETLK64 (ia32) */
	case 13: return 0x12;   /* F_SETLK64 (ia32) */
	case 14: return 0x13;   /* F_SETLKW64 (ia32) */
	case 15: return 0x15;   /* F_SETOWN_EX */
	case 16: return 0x16;   /* F_GETOWN_EX */
	case 36: return 0x1e;   /* F_OFD_GETLK */
	case 37: return 0x1f;   /* F_OFD_SETLK */
	case 38: return 0x20;   /* F_OFD_SETLKW */
	case 1024: return 0x17; /* F_SETLEASE */
	case 1025: return 0x18; /* F_GETLEASE */
	case 1026: return 0x1b; /* F_NOTIFY */
	case 1029: return 0x19; /* F_CANCELLK */
	case 1030: return 0x1a; /* F_DUPFD_CLOEXEC */
	case 1031: return 0x1c; /* F_SETPIPE_SZ */
	case 1032: return 0x1d; /* F_GETPIPE_SZ */
	}
	return 0; /* UNKNOWN */
}
/* fcntl: F_DUPFD/F_DUPFD_CLOEXEC make fds (the state follows them: directory walkers such as
 * rm -r and find dup their directory fds this way) */
EXIT_PROG(fcntl)
{
	BEGIN(151, 4);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_u8(a, fcntl_cmd_to_scap(c32 ? (u32)ARG(1) : ARG(1)));
	put_u64(a, c32 ? (u64)(u32)ARG(2) : ARG(2));
	END();
}

static __always_inline void put_pipe(struct aux *a, struct pt_regs *regs, struct sc_args *c32, long ret)
{
	int fds[2] = {-1, -1};
	if (ret == 0)
		bpf_probe_read_user(fds, sizeof(fds), (void *)ARG(0));
	put_s64(a, ret);
	put_s64(a, fds[0]);
	put_s64(a, fds[1]);
	u64 ino = 0;
	struct file *f = ret == 0 ? fd_file(cur_task(), fds[0]) : NULL;
	if (f)
		ino = BPF_CORE_READ(f, f_inode, i_ino);
	put_u64(a, ino);
}
EXIT_PROG(pipe) { BEGIN(61, 4); put_pipe(a, regs, c32, ret); END(); }
EXIT_PROG(pipe2) { BEGIN(393, 5); put_pipe(a, regs, c32, ret); put_u32(a, fd_flags_to_scap(ARG(1))); END(); }

EXIT_PROG(rename) { BEGIN(175, 3); put_s64(a, ret); put_ustr(a, ARG(0)); put_ustr(a, ARG(1)); END(); }
EXIT_PROG(renameat)
{
	BEGIN(177, 5);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_fd(a, ARG(2));
	put_ustr(a, ARG(3));
	END();
}
EXIT_PROG(renameat2)
{
	BEGIN(319, 6);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_fd(a, ARG(2));
	put_ustr(a, ARG(3));
	put_u32(a, ARG(4) & 0x7);
	END();
}
EXIT_PROG(unlink) { BEGIN(301, 2); put_s64(a, ret); put_ustr(a, ARG(0)); END(); }
EXIT_PROG(unlinkat)
{
	BEGIN(303, 4);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, ARG(2) & 0x200);
	END();
}
EXIT_PROG(mkdir) { BEGIN(277, 3); put_s64(a, ret); put_ustr(a, ARG(0)); put_u32(a, ARG(1)); END(); }
EXIT_PROG(mkdirat)
{
	BEGIN(305, 4);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(rmdir) { BEGIN(279, 2); put_s64(a, ret); put_ustr(a, ARG(0)); END(); }
EXIT_PROG(link) { BEGIN(309, 3); put_s64(a, ret); put_ustr(a, ARG(0)); put_ustr(a, ARG(1)); END(); }
EXIT_PROG(linkat)
{
	BEGIN(311, 6);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_fd(a, ARG(2));
	put_ustr(a, ARG(3));
	put_u32(a, ARG(4) & 0x1400);
	END();
}
EXIT_PROG(symlink) { BEGIN(179, 3); put_s64(a, ret); put_ustr(a, ARG(0)); put_ustr(a, ARG(1)); END(); }
EXIT_PROG(symlinkat)
{
	BEGIN(181, 4);
	put_s64(a, ret);
	put_ustr(a, ARG(0));
	put_fd(a, ARG(1));
	put_ustr(a, ARG(2));
	END();
}
EXIT_PROG(chmod) { BEGIN(315, 3); put_s64(a, ret); put_ustr(a, ARG(0)); put_u32(a, ARG(1) & 07777); END(); }
EXIT_PROG(fchmod) { BEGIN(317, 3); put_s64(a, ret); put_fd(a, ARG(0)); put_u32(a, ARG(1) & 07777); END(); }
EXIT_PROG(fchmodat)
{
	BEGIN(313, 4);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, ARG(2) & 07777);
	END();
}
EXIT_PROG(chown)
{
	BEGIN(379, 4);
	put_s64(a, ret);
	put_ustr(a, ARG(0));
	put_u32(a, ARG(1));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(lchown)
{
	BEGIN(381, 4);
	put_s64(a, ret);
	put_ustr(a, ARG(0));
	put_u32(a, ARG(1));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(fchown)
{
	BEGIN(383, 4);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_u32(a, ARG(1));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(fchownat)
{
	BEGIN(385, 6);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, ARG(2));
	put_u32(a, ARG(3));
	put_u32(a, fchownat_flags_to_scap(ARG(4)));
	END();
}
EXIT_PROG(chdir) { BEGIN(95, 2); put_s64(a, ret); put_ustr(a, ARG(0)); END(); }
EXIT_PROG(fchdir) { BEGIN(97, 2); put_s64(a, ret); put_fd(a, ARG(0)); END(); }

EXIT_PROG(chroot) { BEGIN(267, 2); put_s64(a, ret); put_ustr(a, ARG(0)); END(); }
/* mode: the S_IF* type and permission bits have the same values in mknod_mode; dev as passed */
EXIT_PROG(mknod) { BEGIN(415, 4); put_s64(a, ret); put_ustr(a, ARG(0)); put_u32(a, ARG(1)); put_u32(a, ARG(2)); END(); }
EXIT_PROG(mknodat)
{
	BEGIN(417, 5);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, ARG(2));
	put_u32(a, ARG(3));
	END();
}

EXIT_PROG(memfd_create)
{
	BEGIN(405, 3);
	put_s64(a, ret);
	put_ustr(a, ARG(0));
	put_u32(a, ARG(1) & 0x7);
	END();
}

EXIT_PROG(mount)
{
	BEGIN(257, 5);
	put_s64(a, ret);
	put_ustr(a, ARG(0));
	put_ustr(a, ARG(1));
	put_ustr(a, ARG(2));
	put_u32(a, mount_flags_to_scap(ARG(3)));
	END();
}
EXIT_PROG(umount2) { BEGIN(391, 3); put_s64(a, ret); put_ustr(a, ARG(0)); put_u32(a, ARG(1) & 0xf); END(); }

/* ---------------------------------------------------------------- memory */
static __always_inline void put_vm(struct aux *a)
{
	struct mm_struct *mm = BPF_CORE_READ(cur_task(), mm);
	put_u32(a, mm_vm_size_kb(mm));
	put_u32(a, mm_rss_kb(mm));
	put_u32(a, mm_swap_kb(mm));
}

EXIT_PROG(mmap) /* 161: res, vm_size, vm_rss, vm_swap, addr, length, prot, flags, fd, offset */
{
	if (mmap_exec_only && !(ARG(2) & 0x4))
		return 0;
	BEGIN(161, 10);
	put_s64(a, ret);
	put_vm(a);
	put_u64(a, ARG(0));
	put_u64(a, ARG(1));
	put_u32(a, prot_to_scap(ARG(2)));
	put_u32(a, mmap_flags_to_scap(ARG(3)));
	put_fd(a, ARG(4));
	put_u64(a, ARG(5));
	END();
}
EXIT_PROG(mprotect) /* 329: res, addr, length, prot */
{
	if (mmap_exec_only && !(ARG(2) & 0x4))
		return 0;
	BEGIN(329, 4);
	put_s64(a, ret);
	put_u64(a, ARG(0));
	put_u64(a, ARG(1));
	put_u32(a, prot_to_scap(ARG(2)));
	END();
}

/* ---------------------------------------------------------------- credentials, processes */
/* setsid's res is the new session id (the pid), or -errno; setpgid's pid/pgid as passed (0: self) */
EXIT_PROG(setsid) { BEGIN(275, 1); put_s64(a, ret); END(); }
EXIT_PROG(setpgid) { BEGIN(295, 3); put_s64(a, ret); put_s64(a, (s64)(s32)ARG(0)); put_s64(a, (s64)(s32)ARG(1)); END(); }
EXIT_PROG(seccomp) { BEGIN(299, 3); put_s64(a, ret); put_u64(a, ARG(0)); put_u64(a, ARG(1)); END(); }
EXIT_PROG(setuid) { BEGIN(199, 2); put_s64(a, ret); put_u32(a, ARG(0)); END(); }
EXIT_PROG(setgid) { BEGIN(201, 2); put_s64(a, ret); put_u32(a, ARG(0)); END(); }
EXIT_PROG(setreuid) { BEGIN(427, 3); put_s64(a, ret); put_u32(a, ARG(0)); put_u32(a, ARG(1)); END(); }
EXIT_PROG(setregid) { BEGIN(429, 3); put_s64(a, ret); put_u32(a, ARG(0)); put_u32(a, ARG(1)); END(); }
EXIT_PROG(setresuid)
{
	BEGIN(193, 4);
	put_s64(a, ret);
	put_u32(a, ARG(0));
	put_u32(a, ARG(1));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(setresgid)
{
	BEGIN(195, 4);
	put_s64(a, ret);
	put_u32(a, ARG(0));
	put_u32(a, ARG(1));
	put_u32(a, ARG(2));
	END();
}
EXIT_PROG(capset) /* 353: res, cap_inheritable, cap_permitted, cap_effective (after the call) */
{
	BEGIN(353, 4);
	const struct cred *c = BPF_CORE_READ(cur_task(), cred);
	put_s64(a, ret);
	put_u64(a, read_cap(&c->cap_inheritable));
	put_u64(a, read_cap(&c->cap_permitted));
	put_u64(a, read_cap(&c->cap_effective));
	END();
}
EXIT_PROG(ptrace) /* 169: res, addr, data, request, pid */
{
	BEGIN(169, 5);
	put_s64(a, ret);
	put_dyn_u64(a, ARG(2));
	put_dyn_u64(a, ARG(3));
	put_u16(a, ptrace_req_to_scap(ARG(0)));
	put_s64(a, (s64)(s32)ARG(1));
	END();
}
EXIT_PROG(kill) { BEGIN(129, 3); put_s64(a, ret); put_s64(a, (s32)ARG(0)); put_u8(a, ARG(1)); END(); }
EXIT_PROG(tkill) { BEGIN(131, 3); put_s64(a, ret); put_s64(a, (s32)ARG(0)); put_u8(a, ARG(1)); END(); }
EXIT_PROG(tgkill)
{
	BEGIN(133, 4);
	put_s64(a, ret);
	put_s64(a, (s32)ARG(0));
	put_s64(a, (s32)ARG(1));
	put_u8(a, ARG(2));
	END();
}
EXIT_PROG(prctl) /* 401: res, option, arg2_str, arg2_int */
{
	BEGIN(401, 4);
	u32 opt = ARG(0);
	put_s64(a, ret);
	put_u32(a, opt);
	if (opt == 15 /* PR_SET_NAME */ || opt == 16 /* PR_GET_NAME */)
		put_ustr(a, ARG(1));
	else
		put_empty(a);
	put_s64(a, ARG(1));
	END();
}
EXIT_PROG(unshare) { BEGIN(285, 2); put_s64(a, ret); put_u32(a, clone_flags_to_scap(ARG(0))); END(); }
EXIT_PROG(setns)
{
	BEGIN(241, 3);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_u32(a, clone_flags_to_scap(ARG(1)));
	END();
}
EXIT_PROG(bpf) { BEGIN(369, 2); put_s64(a, ret); put_u32(a, ARG(0)); END(); }
EXIT_PROG(init_module)
{
	BEGIN(411, 4);
	put_s64(a, ret);
	put_empty(a); /* img: not copied */
	put_u64(a, ARG(1));
	put_ustr(a, ARG(2));
	END();
}
EXIT_PROG(finit_module)
{
	BEGIN(413, 4);
	put_s64(a, ret);
	put_fd(a, ARG(0));
	put_ustr(a, ARG(1));
	put_u32(a, ARG(2) & 0x7);
	END();
}
EXIT_PROG(userfaultfd) { BEGIN(321, 2); put_s64(a, ret); put_u32(a, fd_flags_to_scap(ARG(0))); END(); }
EXIT_PROG(io_uring_setup) /* 339 */
{
	BEGIN(339, 8);
	u32 p[6] = {}; /* sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features */
	bpf_probe_read_user(p, sizeof(p), (void *)ARG(1));
	put_s64(a, ret);
	put_u32(a, ARG(0));
	put_u32(a, p[0]);
	put_u32(a, p[1]);
	put_u32(a, p[2]);
	put_u32(a, p[3]);
	put_u32(a, p[4]);
	put_u32(a, p[5]);
	END();
}

/* ---------------------------------------------------------------- network */
EXIT_PROG(socket) /* 19: fd, domain, type, proto, flags */
{
	BEGIN(19, 5);
	put_s64(a, ret);
	put_u32(a, ARG(0));
	put_u32(a, ARG(1) & 0xf); /* type without SOCK_NONBLOCK/SOCK_CLOEXEC */
	put_u32(a, ARG(2));
	put_u32(a, fd_flags_to_scap(ARG(1)));
	END();
}
EXIT_PROG(bind) { BEGIN(21, 3); put_s64(a, ret); put_usockaddr(a, ARG(1), ARG(2)); put_fd(a, ARG(0)); END(); }
EXIT_PROG(connect) /* 23: res, tuple, fd, addr */
{
	BEGIN(23, 4);
	put_s64(a, ret);
	if (ret == 0 || ret == -115 /* EINPROGRESS */)
		put_tuple(a, cur_task(), (s32)ARG(0), false, ARG(1), ARG(2));
	else
		put_empty(a);
	put_fd(a, ARG(0));
	put_usockaddr(a, ARG(1), ARG(2));
	END();
}
EXIT_PROG(listen) { BEGIN(25, 3); put_s64(a, ret); put_fd(a, ARG(0)); put_u32(a, ARG(1)); END(); }

static __always_inline void put_accept(struct aux *a, struct pt_regs *regs, struct sc_args *c32, long ret)
{
	struct task_struct *t = cur_task();
	put_s64(a, ret);
	if (ret >= 0)
		put_tuple(a, t, ret, true, 0, 0);
	else
		put_empty(a);
	struct sock *lsk = file_sock(fd_file(t, (s32)ARG(0)));
	u32 qlen = 0, qmax = 0;
	if (lsk) {
		qlen = BPF_CORE_READ(lsk, sk_ack_backlog);
		qmax = BPF_CORE_READ(lsk, sk_max_ack_backlog);
	}
	put_u8(a, qmax ? (qlen * 100) / qmax : 0);
	put_u32(a, qlen);
	put_u32(a, qmax);
}
EXIT_PROG(accept) { BEGIN(247, 5); put_accept(a, regs, c32, ret); END(); }
EXIT_PROG(accept4) { BEGIN(389, 6); put_accept(a, regs, c32, ret); put_u32(a, ARG(3)); END(); }

EXIT_PROG(sendto) /* 31: res, data, fd, size, tuple */
{
	BEGIN(31, 5);
	put_s64(a, ret);
	put_udata(a, ARG(1), WRITTEN(ARG(2)));
	put_fd(a, ARG(0));
	put_u32(a, ARG(2));
	put_tuple(a, cur_task(), (s32)ARG(0), false, ARG(4), ARG(5));
	END();
}
EXIT_PROG(recvfrom) /* 35: res, data, tuple, fd, size */
{
	BEGIN(35, 5);
	u32 alen = 0;
	if (ARG(5))
		bpf_probe_read_user(&alen, sizeof(alen), (void *)ARG(5));
	put_s64(a, ret);
	put_udata(a, ARG(1), ret);
	put_tuple(a, cur_task(), (s32)ARG(0), true, ARG(4), alen);
	put_fd(a, ARG(0));
	put_u32(a, ARG(2));
	END();
}

EXIT_PROG(sendmsg) /* 49: res, data, fd, size, tuple */
{
	BEGIN(49, 5);
	struct umsg m = {};
	read_msghdr(ARG(1), c32, &m);
	u64 size = iov_size(m.iov, m.iovlen, c32);
	put_s64(a, ret);
	put_iovdata(a, m.iov, m.iovlen, WRITTEN(size), c32);
	put_fd(a, ARG(0));
	put_u32(a, size);
	put_tuple(a, cur_task(), (s32)ARG(0), false, m.name, m.namelen);
	END();
}
EXIT_PROG(recvmsg) /* 53: res, size, data, tuple, msgcontrol, fd */
{
	BEGIN(53, 6);
	struct umsg m = {};
	read_msghdr(ARG(1), c32, &m);
	put_s64(a, ret);
	put_u32(a, iov_size(m.iov, m.iovlen, c32));
	put_iovdata(a, m.iov, m.iovlen, ret, c32);
	put_tuple(a, cur_task(), (s32)ARG(0), true, m.name, m.namelen);
	put_empty(a);
	put_fd(a, ARG(0));
	END();
}

/* ---------------------------------------------------------------- io_uring */
#include "iouring.h"
