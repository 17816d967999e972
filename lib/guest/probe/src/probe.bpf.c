// SPDX-License-Identifier: GPL-2.0
/*
 * ktstr's auto-repro probes: one generic tracing program, loaded once per
 * target (a kernel function or a BPF program) and told by its attach
 * cookie which target it is. What to read of the arguments comes from the
 * targets map, which the loader fills from the kernel's BTF: for each field
 * the argument, a path of pointer hops and the size to read. Events go to
 * a per-CPU ring of the last nslots events; the trigger (the sched_ext
 * exit claim) stops recording and keeps its own event, so the rings hold
 * the last events before the failure when the loader flushes them.
 *
 * No kernel headers: every offset is the loader's, from BTF.
 */
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>

#define MAX_FIELDS 8
#define MAX_PATH 3
#define STR_LEN 16

struct field {
	__u8 arg;	/* argument index */
	__u8 depth;	/* 0: the argument; n: n-1 pointer hops at off[0..n-2], then read at off[n-1] */
	__u8 size;	/* 1, 2, 4, 8 bytes, or STR_LEN: a string into event.str */
	__u8 pad;
	__u16 off[MAX_PATH + 1];	/* one spare: the last index is masked, not branched */
};

struct target {
	__u32 nfields;
	__u32 pad;
	struct field f[MAX_FIELDS];
};

struct event {
	__u64 ts;
	__u32 id;	/* target id (the cookie) */
	__u32 exit;	/* 1: fexit, 2: the trigger */
	__u32 pid;
	__u32 cpu;
	__u32 ok;	/* bit i: val[i] was read (no NULL pointer on its path) */
	__u32 pad;
	char comm[16];
	__u64 ret;
	__u64 val[MAX_FIELDS];
	char str[STR_LEN];
};

struct state {
	__u32 nslots;	/* events kept per CPU */
	__u32 stopped;	/* set by the trigger */
	__u32 fired;
	__u32 printk;	/* also write each event to the trace buffer (panic) */
	__u64 lost;	/* events that overwrote an older one */
	struct event trigger;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct target);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct event);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} head SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct state);
} state SEC(".maps");

static const char fmt[] = "ktstr-probe %u %u %u %llx %llx %llx %llx %llx %llx %llx %llx %llx";

/* regs is NULL for fentry/fexit (arguments by bpf_get_func_arg), else a
 * kprobe's argument registers, copied out of its context (the verifier
 * allows only constant offsets into it). */
static __always_inline __u64 read_field(void *ctx, const __u64 *regs, struct field *f, char *str, int *ok)
{
	__u64 v = 0, x = 0;
	__u32 depth = f->depth, size = f->size;

	*ok = 0;
	if (regs) {
		if (f->arg >= 6)
			return 0;
		v = regs[f->arg];
	} else if (bpf_get_func_arg(ctx, f->arg, &v)) {
		return 0;
	}
	*ok = 1;
	if (depth == 0)
		return v;
	*ok = 0;
	for (int d = 0; d < MAX_PATH - 1; d++) {
		if (d + 1 >= depth)
			break;
		if (!v || bpf_probe_read_kernel(&v, sizeof(v), (void *)(v + f->off[d])))
			return 0;
	}
	if (!v || depth > MAX_PATH)
		return 0;
	*ok = 1;
	v += f->off[(depth - 1) & 3];
	if (size == STR_LEN) {
		bpf_probe_read_kernel_str(str, STR_LEN, (void *)v);
		return 0;
	}
	/* Constant sizes only: the verifier checks each read's bounds. */
	switch (size) {
	case 1: {
		__u8 b = 0;

		bpf_probe_read_kernel(&b, 1, (void *)v);
		return b;
	}
	case 2: {
		__u16 w = 0;

		bpf_probe_read_kernel(&w, 2, (void *)v);
		return w;
	}
	case 4: {
		__u32 d = 0;

		bpf_probe_read_kernel(&d, 4, (void *)v);
		return d;
	}
	}
	bpf_probe_read_kernel(&x, 8, (void *)v);
	return x;
}

static __always_inline int record(void *ctx, const __u64 *regs, __u32 kind)
{
	__u32 zero = 0, id, slot;
	struct state *st;
	struct target *t;
	struct event *e;
	__u64 *h;

	st = bpf_map_lookup_elem(&state, &zero);
	if (!st || (st->stopped && kind != 2) || (kind == 2 && st->fired))
		return 0;
	id = bpf_get_attach_cookie(ctx);
	t = bpf_map_lookup_elem(&targets, &id);
	h = bpf_map_lookup_elem(&head, &zero);
	if (!t || !h || !st->nslots)
		return 0;
	slot = *h % st->nslots;
	if (*h >= st->nslots)
		__sync_fetch_and_add(&st->lost, 1);
	*h += 1;
	e = bpf_map_lookup_elem(&ring, &slot);
	if (!e)
		return 0;
	e->ts = bpf_ktime_get_ns();
	e->id = id;
	e->exit = kind;
	e->pid = bpf_get_current_pid_tgid();
	e->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->ret = 0;
	if (kind == 1 && !regs)
		bpf_get_func_ret(ctx, &e->ret);
	e->str[0] = 0;
	e->ok = 0;
	for (int i = 0; i < MAX_FIELDS; i++) {
		int ok;

		if (i >= t->nfields)
			break;
		e->val[i] = read_field(ctx, regs, &t->f[i], e->str, &ok);
		if (ok)
			e->ok |= 1 << i;
	}
	if (kind == 2) {
		st->trigger = *e;
		st->fired = 1;
		st->stopped = 1;
	}
	if (st->printk) {
		__u64 data[12] = {e->id, e->exit, e->pid, e->val[0], e->val[1], e->val[2], e->val[3],
				  e->val[4], e->val[5], e->val[6], e->val[7], e->ret};

		bpf_trace_vprintk(fmt, sizeof(fmt), data, sizeof(data));
	}
	return 0;
}

SEC("fentry/ktstr_probe_target")
int probe_entry(void *ctx)
{
	return record(ctx, 0, 0);
}

SEC("fexit/ktstr_probe_target")
int probe_exit(void *ctx)
{
	return record(ctx, 0, 1);
}

SEC("fentry/ktstr_probe_target")
int probe_trigger(void *ctx)
{
	return record(ctx, 0, 2);
}

/* The fallback for a kernel function fentry cannot attach to. */
SEC("kprobe/ktstr_probe_target")
int probe_kprobe(struct pt_regs *ctx)
{
	/* x86_64 calling convention */
	__u64 regs[6] = {ctx->rdi, ctx->rsi, ctx->rdx, ctx->rcx, ctx->r8, ctx->r9};

	return record(ctx, regs, 0);
}

char _license[] SEC("license") = "GPL";
