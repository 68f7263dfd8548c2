/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Saker probe: data buffers (the `data` param of the read, write, send and receive events).
 *
 * As Falco's drivers do, an event carries the first `snaplen` bytes of the data: for a write
 * or send, of what the call was given (the bytes written when it succeeded, the bytes asked
 * otherwise); for a read or receive, of what it returned (nothing when it failed). They are
 * read at sys_exit, so a read's buffer holds the data by then. Vectors (readv, writev,
 * sendmsg, recvmsg) are gathered in order, iovec by iovec, up to the same limit. */
#ifndef SAKER_DATA_H
#define SAKER_DATA_H

#include "common.h"
#include "compat.h"

#define MAX_SNAPLEN 16384 /* a power of two: data lengths are masked with MAX_SNAPLEN - 1 */
#define MAX_IOV 32        /* iovecs looked at per call */

const volatile u32 snaplen = 80; /* bytes of data kept per event (Options.SnapLen) */

static __always_inline u32 snap(long len)
{
	if (len <= 0)
		return 0;
	u32 n = (unsigned long)len < snaplen ? (u32)len : snaplen;
	if (n > MAX_SNAPLEN - 1)
		n = MAX_SNAPLEN - 1;
	return n;
}

/* the first snap(len) bytes at user address p, as a BYTEBUF param (empty when unreadable) */
static __always_inline void put_udata(struct aux *a, unsigned long p, long len)
{
	u32 n = snap(len);
	asm volatile("" : "+r"(n)); /* keep the mask below for the verifier */
	n &= MAX_SNAPLEN - 1;
	if (!p || n == 0 || bpf_probe_read_user(&a->data[a->pos & EV_MASK], n, (void *)p) < 0)
		n = 0;
	push_len(a, n);
}

/* one iovec of a user array (struct iovec, or struct compat_iovec for a compat call) */
static __always_inline int read_iovec(unsigned long iov, u32 i, bool c32, unsigned long *base, u64 *len)
{
	if (c32) {
		struct iovec32 v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v))) < 0)
			return -1;
		*base = v.base;
		*len = v.len;
		return 0;
	}
	struct iovec v = {};
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v))) < 0)
		return -1;
	*base = (unsigned long)v.iov_base;
	*len = v.iov_len;
	return 0;
}

struct iov_walk {
	struct aux *a;
	unsigned long iov;
	u32 cnt;
	bool c32;
	u64 total; /* iov_size: the sum of the lengths */
	u32 start; /* put_iovdata: where the param starts, bytes written, bytes still wanted */
	u32 off;
	u32 left;
};

static long iov_size_cb(u64 i, void *ctx)
{
	struct iov_walk *w = ctx;
	unsigned long base;
	u64 len;
	if (i >= w->cnt || read_iovec(w->iov, i, w->c32, &base, &len) < 0)
		return 1;
	w->total += len;
	return 0;
}

/* the total length of cnt user iovecs (the first MAX_IOV) */
static __always_inline u64 iov_size(unsigned long iov, u64 cnt, bool c32)
{
	struct iov_walk w = {.iov = iov, .cnt = cnt > MAX_IOV ? MAX_IOV : cnt, .c32 = c32};
	if (iov && w.cnt)
		bpf_loop(MAX_IOV, iov_size_cb, &w, 0);
	return w.total;
}

static long iov_data_cb(u64 i, void *ctx)
{
	struct iov_walk *w = ctx;
	struct aux *a = w->a;
	unsigned long base;
	u64 len;
	if (i >= w->cnt || w->left == 0 || read_iovec(w->iov, i, w->c32, &base, &len) < 0)
		return 1;
	u32 n = len < w->left ? (u32)len : w->left;
	asm volatile("" : "+r"(n));
	n &= MAX_SNAPLEN - 1;
	if (n && bpf_probe_read_user(&a->data[(w->start + w->off) & EV_MASK], n, (void *)base) < 0)
		return 1;
	w->off += n;
	w->left -= n;
	return 0;
}

/* the first snap(len) bytes of the data of cnt user iovecs, as a BYTEBUF param */
static __always_inline void put_iovdata(struct aux *a, unsigned long iov, u64 cnt, long len, bool c32)
{
	struct iov_walk w = {.a = a, .iov = iov, .cnt = cnt > MAX_IOV ? MAX_IOV : cnt, .c32 = c32,
			     .start = a->pos, .left = snap(len)};
	if (iov && w.cnt && w.left)
		bpf_loop(MAX_IOV, iov_data_cb, &w, 0);
	push_len(a, w.off);
}

/* name, name length, iovec array and count of a user msghdr (compat_msghdr for a compat call) */
struct umsg {
	unsigned long name;
	u32 namelen;
	unsigned long iov;
	u64 iovlen;
};
static __always_inline void read_msghdr(unsigned long msg, bool c32, struct umsg *out)
{
	if (!msg)
		return;
	if (c32) {
		struct msghdr32 m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (void *)msg) < 0)
			return;
		out->name = m.name;
		out->namelen = m.namelen;
		out->iov = m.iov;
		out->iovlen = m.iovlen;
		return;
	}
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (void *)msg) < 0)
		return;
	out->name = (unsigned long)m.msg_name;
	out->namelen = m.msg_namelen;
	out->iov = (unsigned long)m.msg_iov;
	out->iovlen = m.msg_iovlen;
}

#endif
