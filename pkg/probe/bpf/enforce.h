/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Saker probe: in-kernel enforcement (`enforce: kill` rules).
 *
 * A separate program on tp_btf/sys_enter, attached only when enforcement is on. A syscall
 * with no enforcement clause costs one array lookup (enf_index[nr].n == 0). For one with
 * clauses, the values the clauses need (enf_index[nr].need) are read once into a per-CPU
 * context: the caller's comm and ancestors' comms, the path argument (execve filename, open
 * pathname), argv[0], the euid, whether the task is in a non-initial pid namespace (a
 * container), and connect's destination port and IPv4 address. Each clause (pkg/enforce
 * compiles a rule's condition into clauses, one conjunction of up to ENF_MAX_PRED predicates
 * each) is tested; the first that holds sends SIGKILL to the caller (bpf_send_signal), unless
 * the global dry-run switch is on, and reports the match on the enf_events ring buffer.
 *
 * A 32-bit caller's syscalls are translated to their x86_64 numbers (ia32_to_64); its
 * socketcall(SYS_CONNECT, ...) is enforced as connect, the arguments read from its array.
 *
 * The syscall has not run: an execve killed here never loads the new program, an open never
 * returns a file descriptor. A user string that cannot be read at entry (paged out) leaves
 * the clauses that need it unmatched and counts a fault: a process is never killed on a
 * partial or failed read. A path longer than ENF_STR - 1 bytes is read cut: it still has the
 * right prefixes, and values are at most ENF_STR - 2 bytes, so it equals none.
 *
 * Never killed: pid 1, the probe's own process (exclude_tgid), the tgids in enf_protect
 * (filled from user space: Saker, the container runtime, the kubelet, the allowlist), the
 * container runtime and kubelet by comm (the names in enf_runtime, also filled from user
 * space) and the comms in enf_allow_comm.
 * An execve of a path in enf_allow_exe is never killed either. Keep in step with
 * pkg/probe/enforce.go. */
#ifndef SAKER_ENFORCE_H
#define SAKER_ENFORCE_H

#include "common.h"
#include "compat.h"

#define ENF_MAX_CLAUSES 512
#define ENF_MAX_PER_SYS 256
#define ENF_MAX_PRED 16
#define ENF_STR 256
#define ENF_SLOTS 16
#define ENF_ANC 8

/* fields */
#define EF_PATH 1      /* string slot 0: the path argument */
#define EF_EXE 2       /* string slot 1: argv[0] */
#define EF_STR 3       /* string slot arg (2: comm, 3..10: ancestors 1..8) */
#define EF_ANC_ANY 4   /* any of the string slots 3..10 */
#define EF_UID 5
#define EF_CONTAINER 6 /* 1 in a container (non-initial pid namespace), 0 on the host */
#define EF_RPORT 7
#define EF_RIP4 8

/* operators */
#define EO_EQ 1
#define EO_PREFIX 2
#define EO_LT 3
#define EO_GT 4

/* need bits */
#define EN_PATH 0x1
#define EN_EXE 0x2
#define EN_ANC 0x4
#define EN_UID 0x8
#define EN_CONT 0x10
#define EN_SOCK 0x20
#define EN_EXEC 0x40 /* an execve: slot 2 is the new program's name (basename of the path) */

/* where the path argument is (argument index + 1; 0: none) */
#define EP_ARG0 1
#define EP_ARG1 2

struct enf_pred {
	u8 field;
	u8 op;
	u8 neg;
	u8 arg;
	u32 len;
	u64 num;
	char str[ENF_STR];
};

struct enf_clause {
	u32 rule;
	u32 npred;
	struct enf_pred p[ENF_MAX_PRED];
};

struct enf_sys {
	u32 n;
	u32 need;
	u32 path_arg; /* EP_* */
	u32 pad;
	u16 clause[ENF_MAX_PER_SYS];
};

struct enf_ctx {
	char s[ENF_SLOTS][ENF_STR];
	u32 slen[ENF_SLOTS];
	u32 nanc;
	u32 faults; /* bit i: slot i could not be read */
	u64 uid;
	u64 container;
	u64 rport;
	u64 rip4;
	u8 has_port;
	u8 has_ip4;
	u8 pad[6];
};

/* one enforcement, for user space */
struct enf_event {
	u64 ts;
	u32 pid;
	u32 tgid;
	u32 rule;
	u32 nr;   /* x86_64 syscall number */
	u32 nr32; /* ia32 number for a compat call, else 0xffffffff */
	u8 dry_run;
	u8 pad[3];
	char comm[16];
	char path[ENF_STR];
	char exe[ENF_STR];
};

struct enf_conf {
	u32 dry_run;
	u32 pad;
};

#define ES_MATCHED 0
#define ES_KILLED 1
#define ES_FAULTS 2
#define ES_SPARED 3
#define ES_EVLOST 4
#define ES_SIGFAIL 5
#define NES 6

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ENF_MAX_CLAUSES);
	__type(key, u32);
	__type(value, struct enf_clause);
} enf_clauses SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSYSCALLS);
	__type(key, u32);
	__type(value, struct enf_sys);
} enf_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct enf_conf);
} enf_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u8);
} enf_protect SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[16]);
	__type(value, u8);
} enf_allow_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[ENF_STR]);
	__type(value, u8);
} enf_allow_exe SEC(".maps");

/* The container runtimes and the kubelet by comm (pkg/response/actions.RuntimeProcesses, put
 * here by user space): a longest-prefix-match trie on the 16 comm bytes. A prefix entry
 * ("containerd-shim*") is its bytes; an exact one ("runc") its bytes and the NUL after them. */
struct enf_runtime_key {
	u32 prefixlen; /* bits */
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct enf_runtime_key);
	__type(value, u8);
} enf_runtime SEC(".maps");

/* per rule (enf_clause.rule) counters of kills (dry-run matches included) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ENF_MAX_CLAUSES);
	__type(key, u32);
	__type(value, u64);
} enf_kills SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NES);
	__type(key, u32);
	__type(value, u64);
} enf_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct enf_ctx);
} enf_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct enf_event);
} enf_evscratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} enf_events SEC(".maps");

static __always_inline void enf_stat(u32 k)
{
	u64 *v = bpf_map_lookup_elem(&enf_stats, &k);
	if (v)
		*v += 1;
}

/* a comm against enf_runtime: the longest entry that is a prefix of it (an exact entry ends
 * with its NUL, so it matches only the whole comm) */
static __always_inline bool enf_runtime_comm(const char *c)
{
	struct enf_runtime_key k = {.prefixlen = 8 * sizeof(k.comm)};
	__builtin_memcpy(k.comm, c, sizeof(k.comm));
	return bpf_map_lookup_elem(&enf_runtime, &k) != NULL;
}

struct enf_cmp {
	const char *s;
	const char *v;
	u32 diff;
};

static long enf_cmp_cb(u64 i, void *ctx)
{
	struct enf_cmp *c = ctx;
	if (c->s[i & (ENF_STR - 1)] != c->v[i & (ENF_STR - 1)]) {
		c->diff = 1;
		return 1;
	}
	return 0;
}

/* string slot slot against p (EO_EQ or EO_PREFIX), before negation */
static __noinline bool enf_str(struct enf_ctx *c, u32 slot, struct enf_pred *p)
{
	slot &= ENF_SLOTS - 1;
	u32 sl = c->slen[slot];
	u32 n = p->len;
	if (n > ENF_STR - 1)
		return false;
	if (p->op == EO_EQ && sl != n)
		return false;
	if (p->op == EO_PREFIX && sl < n)
		return false;
	struct enf_cmp k = {.s = c->s[slot], .v = p->str};
	bpf_loop(n, enf_cmp_cb, &k, 0);
	return !k.diff;
}

static __always_inline bool enf_num(u64 have, struct enf_pred *p)
{
	switch (p->op) {
	case EO_EQ: return have == p->num;
	case EO_LT: return have < p->num;
	case EO_GT: return have > p->num;
	}
	return false;
}

/* 1: holds, 0: does not, -1: cannot be decided (a fault) */
static __noinline int enf_pred_eval(struct enf_ctx *c, struct enf_pred *p)
{
	bool r = false;
	switch (p->field) {
	case EF_PATH:
		if (c->faults & 1)
			return -1;
		r = enf_str(c, 0, p);
		break;
	case EF_EXE:
		if (c->faults & 2)
			return -1;
		r = enf_str(c, 1, p);
		break;
	case EF_STR: {
		u32 slot = (2 + p->arg) & (ENF_SLOTS - 1);
		if (c->faults & (1u << slot))
			return -1;
		r = (slot <= 2 || slot < 3 + c->nanc) ? enf_str(c, slot, p) : false;
		break;
	}
	case EF_ANC_ANY:
		for (u32 i = 0; i < ENF_ANC; i++) {
			if (i >= c->nanc)
				break;
			if (enf_str(c, 3 + i, p)) {
				r = true;
				break;
			}
		}
		break;
	case EF_UID:
		r = enf_num(c->uid, p);
		break;
	case EF_CONTAINER:
		r = enf_num(c->container, p);
		break;
	case EF_RPORT:
		r = c->has_port && enf_num(c->rport, p);
		break;
	case EF_RIP4:
		r = c->has_ip4 && enf_num(c->rip4, p);
		break;
	default:
		return -1;
	}
	return p->neg ? !r : r;
}

struct enf_walk {
	struct enf_ctx *c;
	struct enf_sys *sys;
	s32 rule;   /* the matching clause's rule, -1 while none */
	u32 faulted;
};

static long enf_clause_cb(u64 i, void *ctx)
{
	struct enf_walk *w = ctx;
	u32 id = w->sys->clause[i & (ENF_MAX_PER_SYS - 1)];
	struct enf_clause *cl = bpf_map_lookup_elem(&enf_clauses, &id);
	if (!cl)
		return 0;
	u32 np = cl->npred;
	for (u32 j = 0; j < ENF_MAX_PRED; j++) {
		if (j >= np)
			break;
		int r = enf_pred_eval(w->c, &cl->p[j]);
		if (r < 0) {
			w->faulted = 1;
			return 0;
		}
		if (!r)
			return 0;
	}
	w->rule = cl->rule;
	return 1;
}

/* reads user string p into slot; on a failed read the slot is marked faulted */
static __always_inline void enf_ustr(struct enf_ctx *c, u32 slot, unsigned long p)
{
	slot &= ENF_SLOTS - 1;
	long n = p ? bpf_probe_read_user_str(c->s[slot], ENF_STR, (void *)p) : -1;
	if (n <= 0) {
		c->faults |= 1u << slot;
		c->slen[slot] = 0;
		return;
	}
	c->slen[slot] = n - 1;
}

/* a comm into slot, zero padded to 16 bytes (a key of enf_allow_comm) */
static __always_inline u32 enf_kcomm(struct enf_ctx *c, u32 slot, struct task_struct *t)
{
	slot &= ENF_SLOTS - 1;
	char *d = c->s[slot];
	if (bpf_probe_read_kernel(d, 16, &t->comm) < 0)
		d[0] = 0;
	d[15] = 0;
	u32 n = 15;
	for (int i = 14; i >= 0; i--)
		if (d[i] == 0)
			n = i;
	c->slen[slot] = n;
	return n;
}

struct enf_base {
	struct enf_ctx *c;
	u32 start;
	u32 n;
};

static long enf_slash_cb(u64 i, void *ctx)
{
	struct enf_base *b = ctx;
	if (b->c->s[0][i & (ENF_STR - 1)] == '/')
		b->start = i + 1;
	return 0;
}

static long enf_copy_cb(u64 i, void *ctx)
{
	struct enf_base *b = ctx;
	u32 k = b->start + (u32)i;
	if (k >= b->n)
		return 1;
	b->c->s[2][i & 15] = b->c->s[0][k & (ENF_STR - 1)];
	b->c->slen[2] = (u32)i + 1;
	return 0;
}

/* slot 2 of an execve: the basename of the path (slot 0), at most 15 bytes as the kernel's comm */
static __always_inline void enf_exec_name(struct enf_ctx *c)
{
	if (c->faults & 1) {
		c->faults |= 4;
		return;
	}
	struct enf_base b = {.c = c, .n = c->slen[0]};
	bpf_loop(b.n, enf_slash_cb, &b, 0);
	c->slen[2] = 0;
	__builtin_memset(c->s[2], 0, 16);
	bpf_loop(15, enf_copy_cb, &b, 0);
	c->s[2][c->slen[2] & 15] = 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(enforce_enter, struct pt_regs *regs, long id)
{
	u32 nr = (u32)id;
	if (nr >= NSYSCALLS)
		return 0;
	u32 nr32 = 0xffffffff;
	bool c32 = in_ia32();
	bool sc = false; /* socketcall(SYS_CONNECT, args): the arguments are sc_a */
	unsigned long sc_a[2] = {};
	if (c32) {
		nr32 = nr;
		if (nr32 == IA32_SOCKETCALL) {
			/* only connect (call 3) is enforced; its fd and address come from the user's
			 * u32[3] {fd, addr, len}, read here (not from the dispatcher's stash: the two
			 * programs run in no set order). An unreadable array leaves no address: no
			 * clause on the destination matches. */
			if ((u32)BPF_CORE_READ(regs, bx) != 3)
				return 0;
			u32 v[3] = {};
			unsigned long p = (u32)BPF_CORE_READ(regs, cx);
			if (p && bpf_probe_read_user(v, sizeof(v), (void *)p) == 0) {
				sc_a[0] = v[0];
				sc_a[1] = v[1];
			}
			sc = true;
			nr = NR64_CONNECT;
		} else {
			u32 *to = bpf_map_lookup_elem(&ia32_to_64, &nr32);
			nr = to ? *to : NSYSCALLS;
		}
		if (nr >= NSYSCALLS)
			return 0;
	}
	struct enf_sys *sys = bpf_map_lookup_elem(&enf_index, &nr);
	if (!sys || !sys->n)
		return 0;

	u64 pt = bpf_get_current_pid_tgid();
	u32 tgid = pt >> 32;
	if (tgid <= 1 || tgid == exclude_tgid || bpf_map_lookup_elem(&enf_protect, &tgid)) {
		enf_stat(ES_SPARED);
		return 0;
	}
	u32 zero = 0;
	struct enf_ctx *c = bpf_map_lookup_elem(&enf_scratch, &zero);
	if (!c)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	c->faults = 0;
	c->nanc = 0;
	enf_kcomm(c, 2, t);
	if (enf_runtime_comm(c->s[2]) || bpf_map_lookup_elem(&enf_allow_comm, c->s[2])) {
		enf_stat(ES_SPARED);
		return 0;
	}

	u32 need = sys->need;
	unsigned long a0, a1;
	if (sc) {
		a0 = sc_a[0];
		a1 = sc_a[1];
	} else if (c32) {
		a0 = (u32)BPF_CORE_READ(regs, bx);
		a1 = (u32)BPF_CORE_READ(regs, cx);
	} else {
		a0 = BPF_CORE_READ(regs, di);
		a1 = BPF_CORE_READ(regs, si);
	}
	if (need & EN_PATH) {
		unsigned long p = sys->path_arg == EP_ARG1 ? a1 : sys->path_arg == EP_ARG0 ? a0 : 0;
		enf_ustr(c, 0, p);
	}
	if (need & EN_EXEC) {
		if (!(c->faults & 1) && bpf_map_lookup_elem(&enf_allow_exe, c->s[0])) {
			enf_stat(ES_SPARED);
			return 0;
		}
		enf_exec_name(c);
		if (!(c->faults & 4) && bpf_map_lookup_elem(&enf_allow_comm, c->s[2])) {
			enf_stat(ES_SPARED);
			return 0;
		}
	}
	if (need & EN_EXE) {
		if (need & EN_EXEC) {
			/* argv[0] of the new program */
			unsigned long argv = a1;
			unsigned long p = argv ? read_uptr(argv, c32 ? 4 : 8) : 0;
			enf_ustr(c, 1, p);
		} else {
			enf_ustr(c, 1, BPF_CORE_READ(t, mm, arg_start));
		}
	}
	if (need & EN_ANC) {
		struct task_struct *p = BPF_CORE_READ(t, real_parent);
		for (u32 i = 0; i < ENF_ANC; i++) {
			if (!p)
				break;
			u32 ptgid = BPF_CORE_READ(p, tgid);
			if (ptgid == 0)
				break;
			enf_kcomm(c, 3 + i, p);
			c->nanc = i + 1;
			if (ptgid == 1)
				break;
			p = BPF_CORE_READ(p, real_parent);
		}
	}
	if (need & EN_UID)
		c->uid = BPF_CORE_READ(t, cred, euid.val);
	if (need & EN_CONT) {
		struct pid *tp = BPF_CORE_READ(t, thread_pid);
		c->container = tp && BPF_CORE_READ(tp, level) > 0 ? 1 : 0;
	}
	if (need & EN_SOCK) {
		u8 sa[24] = {};
		c->has_port = 0;
		c->has_ip4 = 0;
		if (a1 && bpf_probe_read_user(sa, sizeof(sa), (void *)a1) == 0) {
			u16 fam = *(u16 *)&sa[0];
			if (fam == L_AF_INET || fam == L_AF_INET6) {
				c->has_port = 1;
				c->rport = bpf_ntohs(*(u16 *)&sa[2]);
			}
			if (fam == L_AF_INET) {
				c->has_ip4 = 1;
				c->rip4 = bpf_ntohl(*(u32 *)&sa[4]);
			}
		}
	}

	struct enf_walk w = {.c = c, .sys = sys, .rule = -1};
	u32 n = sys->n;
	if (n > ENF_MAX_PER_SYS)
		n = ENF_MAX_PER_SYS;
	bpf_loop(n, enf_clause_cb, &w, 0);
	if (w.rule < 0) {
		if (w.faulted)
			enf_stat(ES_FAULTS);
		return 0;
	}

	struct enf_conf *conf = bpf_map_lookup_elem(&enf_conf, &zero);
	u8 dry = conf && conf->dry_run;
	if (!dry) {
		if (bpf_send_signal(9) == 0)
			enf_stat(ES_KILLED);
		else
			enf_stat(ES_SIGFAIL);
	}
	enf_stat(ES_MATCHED);
	u32 rk = (u32)w.rule;
	u64 *kc = bpf_map_lookup_elem(&enf_kills, &rk);
	if (kc)
		*kc += 1;

	struct enf_event *e = bpf_map_lookup_elem(&enf_evscratch, &zero);
	if (!e)
		return 0;
	e->ts = bpf_ktime_get_boot_ns() + boot_offset_ns;
	e->pid = (u32)pt;
	e->tgid = tgid;
	e->rule = rk;
	e->nr = nr;
	e->nr32 = nr32;
	e->dry_run = dry;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), &t->comm);
	e->path[0] = 0;
	e->exe[0] = 0;
	if ((need & EN_PATH) && !(c->faults & 1))
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), c->s[0]);
	if ((need & EN_EXE) && !(c->faults & 2))
		bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), c->s[1]);
	else
		bpf_probe_read_user_str(e->exe, sizeof(e->exe), (void *)BPF_CORE_READ(t, mm, arg_start));
	if (bpf_ringbuf_output(&enf_events, e, sizeof(*e), 0) < 0)
		enf_stat(ES_EVLOST);
	return 0;
}

#endif
