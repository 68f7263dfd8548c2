// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Network isolation of quarantined workloads: cgroup sock_addr programs on the cgroup v2 root
// (where every task is, also on hybrid hosts whose containers live in v1 hierarchies) refuse
// connect() and unconnected sendmsg() (EPERM) of a socket whose network namespace (its
// cookie) or whose calling process (tgid) is quarantined. Loopback destinations stay allowed.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   // network namespace cookie
	__type(value, __u32); // 1
} quarantine_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);   // tgid
	__type(value, __u32); // 1
} quarantine_pid SEC(".maps");

// denied[0]: connect/sendmsg calls refused
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} denied SEC(".maps");

static __always_inline int quarantined(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_netns_cookie(ctx);
	if (bpf_map_lookup_elem(&quarantine_netns, &cookie))
		return 1;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&quarantine_pid, &tgid))
		return 1;
	return 0;
}

static __always_inline int deny(void)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&denied, &k);
	if (n)
		(*n)++;
	return 0; // the syscall fails with EPERM
}

static __always_inline int loopback4(__u32 ip_be)
{
	return (bpf_ntohl(ip_be) >> 24) == 127;
}

static __always_inline int loopback6(struct bpf_sock_addr *ctx)
{
	__u32 a = ctx->user_ip6[0], b = ctx->user_ip6[1], c = ctx->user_ip6[2], d = ctx->user_ip6[3];
	if (a != 0 || b != 0)
		return 0;
	if (c == 0 && d == bpf_htonl(1))
		return 1; // ::1
	if (c == bpf_htonl(0xffff) && loopback4(d))
		return 1; // ::ffff:127.x.y.z
	return 0;
}

static __always_inline int check4(struct bpf_sock_addr *ctx)
{
	if (loopback4(ctx->user_ip4))
		return 1;
	return quarantined(ctx) ? deny() : 1;
}

static __always_inline int check6(struct bpf_sock_addr *ctx)
{
	if (loopback6(ctx))
		return 1;
	return quarantined(ctx) ? deny() : 1;
}

SEC("cgroup/connect4")
int saker_connect4(struct bpf_sock_addr *ctx) { return check4(ctx); }

SEC("cgroup/connect6")
int saker_connect6(struct bpf_sock_addr *ctx) { return check6(ctx); }

SEC("cgroup/sendmsg4")
int saker_sendmsg4(struct bpf_sock_addr *ctx) { return check4(ctx); }

SEC("cgroup/sendmsg6")
int saker_sendmsg6(struct bpf_sock_addr *ctx) { return check6(ctx); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
