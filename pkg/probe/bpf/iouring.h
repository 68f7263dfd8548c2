/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Saker probe: io_uring requests as syscall events.
 *
 * tp_btf/io_uring_submit_req runs after a request's prep (io_init_req), in the submitter's
 * context (or its SQPOLL thread's): the per-opcode command data in the io_kiocb is complete
 * (io_open's dfd, struct filename and open_how; io_rename's paths; ...). For the opcodes
 * Saker turns into events, what the event needs is copied into `uring_pending`, keyed by the
 * io_kiocb pointer: the kernel frees the filenames before the completion. At
 * tp_btf/io_uring_complete the entry of the request gives, with the CQE's result, the exit
 * event of the equivalent syscall (openat, connect, ...), written as the submitting thread and
 * carrying ext flag EXT_IO_URING. The encoder of each opcode is a tail call (uring_progs[op]).
 *
 * A request is captured when the syscall it stands for is selected (`interesting` at the
 * syscall's number): an io_uring openat is captured with openat.
 *
 * Fixed files (IOSQE_FIXED_FILE, direct opens into the registered table) have no fd: slot i
 * is written as fd FIXED_FD_BASE + i, so state still follows what was opened into a slot and
 * what uses it. Requests submitted with IOSQE_CQE_SKIP_SUCCESS post no CQE when they
 * succeed: they are written at submission with res 0, their result being unknown (an open or
 * accept into a plain fd then has fd -1: the fd it got is not known). */
#ifndef SAKER_IOURING_H
#define SAKER_IOURING_H

#include "common.h"
#include "extract.h"
#include "ext.h"

#define FIXED_FD_BASE 0x70000000
#define U_ADDR_MAX 128
#define L_REQ_F_FIXED_FILE 1ULL
#define L_REQ_F_CQE_SKIP 64ULL
#define L_IORING_CQE_F_MORE (1U << 1)
#define L_IORING_FILE_INDEX_ALLOC (~0U)
#define L_PF_IO_WORKER 0x10
#define NUOPS 64

/* what the completion needs of a request, copied at submission */
struct uring_req {
	u64 task;   /* submitting task_struct (its fd table, when the CQE is posted elsewhere) */
	u32 tid;    /* thread the event is written as */
	u32 tgid;
	u32 op;
	s32 fd;     /* the request's fd (FIXED_FD_BASE + slot for fixed files) */
	s32 dfd;
	s32 dfd2;
	u32 flags;  /* unlink/link/rename/accept flags */
	u32 mode;
	u64 oflags; /* open_how.flags */
	u64 resolve;
	u32 slot;   /* direct open/accept: file_slot (index + 1, or FILE_INDEX_ALLOC) */
	u32 size;
	u32 addrlen;
	u64 buf;    /* read/write/send/recv: the user buffer, or the iovec array when nvec > 0 */
	u32 nvec;   /* iovecs at buf (READV/WRITEV, SENDMSG/RECVMSG) */
	u8 addr[U_ADDR_MAX];
	char p1[MAX_STR];
	char p2[MAX_STR];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, struct uring_req);
} uring_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct uring_req);
} uring_scratch SEC(".maps");

/* uring_progs[op]: encoder of io_uring opcode op at its CQE (uc_NAME, registered from Go);
 * uring_skip_progs[op]: the same at submission, for CQE-skipping requests (us_NAME). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NUOPS);
	__type(key, u32);
	__type(value, u32);
} uring_progs SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NUOPS);
	__type(key, u32);
	__type(value, u32);
} uring_skip_progs SEC(".maps");

/* the x86_64 syscall an opcode stands for (its `interesting` slot), or -1 */
static __always_inline int uring_syscall(u32 op)
{
	switch (op) {
	case 18: return 257; /* OPENAT -> openat */
	case 28: return 437; /* OPENAT2 -> openat2 */
	case 19: return 3;   /* CLOSE -> close */
	case 1: case 4: case 22: case 60: return 0;  /* READV, READ_FIXED, READ, READV_FIXED -> read */
	case 2: case 5: case 23: case 61: return 1;  /* WRITEV, WRITE_FIXED, WRITE, WRITEV_FIXED -> write */
	case 16: return 42;  /* CONNECT -> connect */
	case 13: return 288; /* ACCEPT -> accept4 */
	case 26: case 47: return 44; /* SEND, SEND_ZC -> sendto */
	case 27: return 45;  /* RECV -> recvfrom */
	case 9: case 48: return 46; /* SENDMSG, SENDMSG_ZC -> sendmsg */
	case 10: return 47;  /* RECVMSG -> recvmsg */
	case 36: return 263; /* UNLINKAT -> unlinkat */
	case 35: return 316; /* RENAMEAT -> renameat2 */
	case 37: return 258; /* MKDIRAT -> mkdirat */
	case 38: return 266; /* SYMLINKAT -> symlinkat */
	case 39: return 265; /* LINKAT -> linkat */
	}
	return -1;
}

static __always_inline void fname_copy(char *dst, struct filename *fn)
{
	dst[0] = 0;
	if (!fn)
		return;
	const char *name = BPF_CORE_READ(fn, name);
	if (name && bpf_probe_read_kernel_str(dst, MAX_STR, name) < 0)
		dst[0] = 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit, struct io_kiocb *req)
{
	u32 op = BPF_CORE_READ(req, opcode);
	int nr = uring_syscall(op);
	if (nr < 0 || !selected(nr))
		return 0;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) == exclude_tgid)
		return 0;
	u32 zero = 0;
	struct uring_req *u = bpf_map_lookup_elem(&uring_scratch, &zero);
	if (!u)
		return 0;
	struct task_struct *t = cur_task();
	u->task = (u64)t;
	u->tgid = pid_tgid >> 32;
	/* an SQPOLL thread submits for its process: written as the process's main thread */
	u->tid = (BPF_CORE_READ(t, flags) & L_PF_IO_WORKER) ? u->tgid : (u32)pid_tgid;
	u->op = op;
	u64 rflags = BPF_CORE_READ(req, flags);
	s32 fd = BPF_CORE_READ(req, cqe.fd); /* sqe->fd until the CQE is filled */
	u->fd = (rflags & L_REQ_F_FIXED_FILE) ? FIXED_FD_BASE + fd : fd;
	u->dfd = u->dfd2 = 0;
	u->flags = u->mode = u->slot = u->size = u->addrlen = u->nvec = 0;
	u->buf = 0;
	u->oflags = u->resolve = 0;
	u->p1[0] = u->p2[0] = 0;
	void *cmd = &req->cmd;

	switch (op) {
	case 18: case 28: {
		struct io_open *o = cmd;
		u->dfd = BPF_CORE_READ(o, dfd);
		u->slot = BPF_CORE_READ(o, file_slot);
		u->oflags = BPF_CORE_READ(o, how.flags);
		u->mode = BPF_CORE_READ(o, how.mode);
		u->resolve = BPF_CORE_READ(o, how.resolve);
		fname_copy(u->p1, BPF_CORE_READ(o, filename));
		break;
	}
	case 19: {
		struct io_close *c = cmd;
		u32 slot = BPF_CORE_READ(c, file_slot);
		u->fd = slot ? FIXED_FD_BASE + slot - 1 : BPF_CORE_READ(c, fd);
		break;
	}
	case 1: case 2: case 4: case 5: case 22: case 23: case 60: case 61: {
		struct io_rw *rw = cmd;
		u->buf = BPF_CORE_READ(rw, addr);
		if (op == 1 || op == 2 || op == 60 || op == 61) { /* vectored: len counts iovecs */
			u->nvec = BPF_CORE_READ(rw, len);
			u->size = iov_size(u->buf, u->nvec, false);
		} else {
			u->size = BPF_CORE_READ(rw, len);
		}
		break;
	}
	case 16: {
		struct io_connect *c = cmd;
		u32 len = BPF_CORE_READ(c, addr_len);
		void *ua = BPF_CORE_READ(c, addr);
		if (len > U_ADDR_MAX)
			len = U_ADDR_MAX;
		u->addrlen = len;
		if (bpf_probe_read_user(u->addr, U_ADDR_MAX, ua) < 0 &&
		    bpf_probe_read_user(u->addr, 16, ua) < 0)
			u->addrlen = 0;
		break;
	}
	case 13: {
		struct io_accept *ac = cmd;
		u->flags = BPF_CORE_READ(ac, flags);
		u->slot = BPF_CORE_READ(ac, file_slot);
		break;
	}
	case 9: case 10: case 48: {
		struct io_sr_msg *sr = cmd;
		struct umsg m = {};
		read_msghdr((unsigned long)BPF_CORE_READ(sr, umsg), false, &m);
		u->size = iov_size(m.iov, m.iovlen, false);
		u->buf = m.iov;
		u->nvec = m.iovlen;
		unsigned long name = m.name;
		u32 nl = m.namelen;
		if (nl > U_ADDR_MAX)
			nl = U_ADDR_MAX;
		if (name && nl >= 2 && bpf_probe_read_user(u->addr, U_ADDR_MAX, (void *)name) >= 0)
			u->addrlen = nl;
		break;
	}
	case 26: case 27: case 47: {
		struct io_sr_msg *sr = cmd;
		u->size = BPF_CORE_READ(sr, len);
		u->buf = (unsigned long)BPF_CORE_READ(sr, buf);
		break;
	}
	case 36: {
		struct io_unlink *un = cmd;
		u->dfd = BPF_CORE_READ(un, dfd);
		u->flags = BPF_CORE_READ(un, flags);
		fname_copy(u->p1, BPF_CORE_READ(un, filename));
		break;
	}
	case 35: {
		struct io_rename *rn = cmd;
		u->dfd = BPF_CORE_READ(rn, old_dfd);
		u->dfd2 = BPF_CORE_READ(rn, new_dfd);
		u->flags = BPF_CORE_READ(rn, flags);
		fname_copy(u->p1, BPF_CORE_READ(rn, oldpath));
		fname_copy(u->p2, BPF_CORE_READ(rn, newpath));
		break;
	}
	case 37: {
		struct io_mkdir *mk = cmd;
		u->dfd = BPF_CORE_READ(mk, dfd);
		u->mode = BPF_CORE_READ(mk, mode);
		fname_copy(u->p1, BPF_CORE_READ(mk, filename));
		break;
	}
	case 38: case 39: {
		struct io_link *lk = cmd;
		u->dfd = BPF_CORE_READ(lk, old_dfd);
		u->dfd2 = BPF_CORE_READ(lk, new_dfd);
		u->flags = BPF_CORE_READ(lk, flags);
		fname_copy(u->p1, BPF_CORE_READ(lk, oldpath));
		fname_copy(u->p2, BPF_CORE_READ(lk, newpath));
		break;
	}
	}
	u64 key = (u64)req;
	bpf_map_update_elem(&uring_pending, &key, u, BPF_ANY);
	if (rflags & L_REQ_F_CQE_SKIP) {
		/* no CQE on success: encode now (res 0); a failure's CQE finds no entry */
		bpf_tail_call(ctx, &uring_skip_progs, op & (NUOPS - 1));
	}
	return 0;
}

/* The CQE of a request: its encoder (tail call). Multishot requests (CQE_F_MORE) keep their
 * entry for the next CQE. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(uring_complete, struct io_ring_ctx *rctx, void *req, struct io_uring_cqe *cqe)
{
	u64 key = (u64)req;
	struct uring_req *u = bpf_map_lookup_elem(&uring_pending, &key);
	if (!u)
		return 0;
	bpf_tail_call(ctx, &uring_progs, u->op & (NUOPS - 1));
	bpf_map_delete_elem(&uring_pending, &key);
	return 0;
}

/* ---- encoders: programs on both tracepoints (the CQE-skip path calls them from submit) ---- */

/* the request's entry, its result and whether to keep the entry (multishot) */
struct uring_ctx {
	struct uring_req *u;
	struct task_struct *t; /* task whose fd table resolves the request's fds */
	u64 key;
	s64 res;
	bool more;
	bool skip; /* encoded at submission (CQE skipped): result unknown */
};

static __always_inline bool uring_begin(struct uring_ctx *c, u64 req, struct io_uring_cqe *cqe)
{
	c->key = req;
	c->u = bpf_map_lookup_elem(&uring_pending, &c->key);
	if (!c->u)
		return false;
	c->res = 0;
	c->more = false;
	c->skip = !cqe;
	if (cqe) {
		c->res = BPF_CORE_READ(cqe, res);
		c->more = BPF_CORE_READ(cqe, flags) & L_IORING_CQE_F_MORE;
	}
	c->t = cur_task();
	if ((bpf_get_current_pid_tgid() >> 32) != c->u->tgid)
		c->t = (struct task_struct *)c->u->task;
	return true;
}

static __always_inline void uring_end(struct aux *a, struct uring_ctx *c)
{
	ev_submit_tid(a, c->u->tid);
	if (!c->more)
		bpf_map_delete_elem(&uring_pending, &c->key);
}

/* fd a successful direct open/accept made: its slot */
static __always_inline s64 uring_newfd(struct uring_req *u, s64 res, bool skip)
{
	if (res < 0)
		return res;
	if (!u->slot)
		return skip ? -1 : res;
	if (u->slot == L_IORING_FILE_INDEX_ALLOC)
		return FIXED_FD_BASE + res;
	return FIXED_FD_BASE + u->slot - 1;
}

#define UPROG(name)                                                                                \
	static __always_inline int uenc_##name(struct aux *a, struct uring_ctx *c);                \
	SEC("tp_btf/io_uring_complete")                                                            \
	int BPF_PROG(uc_##name, struct io_ring_ctx *rctx, void *req, struct io_uring_cqe *cqe)     \
	{                                                                                          \
		struct uring_ctx c;                                                                \
		struct aux *a = aux_get();                                                         \
		if (!a || !uring_begin(&c, (u64)req, cqe))                                         \
			return 0;                                                                  \
		return uenc_##name(a, &c);                                                         \
	}                                                                                          \
	SEC("tp_btf/io_uring_submit_req")                                                          \
	int BPF_PROG(us_##name, struct io_kiocb *req)                                              \
	{                                                                                          \
		struct uring_ctx c;                                                                \
		struct aux *a = aux_get();                                                         \
		if (!a || !uring_begin(&c, (u64)req, NULL))                                        \
			return 0;                                                                  \
		return uenc_##name(a, &c);                                                         \
	}                                                                                          \
	static __always_inline int uenc_##name(struct aux *a, struct uring_ctx *c)

static __always_inline void uring_open_common(struct aux *a, struct uring_ctx *c, bool two)
{
	struct uring_req *u = c->u;
	s64 fd = uring_newfd(u, c->res, c->skip);
	put_s64(a, fd);
	put_s64(a, u->dfd);
	put_kstr(a, u->p1, MAX_STR);
	/* io_uring adds O_LARGEFILE itself on 64-bit (force_o_largefile): dropped, so the flags
	 * read as the syscall's, which the probe takes as passed */
	u32 fl = open_flags_to_scap(u->oflags & ~(u64)L_O_LARGEFILE);
	struct file *f = fd >= 0 && !u->slot ? fd_file(c->t, fd) : NULL;
	if (f) {
		if (BPF_CORE_READ(f, f_mode) & L_FMODE_CREATED)
			fl |= 0x4000;
		u32 layer = overlay_layer(BPF_CORE_READ(f, f_inode));
		if (layer == LAYER_UPPER)
			fl |= 0x8000;
		else if (layer == LAYER_LOWER)
			fl |= 0x10000;
	}
	put_u32(a, fl);
	put_u32(a, open_mode_to_scap(u->oflags, u->mode));
	if (two)
		put_u32(a, (u32)u->resolve);
	u32 dev = 0;
	u64 ino = 0;
	if (f) {
		struct inode *in = BPF_CORE_READ(f, f_inode);
		dev = encode_dev(BPF_CORE_READ(in, i_sb, s_dev));
		ino = BPF_CORE_READ(in, i_ino);
	}
	put_u32(a, dev);
	put_u64(a, ino);
	put_ext_flags(a, EXT_IO_URING);
	if (f && resolve_paths)
		put_path(a, c->t, &f->f_path);
	else
		put_empty(a);
}

UPROG(openat) /* 307: fd, dirfd, name, flags, mode, dev, ino + ext */
{
	ev_begin(a, 307, 7 + NEXT_OPEN);
	uring_open_common(a, c, false);
	uring_end(a, c);
	return 0;
}

UPROG(openat2) /* 327: fd, dirfd, name, flags, mode, resolve, dev, ino + ext */
{
	ev_begin(a, 327, 8 + NEXT_OPEN);
	uring_open_common(a, c, true);
	uring_end(a, c);
	return 0;
}

UPROG(close) /* 5: res, fd */
{
	ev_begin(a, 5, 2 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_s64(a, c->u->fd);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

/* the request's data param, as the syscall's: what a read returned, what a write was given */
static __always_inline void put_urdata(struct aux *a, struct uring_req *u, long len)
{
	if (u->nvec)
		put_iovdata(a, u->buf, u->nvec, len, false);
	else
		put_udata(a, u->buf, len);
}
#define UWRITTEN(c) ((c)->res > 0 ? (long)(c)->res : (long)(c)->u->size)

UPROG(read) /* 7: res, data, fd, size */
{
	ev_begin(a, 7, 4 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_urdata(a, c->u, c->res);
	put_s64(a, c->u->fd);
	put_u32(a, c->u->size);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(write) /* 9: res, data, fd, size */
{
	ev_begin(a, 9, 4 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_urdata(a, c->u, UWRITTEN(c));
	put_s64(a, c->u->fd);
	put_u32(a, c->u->size);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

/* scap SOCKADDR param from a sockaddr copied into the request's entry */
static __always_inline void put_sockaddr_buf(struct aux *a, struct uring_req *u)
{
	u16 fam = *(u16 *)u->addr;
	u8 *dst = &a->data[a->pos & EV_MASK];
	if (u->addrlen < 2) {
		put_empty(a);
	} else if (fam == L_AF_INET) {
		struct sockaddr_in *sin = (void *)u->addr;
		dst[0] = L_AF_INET;
		*(u32 *)&dst[1] = sin->sin_addr.s_addr;
		*(u16 *)&dst[5] = bpf_ntohs(sin->sin_port);
		push_len(a, 7);
	} else if (fam == L_AF_INET6) {
		struct sockaddr_in6 *sin6 = (void *)u->addr;
		dst[0] = L_AF_INET6;
		__builtin_memcpy(&dst[1], &sin6->sin6_addr, 16);
		*(u16 *)&dst[17] = bpf_ntohs(sin6->sin6_port);
		push_len(a, 19);
	} else if (fam == L_AF_UNIX) {
		dst[0] = L_AF_UNIX;
		long r = bpf_probe_read_kernel_str(&dst[1], 108, &u->addr[2]);
		if (r < 1) {
			dst[1] = 0;
			r = 1;
		}
		push_len(a, 1 + r);
	} else {
		put_empty(a);
	}
}

UPROG(connect) /* 23: res, tuple, fd, addr */
{
	struct uring_req *u = c->u;
	ev_begin(a, 23, 4 + NEXT_FLAGS);
	put_s64(a, c->res);
	if (c->res == 0 || c->res == -115 /* EINPROGRESS */)
		put_tuple(a, c->t, u->fd, false, 0, 0);
	else
		put_empty(a);
	put_s64(a, u->fd);
	put_sockaddr_buf(a, u);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(accept) /* 389: fd, tuple, queuepct, queuelen, queuemax, flags */
{
	struct uring_req *u = c->u;
	ev_begin(a, 389, 6 + NEXT_FLAGS);
	s64 fd = uring_newfd(u, c->res, c->skip);
	put_s64(a, fd);
	if (c->res >= 0 && !u->slot)
		put_tuple(a, c->t, fd, true, 0, 0);
	else
		put_empty(a);
	struct sock *lsk = file_sock(fd_file(c->t, u->fd));
	u32 qlen = 0, qmax = 0;
	if (lsk) {
		qlen = BPF_CORE_READ(lsk, sk_ack_backlog);
		qmax = BPF_CORE_READ(lsk, sk_max_ack_backlog);
	}
	put_u8(a, qmax ? (qlen * 100) / qmax : 0);
	put_u32(a, qlen);
	put_u32(a, qmax);
	put_u32(a, u->flags);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(send) /* 31: res, data, fd, size, tuple */
{
	struct uring_req *u = c->u;
	ev_begin(a, 31, 5 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_urdata(a, c->u, UWRITTEN(c));
	put_s64(a, u->fd);
	put_u32(a, u->size);
	put_tuple(a, c->t, u->fd, false, 0, 0);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(recv) /* 35: res, data, tuple, fd, size */
{
	struct uring_req *u = c->u;
	ev_begin(a, 35, 5 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_urdata(a, c->u, c->res);
	put_tuple(a, c->t, u->fd, true, 0, 0);
	put_s64(a, u->fd);
	put_u32(a, u->size);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(sendmsg) /* 49: res, data, fd, size, tuple */
{
	struct uring_req *u = c->u;
	ev_begin(a, 49, 5 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_urdata(a, c->u, UWRITTEN(c));
	put_s64(a, u->fd);
	put_u32(a, u->size);
	put_tuple(a, c->t, u->fd, false, 0, 0);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(recvmsg) /* 53: res, size, data, tuple, msgcontrol, fd */
{
	struct uring_req *u = c->u;
	ev_begin(a, 53, 6 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_u32(a, u->size);
	put_urdata(a, c->u, c->res);
	put_tuple(a, c->t, u->fd, true, 0, 0);
	put_empty(a);
	put_s64(a, u->fd);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(unlinkat) /* 303: res, dirfd, name, flags */
{
	struct uring_req *u = c->u;
	ev_begin(a, 303, 4 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_s64(a, u->dfd);
	put_kstr(a, u->p1, MAX_STR);
	put_u32(a, u->flags & 0x200);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(renameat) /* 319 renameat2: res, olddirfd, oldpath, newdirfd, newpath, flags */
{
	struct uring_req *u = c->u;
	ev_begin(a, 319, 6 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_s64(a, u->dfd);
	put_kstr(a, u->p1, MAX_STR);
	put_s64(a, u->dfd2);
	put_kstr(a, u->p2, MAX_STR);
	put_u32(a, u->flags & 0x7);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(mkdirat) /* 305: res, dirfd, path, mode */
{
	struct uring_req *u = c->u;
	ev_begin(a, 305, 4 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_s64(a, u->dfd);
	put_kstr(a, u->p1, MAX_STR);
	put_u32(a, u->mode);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(symlinkat) /* 181: res, target, linkdirfd, linkpath */
{
	struct uring_req *u = c->u;
	ev_begin(a, 181, 4 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_kstr(a, u->p1, MAX_STR);
	put_s64(a, u->dfd2);
	put_kstr(a, u->p2, MAX_STR);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

UPROG(linkat) /* 311: res, olddir, oldpath, newdir, newpath, flags */
{
	struct uring_req *u = c->u;
	ev_begin(a, 311, 6 + NEXT_FLAGS);
	put_s64(a, c->res);
	put_s64(a, u->dfd);
	put_kstr(a, u->p1, MAX_STR);
	put_s64(a, u->dfd2);
	put_kstr(a, u->p2, MAX_STR);
	put_u32(a, u->flags & 0x1400);
	put_ext_flags(a, EXT_IO_URING);
	uring_end(a, c);
	return 0;
}

#endif
