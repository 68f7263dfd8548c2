/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Saker probe: reading task, file, socket and cgroup state, and converting Linux flag values
 * to the scap encoding (shared/scap/flag-tables.tsv). */
#ifndef SAKER_EXTRACT_H
#define SAKER_EXTRACT_H

#include "common.h"


/* KREAD(type, p, field) is p->field of a kernel pointer p to a type. Where the kernel has
 * bpf_rdonly_cast (6.2 and later; a weak kfunc: absent, its address loads as 0) p is viewed as
 * a BTF-typed pointer (the verifier turns the cast into a plain move) and the field is read
 * with a direct load, the kernel handling a fault as reading 0; otherwise, or with direct_reads
 * 0 (Options.NoDirectReads), with a bpf_probe_read_kernel call (about 9 ns more per field
 * here: 200 ns of an open exit's 750). Both are constants when a program loads, so the
 * verifier checks one path only. */
const volatile u8 direct_reads = 1;
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym __weak;
#define kcast(p, type) ((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))
#define KREAD(type, p, field) \
	(direct_reads && !!bpf_rdonly_cast ? kcast(p, type)->field : BPF_CORE_READ((type *)(p), field))

/* older kernels name kernfs_node.__parent `parent` (renamed in 6.15) */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* inode timestamps before 6.11 */
struct inode___v66 {
	struct timespec64 __i_ctime;
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));
struct inode___old {
	struct timespec64 i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

/* Linux constants that are macros (absent from BTF). */
#define L_O_WRONLY 01
#define L_O_RDWR 02
#define L_O_CREAT 0100
#define L_O_EXCL 0200
#define L_O_TRUNC 01000
#define L_O_APPEND 02000
#define L_O_NONBLOCK 04000
#define L_O_DSYNC 010000
#define L_O_DIRECT 040000
#define L_O_LARGEFILE 0100000
#define L_O_DIRECTORY 0200000
#define L_O_CLOEXEC 02000000
#define L___O_SYNC 04000000
#define L___O_TMPFILE 020000000
#define L_FMODE_CREATED (1U << 20)
#define L_S_IFMT 0170000
#define L_S_IFSOCK 0140000
#define L_AF_UNIX 1
#define L_AF_INET 2
#define L_AF_INET6 10
#define L_RLIMIT_NOFILE 7

/* ---------- flag conversions ---------- */
static __always_inline u32 open_flags_to_scap(u64 f)
{
	u32 r = 0;
	switch (f & 3) {
	case 0: r |= 0x1; break;          /* O_RDONLY */
	case L_O_WRONLY: r |= 0x2; break;
	case L_O_RDWR: r |= 0x3; break;
	}
	if (f & L_O_CREAT) r |= 0x4;
	if (f & L_O_APPEND) r |= 0x8;
	if (f & L_O_DSYNC) r |= 0x10;
	if (f & L_O_EXCL) r |= 0x20;
	if (f & L_O_NONBLOCK) r |= 0x40;
	if (f & L___O_SYNC) r |= 0x80;
	if (f & L_O_TRUNC) r |= 0x100;
	if (f & L_O_DIRECT) r |= 0x200;
	if ((f & L_O_DIRECTORY) && !(f & L___O_TMPFILE)) r |= 0x400;
	if (f & L_O_LARGEFILE) r |= 0x800;
	if (f & L_O_CLOEXEC) r |= 0x1000;
	if (f & L___O_TMPFILE) r |= 0x2000;
	return r;
}

static __always_inline u32 open_mode_to_scap(u64 flags, u64 mode)
{
	if (!(flags & (L_O_CREAT | L___O_TMPFILE)))
		return 0;
	return mode & 07777;
}

static __always_inline u32 clone_flags_to_scap(u64 f)
{
	u32 r = 0;
	if (f & 0x400) r |= 0x1;          /* CLONE_FILES */
	if (f & 0x200) r |= 0x2;          /* CLONE_FS */
	if (f & 0x80000000ULL) r |= 0x4;  /* CLONE_IO */
	if (f & 0x08000000) r |= 0x8;     /* CLONE_NEWIPC */
	if (f & 0x40000000) r |= 0x10;    /* CLONE_NEWNET */
	if (f & 0x00020000) r |= 0x20;    /* CLONE_NEWNS */
	if (f & 0x20000000) r |= 0x40;    /* CLONE_NEWPID */
	if (f & 0x04000000) r |= 0x80;    /* CLONE_NEWUTS */
	if (f & 0x8000) r |= 0x100;       /* CLONE_PARENT */
	if (f & 0x00100000) r |= 0x200;   /* CLONE_PARENT_SETTID */
	if (f & 0x2000) r |= 0x400;       /* CLONE_PTRACE */
	if (f & 0x800) r |= 0x800;        /* CLONE_SIGHAND */
	if (f & 0x00040000) r |= 0x1000;  /* CLONE_SYSVSEM */
	if (f & 0x00010000) r |= 0x2000;  /* CLONE_THREAD */
	if (f & 0x00800000) r |= 0x4000;  /* CLONE_UNTRACED */
	if (f & 0x100) r |= 0x8000;       /* CLONE_VM */
	if (f & 0x10000000) r |= 0x100000;   /* CLONE_NEWUSER */
	if (f & 0x00200000) r |= 0x800000;   /* CLONE_CHILD_CLEARTID */
	if (f & 0x01000000) r |= 0x1000000;  /* CLONE_CHILD_SETTID */
	if (f & 0x00080000) r |= 0x2000000;  /* CLONE_SETTLS */
	if (f & 0x4000) r |= 0x8000000;      /* CLONE_VFORK */
	if (f & 0x02000000) r |= 0x10000000; /* CLONE_NEWCGROUP */
	return r;
}

static __always_inline u32 prot_to_scap(u64 p)
{
	u32 r = p & 0xf; /* READ WRITE EXEC SEM */
	if (p & 0x01000000) r |= 0x10; /* PROT_GROWSDOWN */
	if (p & 0x02000000) r |= 0x20; /* PROT_GROWSUP */
	return r;
}

static __always_inline u32 mmap_flags_to_scap(u64 f)
{
	u32 r = f & 0x3; /* SHARED PRIVATE */
	if (f & 0x10) r |= 0x4;        /* MAP_FIXED */
	if (f & 0x20) r |= 0x8;        /* MAP_ANONYMOUS */
	if (f & 0x40) r |= 0x10;       /* MAP_32BIT */
	if (f & 0x4000) r |= 0x40;     /* MAP_NORESERVE */
	if (f & 0x8000) r |= 0x80;     /* MAP_POPULATE */
	if (f & 0x10000) r |= 0x100;   /* MAP_NONBLOCK */
	if (f & 0x100) r |= 0x200;     /* MAP_GROWSDOWN */
	if (f & 0x800) r |= 0x400;     /* MAP_DENYWRITE */
	if (f & 0x1000) r |= 0x800;    /* MAP_EXECUTABLE */
	if (f & 0x2000) r |= 0x4000;   /* MAP_LOCKED */
	return r;
}

/* SOCK_NONBLOCK / SOCK_CLOEXEC / O_* fd flags (dup3, pipe2, userfaultfd, socket) */
static __always_inline u32 fd_flags_to_scap(u64 f)
{
	u32 r = 0;
	if (f & L_O_NONBLOCK) r |= 0x40;
	if (f & L_O_CLOEXEC) r |= 0x1000;
	return r;
}

static __always_inline u32 fchownat_flags_to_scap(u64 f)
{
	u32 r = 0;
	if (f & 0x100) r |= 0x400;   /* AT_SYMLINK_NOFOLLOW */
	if (f & 0x1000) r |= 0x1000; /* AT_EMPTY_PATH */
	return r;
}

static __always_inline u32 mount_flags_to_scap(u64 f)
{
	if ((f & 0xffff0000ULL) == 0xC0ED0000ULL) /* MS_MGC_VAL */
		f &= ~0xffff0000ULL;
	return (u32)f;
}

static __always_inline u16 ptrace_req_to_scap(u64 r)
{
	if (r <= 9)
		return r + 1; /* TRACEME .. SINGLESTEP */
	if (r >= 0x4200 && r <= 0x420b)
		return r - 0x4200 + 0xe; /* SETOPTIONS .. SETSIGMASK */
	switch (r) {
	case 16: return 0xb;  /* ATTACH */
	case 17: return 0xc;  /* DETACH */
	case 24: return 0xd;  /* SYSCALL */
	case 12: return 0x1a; /* GETREGS */
	case 13: return 0x1b;
	case 14: return 0x1c;
	case 15: return 0x1d;
	case 18: return 0x1e;
	case 19: return 0x1f;
	case 21: return 0x20; /* OLDSETOPTIONS */
	case 25: return 0x21;
	case 26: return 0x22;
	case 30: return 0x23; /* ARCH_PRCTL */
	case 31: return 0x24;
	case 32: return 0x25;
	case 33: return 0x26; /* SINGLEBLOCK */
	}
	return 0;
}

static __always_inline u32 encode_dev(u32 dev)
{
	u32 major = dev >> 20, minor = dev & ((1U << 20) - 1);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

/* ---------- tasks ---------- */
static __always_inline struct task_struct *cur_task(void) { return bpf_get_current_task_btf(); }

/* pid number of p in its own (innermost) namespace */
static __always_inline s64 pid_vnr(struct pid *p)
{
	if (!p)
		return 0;
	u32 level = BPF_CORE_READ(p, level);
	int nr = 0;
	void *up = (void *)p + bpf_core_field_offset(struct pid, numbers) +
		   (level & 31) * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&nr, sizeof(nr), up + bpf_core_field_offset(struct upid, nr));
	return nr;
}

static __always_inline s64 task_vtid(struct task_struct *t) { return pid_vnr(BPF_CORE_READ(t, thread_pid)); }
static __always_inline s64 task_vpid(struct task_struct *t) { return pid_vnr(BPF_CORE_READ(t, group_leader, thread_pid)); }

static __always_inline struct pid *task_pgrp(struct task_struct *t)
{
	struct pid *p = NULL;
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	bpf_probe_read_kernel(&p, sizeof(p), &sig->pids[PIDTYPE_PGID]);
	return p;
}

static __always_inline s64 task_pgid(struct task_struct *t)
{
	struct pid *p = task_pgrp(t);
	if (!p)
		return 0;
	int nr = 0;
	void *up = (void *)p + bpf_core_field_offset(struct pid, numbers);
	bpf_probe_read_kernel(&nr, sizeof(nr), up + bpf_core_field_offset(struct upid, nr));
	return nr;
}

static __always_inline u64 task_fdlimit(struct task_struct *t)
{
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), &sig->rlim[L_RLIMIT_NOFILE].rlim_cur);
	return v;
}

static __always_inline s64 mm_counter(struct mm_struct *mm, int i)
{
	s64 v = 0;
	if (!mm)
		return 0;
	if (bpf_core_field_exists(mm->rss_stat))
		bpf_probe_read_kernel(&v, sizeof(v), &mm->rss_stat[i & 3].count);
	return v < 0 ? 0 : v;
}

static __always_inline u32 mm_vm_size_kb(struct mm_struct *mm)
{
	if (!mm)
		return 0;
	return BPF_CORE_READ(mm, total_vm) << 2;
}
static __always_inline u32 mm_rss_kb(struct mm_struct *mm)
{
	/* MM_FILEPAGES 0, MM_ANONPAGES 1, MM_SWAPENTS 2, MM_SHMEMPAGES 3 */
	return (mm_counter(mm, 0) + mm_counter(mm, 1) + mm_counter(mm, 3)) << 2;
}
static __always_inline u32 mm_swap_kb(struct mm_struct *mm) { return mm_counter(mm, 2) << 2; }

static __always_inline u32 task_tty(struct task_struct *t)
{
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	if (!tty)
		return 0;
	int index = BPF_CORE_READ(tty, index);
	int major = BPF_CORE_READ(tty, driver, major);
	int minor = BPF_CORE_READ(tty, driver, minor_start) + index;
	return encode_dev(((u32)major << 20) | (u32)minor);
}

static __always_inline u32 task_loginuid(struct task_struct *t)
{
	if (bpf_core_field_exists(t->loginuid))
		return BPF_CORE_READ(t, loginuid.val);
	return 0xffffffff;
}

static __always_inline u64 read_cap(const kernel_cap_t *c)
{
	u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), c);
	return v;
}

/* ---------- files ---------- */
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define LAYER_UPPER 1
#define LAYER_LOWER 2

/* overlayfs layer of an inode: LAYER_UPPER (written in the container), LAYER_LOWER (from the
 * image) or 0 (not on overlayfs) */
static __always_inline u32 overlay_layer(struct inode *in)
{
	if (!in || !bpf_core_type_exists(struct ovl_inode))
		return 0;
	struct super_block *sb = KREAD(struct inode, in, i_sb);
	if (!sb || KREAD(struct super_block, sb, s_magic) != OVERLAYFS_SUPER_MAGIC)
		return 0;
	struct ovl_inode *oi = (void *)in - bpf_core_field_offset(struct ovl_inode, vfs_inode);
	return BPF_CORE_READ(oi, __upperdentry) ? LAYER_UPPER : LAYER_LOWER;
}

static __always_inline struct file *fd_file(struct task_struct *t, s64 fd)
{
	if (fd < 0 || !t)
		return NULL;
	struct files_struct *files = KREAD(struct task_struct, t, files);
	if (!files)
		return NULL;
	struct fdtable *fdt = KREAD(struct files_struct, files, fdt);
	if (!fdt)
		return NULL;
	u32 max = KREAD(struct fdtable, fdt, max_fds);
	if (fd >= max)
		return NULL;
	struct file **fds = KREAD(struct fdtable, fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline u64 inode_time_ns(struct inode *in, bool ctime)
{
	if (!in)
		return 0;
	if (bpf_core_field_exists(in->i_ctime_sec)) {
		if (ctime)
			return BPF_CORE_READ(in, i_ctime_sec) * 1000000000ULL + BPF_CORE_READ(in, i_ctime_nsec);
		return BPF_CORE_READ(in, i_mtime_sec) * 1000000000ULL + BPF_CORE_READ(in, i_mtime_nsec);
	}
	struct timespec64 ts = {};
	struct inode___v66 *v66 = (void *)in;
	struct inode___old *old = (void *)in;
	if (bpf_core_field_exists(v66->__i_ctime)) {
		if (ctime)
			BPF_CORE_READ_INTO(&ts, v66, __i_ctime);
		else
			BPF_CORE_READ_INTO(&ts, v66, __i_mtime);
	} else {
		if (ctime)
			BPF_CORE_READ_INTO(&ts, old, i_ctime);
		else
			BPF_CORE_READ_INTO(&ts, old, i_mtime);
	}
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Path building uses bpf_loop callbacks: a plain loop whose iterations branch both ways would
 * make the verifier walk every combination of branches. */

/* writes "/comp[n-1]/.../comp[0]" at start+off; returns the new off (no NUL written) */
struct comp_wr {
	struct aux *a;
	u32 start;
	u32 off;
	u32 n;
};
static long comp_write_cb(u64 i, void *ctx)
{
	struct comp_wr *c = ctx;
	struct aux *a = c->a;
	if (i >= c->n || c->off > MAX_STR)
		return 1;
	u32 j = c->n - 1 - (u32)i;
	a->data[(c->start + c->off) & EV_MASK] = '/';
	c->off++;
	long r = bpf_probe_read_kernel_str(&a->data[(c->start + c->off) & EV_MASK], 256,
					   (void *)a->comp[j & (MAX_COMP - 1)]);
	if (r > 1)
		c->off += r - 1;
	return 0;
}
static __always_inline u32 write_comps(struct aux *a, u32 start, u32 off, u32 n)
{
	if (n == 0) {
		a->data[(start + off) & EV_MASK] = '/';
		return off + 1;
	}
	struct comp_wr c = {.a = a, .start = start, .off = off, .n = n};
	bpf_loop(MAX_COMP, comp_write_cb, &c, 0);
	return c.off;
}

struct dwalk {
	struct aux *a;
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	struct dentry *root_d;
	struct vfsmount *root_m;
	u64 mnt_off;
	u32 n;
	const unsigned char *pseudo; /* name of a file without a path (memfd): no component */
};
static long dwalk_cb(u64 i, void *ctx)
{
	struct dwalk *w = ctx;
	struct aux *a = w->a;
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m;
	if (d == w->root_d && vm == w->root_m)
		return 1;
	struct dentry *mroot = BPF_CORE_READ(vm, mnt_root);
	if (d == mroot) {
		struct mount *pm = BPF_CORE_READ(m, mnt_parent);
		if (pm == m || !pm)
			return 1;
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = pm;
		w->vm = (void *)pm + w->mnt_off;
		return 0;
	}
	struct dentry *pd = BPF_CORE_READ(d, d_parent);
	if (pd == d && w->n == 0) {
		/* a pseudo file's own dentry (memfd: "memfd:NAME"), not below any mount root */
		w->pseudo = BPF_CORE_READ(d, d_name.name);
		return 1;
	}
	if (pd == d || !pd || w->n >= MAX_COMP)
		return 1;
	a->comp[w->n & (MAX_COMP - 1)] = (u64)BPF_CORE_READ(d, d_name.name);
	w->n++;
	w->d = pd;
	return 0;
}

/* Writes the absolute path of a struct path (kernel pointer), resolved against the task's root,
 * walking dentries and crossing mounts like d_path. */
static __always_inline void put_path(struct aux *a, struct task_struct *task, const struct path *p)
{
	struct dwalk w = {.a = a};
	w.d = BPF_CORE_READ(p, dentry);
	w.vm = BPF_CORE_READ(p, mnt);
	if (!w.d || !w.vm) {
		put_empty(a);
		return;
	}
	w.mnt_off = bpf_core_field_offset(struct mount, mnt);
	w.m = (void *)w.vm - w.mnt_off;
	w.root_d = BPF_CORE_READ(task, fs, root.dentry);
	w.root_m = BPF_CORE_READ(task, fs, root.mnt);
	bpf_loop(MAX_COMP + 8, dwalk_cb, &w, 0);
	if (w.pseudo) {
		/* as libs show a memfd executable: "memfd:NAME", no leading slash */
		put_kstr(a, w.pseudo, 256);
		return;
	}
	u32 start = a->pos;
	u32 off = write_comps(a, start, 0, w.n);
	a->data[(start + off) & EV_MASK] = 0;
	push_len(a, off + 1);
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	struct kernfs_node___old *o = (void *)kn;
	return BPF_CORE_READ(o, parent);
}

struct cgwalk {
	struct aux *a;
	struct css_set *cs;
	u32 start;
	u32 off;
};
static long cg_cb(u64 i, void *ctx)
{
	struct cgwalk *c = ctx;
	struct aux *a = c->a;
	if (c->off > MAX_ARGS || i >= 16)
		return 1;
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cs = c->cs;
	bpf_probe_read_kernel(&css, sizeof(css), &cs->subsys[i & 15]);
	if (!css)
		return 0;
	/* the name /proc/PID/cgroup shows for v1 hierarchies (blkio, not io) */
	const char *name = BPF_CORE_READ(css, ss, legacy_name);
	u32 off = c->off;
	long r = bpf_probe_read_kernel_str(&a->data[(c->start + off) & EV_MASK], 32, name);
	if (r <= 1)
		return 0;
	off += r - 1;
	a->data[(c->start + off) & EV_MASK] = '=';
	off++;
	struct kernfs_node *kn = BPF_CORE_READ(css, cgroup, kn);
	u32 n = 0;
	for (int k = 0; k < 16; k++) {
		struct kernfs_node *pk = kn_parent(kn);
		if (!pk)
			break;
		a->comp[k & (MAX_COMP - 1)] = (u64)BPF_CORE_READ(kn, name);
		n++;
		kn = pk;
	}
	off = write_comps(a, c->start, off, n);
	a->data[(c->start + off) & EV_MASK] = 0;
	c->off = off + 1;
	return 0;
}

/* "subsys=path\0" for every cgroup subsystem of the task (scap cgroups param). */
static __always_inline void put_cgroups(struct aux *a, struct task_struct *task)
{
	struct cgwalk c = {.a = a, .start = a->pos};
	c.cs = BPF_CORE_READ(task, cgroups);
	if (!c.cs) {
		put_empty(a);
		return;
	}
	int count = bpf_core_enum_value(enum cgroup_subsys_id, CGROUP_SUBSYS_COUNT);
	bpf_loop(count > 16 ? 16 : count, cg_cb, &c, 0);
	push_len(a, c.off);
}

/* ---------- sockets ---------- */
static __always_inline struct sock *file_sock(struct file *f)
{
	if (!f)
		return NULL;
	struct inode *in = KREAD(struct file, f, f_inode);
	if (!in || (KREAD(struct inode, in, i_mode) & L_S_IFMT) != L_S_IFSOCK)
		return NULL;
	struct socket *s = KREAD(struct file, f, private_data);
	if (!s)
		return NULL;
	return KREAD(struct socket, s, sk);
}

/* user sockaddr, scap SOCKADDR param */
static __always_inline void put_usockaddr(struct aux *a, unsigned long p, u32 len)
{
	u16 fam = 0;
	if (!p || len < 2 || bpf_probe_read_user(&fam, 2, (void *)p) < 0) {
		put_empty(a);
		return;
	}
	u8 *dst = &a->data[a->pos & EV_MASK];
	if (fam == L_AF_INET) {
		struct sockaddr_in sin = {};
		bpf_probe_read_user(&sin, sizeof(sin), (void *)p);
		dst[0] = L_AF_INET;
		*(u32 *)&dst[1] = sin.sin_addr.s_addr;
		*(u16 *)&dst[5] = bpf_ntohs(sin.sin_port);
		push_len(a, 7);
	} else if (fam == L_AF_INET6) {
		struct sockaddr_in6 sin6 = {};
		bpf_probe_read_user(&sin6, sizeof(sin6), (void *)p);
		dst[0] = L_AF_INET6;
		__builtin_memcpy(&dst[1], &sin6.sin6_addr, 16);
		*(u16 *)&dst[17] = bpf_ntohs(sin6.sin6_port);
		push_len(a, 19);
	} else if (fam == L_AF_UNIX) {
		dst[0] = L_AF_UNIX;
		long r = bpf_probe_read_user_str(&dst[1], 108, (void *)(p + 2));
		if (r < 1) {
			dst[1] = 0;
			r = 1;
		}
		push_len(a, 1 + r);
	} else {
		put_empty(a);
	}
}

/* scap SOCKTUPLE of socket fd: outbound (connect, send) = local then remote; inbound
 * (accept, recv) = remote then local. A user sockaddr fills in an unset remote end. */
static __always_inline void put_tuple(struct aux *a, struct task_struct *t, s64 fd, bool inbound,
				      unsigned long uaddr, u32 ulen)
{
	struct sock *sk = file_sock(fd_file(t, fd));
	if (!sk) {
		put_empty(a);
		return;
	}
	u16 fam = KREAD(struct sock, sk, __sk_common.skc_family);
	u8 *dst = &a->data[a->pos & EV_MASK];
	if (fam == L_AF_INET) {
		u32 lip = KREAD(struct sock, sk, __sk_common.skc_rcv_saddr);
		u16 lport = KREAD(struct sock, sk, __sk_common.skc_num);
		u32 rip = KREAD(struct sock, sk, __sk_common.skc_daddr);
		u16 rport = bpf_ntohs(KREAD(struct sock, sk, __sk_common.skc_dport));
		if (rip == 0 && rport == 0 && uaddr && ulen >= sizeof(struct sockaddr_in)) {
			struct sockaddr_in sin = {};
			bpf_probe_read_user(&sin, sizeof(sin), (void *)uaddr);
			if (sin.sin_family == L_AF_INET) {
				rip = sin.sin_addr.s_addr;
				rport = bpf_ntohs(sin.sin_port);
			}
		}
		dst[0] = L_AF_INET;
		if (!inbound) {
			*(u32 *)&dst[1] = lip;
			*(u16 *)&dst[5] = lport;
			*(u32 *)&dst[7] = rip;
			*(u16 *)&dst[11] = rport;
		} else {
			*(u32 *)&dst[1] = rip;
			*(u16 *)&dst[5] = rport;
			*(u32 *)&dst[7] = lip;
			*(u16 *)&dst[11] = lport;
		}
		push_len(a, 13);
	} else if (fam == L_AF_INET6) {
		struct in6_addr lip = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr rip = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
		u16 lport = KREAD(struct sock, sk, __sk_common.skc_num);
		u16 rport = bpf_ntohs(KREAD(struct sock, sk, __sk_common.skc_dport));
		if (rport == 0 && uaddr && ulen >= sizeof(struct sockaddr_in6)) {
			struct sockaddr_in6 sin6 = {};
			bpf_probe_read_user(&sin6, sizeof(sin6), (void *)uaddr);
			if (sin6.sin6_family == L_AF_INET6) {
				rip = sin6.sin6_addr;
				rport = bpf_ntohs(sin6.sin6_port);
			}
		}
		dst[0] = L_AF_INET6;
		if (!inbound) {
			__builtin_memcpy(&dst[1], &lip, 16);
			*(u16 *)&dst[17] = lport;
			__builtin_memcpy(&dst[19], &rip, 16);
			*(u16 *)&dst[35] = rport;
		} else {
			__builtin_memcpy(&dst[1], &rip, 16);
			*(u16 *)&dst[17] = rport;
			__builtin_memcpy(&dst[19], &lip, 16);
			*(u16 *)&dst[35] = lport;
		}
		push_len(a, 37);
	} else if (fam == L_AF_UNIX) {
		struct unix_sock *us = (void *)sk;
		struct sock *peer = BPF_CORE_READ(us, peer);
		dst[0] = L_AF_UNIX;
		*(u64 *)&dst[1] = (u64)sk;
		*(u64 *)&dst[9] = (u64)peer;
		long r = 0;
		if (uaddr && ulen > 2) {
			r = bpf_probe_read_user_str(&dst[17], 108, (void *)(uaddr + 2));
		} else {
			struct unix_sock *named = peer ? (void *)peer : us;
			struct unix_address *ua = BPF_CORE_READ(named, addr);
			if (ua)
				r = bpf_probe_read_kernel_str(&dst[17], 108, &ua->name[0].sun_path);
		}
		if (r < 1) {
			dst[17] = 0;
			r = 1;
		}
		push_len(a, 17 + r);
	} else {
		put_empty(a);
	}
}

#endif
