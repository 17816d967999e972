package repro

import (
	"regexp"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// MaxFunctions bounds the kernel functions of a chain: every probe is a
// trampoline patched into kernel text and a program the guest's verifier
// checks under single-threaded TCG.
const MaxFunctions = 12

// frame matches one stack frame of a backtrace, a call trace or a debug
// dump: an optional "[<address>]" and "? " (an unreliable frame), the
// function, its offset and size. Module suffixes ("[mod]") are allowed.
var frame = regexp.MustCompile(`^\s*(?:\[<?[0-9a-fA-F]+>?\]\s*)?(\?\s+)?([A-Za-z_][A-Za-z0-9_.$]*)\+(0x[0-9a-fA-F]+)/0x[0-9a-fA-F]+(?:\s+\[[^\]]+\])?\s*$`)

// bpfProg is a BPF program's kernel symbol: bpf_prog_<tag>_<name>.
var bpfProg = regexp.MustCompile(`^bpf_prog_[0-9a-f]{16}_(.+)$`)

// skipPrefixes and skipNames are frames of scheduling, syscall, interrupt,
// dump and exit plumbing: on every path, so probing them says nothing about
// this failure (and tracing some of them is refused or recurses).
var skipNames = map[string]bool{
	"schedule": true, "__schedule": true, "schedule_idle": true, "do_syscall_64": true,
	"__sys_bpf": true, "__x64_sys_bpf": true, "__x64_sys_sched_yield": true, "do_sched_yield": true,
	"scx_vexit": true, "scx_bpf_exit_bstr": true, "scx_exit": true, "scx_exit_reason": true,
	"scx_ops_exit_kind": true, "scx_bpf_error_bstr": true, "scx_claim_exit": true,
	"show_stack": true, "panic": true, "vpanic": true, "kthread": true, "ret_from_fork": true,
	"ret_from_fork_asm": true, "cpu_startup_entry": true, "do_idle": true, "default_idle": true,
	"default_idle_call": true, "common_startup_64": true, "start_secondary": true,
	"worker_thread": true, "process_one_work": true, "kthread_worker_fn": true,
}

var skipPrefixes = []string{
	"preempt_schedule", "scx_dump_", "dump_stack", "stack_trace_", "_raw_spin_", "raw_spin_",
	"asm_", "entry_", "sysvec_", "__sysvec_", "irq_", "__irq_", "ct_", "pv_native_", "native_",
	"__hrtimer_", "hrtimer_interrupt", "tick_", "update_process_times", "bpf_prog_", "bpf_trampoline_",
	"__bpf_prog_", "bpf__", "__traceiter_", "trace_", "__x64_sys_", "x64_sys_call", "clear_bss", "reserve_bios",
	"do_one_initcall", "kernel_init", "rcu_", "__bstr_format", "bstr_printf", "vscnprintf", "sched_clock", "local_clock",
	"irqentry_", "syscall_exit_", "exit_to_user_mode", "__bpf_",
}

// Skipped reports whether a function is plumbing that a chain leaves out.
func Skipped(fn string) bool {
	if skipNames[fn] || strings.Contains(fn, ".cold") {
		return true
	}
	for _, p := range skipPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// Frames returns the function names of the stack frames in text, innermost
// first as printed, without duplicates. Unreliable frames ("? fn") are left
// out when there is any reliable one; frames at offset 0 (a function's
// address left on the stack, not a return address into it) always are. A
// BPF program's symbol becomes its short name.
func Frames(text string) []string {
	fns, _ := frames(text)
	return fns
}

// BPFFrames returns the short names of the BPF programs among text's
// frames.
func BPFFrames(text string) []string {
	_, progs := frames(text)
	return progs
}

func frames(text string) (fns, progs []string) {
	lines := strings.Split(text, "\n")
	fns, progs = pick(lines, false)
	if len(fns) == 0 {
		// A kernel without a reliable unwinder (the guess unwinder of
		// a minimal config) marks every frame "?": take them then.
		fns, progs = pick(lines, true)
	}
	return fns, progs
}

func pick(lines []string, unreliable bool) (fns, progs []string) {
	for _, line := range lines {
		m := frame.FindStringSubmatch(line)
		if m == nil || (m[1] != "") != unreliable || strings.Trim(m[3][2:], "0") == "" {
			continue
		}
		fn := m[2]
		if b := bpfProg.FindStringSubmatch(fn); b != nil {
			fn = b[1]
			if !slices.Contains(progs, fn) {
				progs = append(progs, fn)
			}
		}
		if !slices.Contains(fns, fn) {
			fns = append(fns, fn)
		}
	}
	return fns, progs
}

// section returns the lines of text from the first line containing start up
// to the first blank line after at least one frame, or to a line
// containing one of the ends.
func section(text, start string, ends ...string) string {
	i := strings.Index(text, start)
	if i < 0 {
		return ""
	}
	lines := strings.Split(text[i+len(start):], "\n")
	var out []string
	for _, l := range lines {
		if strings.TrimSpace(l) == "" && len(out) > 1 {
			break
		}
		for _, e := range ends {
			if strings.Contains(l, e) {
				return strings.Join(out, "\n")
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// consoleTime is the "[    1.234567] " printk prefix of a console line.
var consoleTime = regexp.MustCompile(`^\[\s*[0-9]+\.[0-9]+\]\s?`)

func consoleStrip(l string) string { return consoleTime.ReplaceAllString(l, "") }

// ExitBacktrace returns the sched_ext exit backtrace of a debug dump (the
// frames under "Backtrace:", before the per-CPU states).
func ExitBacktrace(dump string) []string {
	return Frames(section(dump, "Backtrace:", "CPU states"))
}

// CallTrace returns the frames of the first "Call Trace:" in console lines.
func CallTrace(console []string) []string {
	text := make([]string, len(console))
	for i, l := range console {
		text[i] = consoleStrip(l)
	}
	return Frames(section(strings.Join(text, "\n"), "Call Trace:", "</TASK>", "---[ end"))
}

// opCallers bridges a sched_ext operation to the kernel function that calls
// it, where its arguments are visible to a kernel probe.
var opCallers = []struct{ op, fn string }{
	{"select_cpu", "select_task_rq_scx"},
	{"enqueue", "do_enqueue_task"},
	{"dequeue", "dequeue_task_scx"},
	{"dispatch", "balance_scx"},
	{"running", "set_next_task_scx"},
	{"stopping", "put_prev_task_scx"},
	{"tick", "task_tick_scx"},
	{"set_cpumask", "set_cpus_allowed_scx"},
	{"init_task", "scx_ops_init_task"},
	{"enable", "scx_ops_enable_task"},
	{"exit_task", "scx_ops_exit_task"},
}

// OpCaller returns the kernel function that calls the sched_ext operation a
// BPF program implements, judged by the program name's suffix
// ("ktstr_enqueue", "qmap_dispatch"); "" when none is known.
func OpCaller(prog string) string {
	best, fn := 0, ""
	for _, c := range opCallers {
		if (prog == c.op || strings.HasSuffix(prog, "_"+c.op)) && len(c.op) > best {
			best, fn = len(c.op), c.fn
		}
	}
	return fn
}

// CorePaths are the sched_ext core functions a chain falls back on when the
// failure named none: enqueue, dispatch into a DSQ, pick and the switch in
// and out of a task.
var CorePaths = []string{"do_enqueue_task", "dispatch_enqueue", "pick_task_scx", "set_next_task_scx", "put_prev_task_scx"}

// Chain is the probe chain of a failed run: the kernel functions to trace
// and the scheduler's BPF programs.
type Chain struct {
	Functions []string
	BPF       []string
	// Sources says where each function came from ("backtrace",
	// "call_trace", "scheduler_log", "bpf_op", "core").
	Sources map[string]string
}

// Targets derives the probe chain of a failed run.
func Targets(r *record.Run) Chain {
	c := Chain{Sources: map[string]string{}}
	var bpfFrames []string // BPF programs seen in frames: not kernel functions
	add := func(src string, fns ...string) {
		for _, fn := range fns {
			if fn == "" || Skipped(fn) || slices.Contains(c.Functions, fn) || slices.Contains(c.BPF, fn) ||
				slices.Contains(bpfFrames, fn) || len(c.Functions) >= MaxFunctions {
				continue
			}
			c.Functions = append(c.Functions, fn)
			c.Sources[fn] = src
		}
	}
	progs := map[string]bool{}
	if s := r.Scheduler; s != nil {
		for _, p := range s.Programs {
			if p.Type == "" || strings.EqualFold(p.Type, "struct_ops") || strings.EqualFold(p.Type, "StructOps") {
				progs[p.Name] = true
				if !slices.Contains(c.BPF, p.Name) {
					c.BPF = append(c.BPF, p.Name)
				}
			}
		}
		btText := section(s.Dump, "Backtrace:", "CPU states")
		// A BPF program in the backtrace is a scheduler operation: the
		// kernel function that called it comes first. Without the
		// scheduler's program list (a scheduler that died has unloaded
		// its programs before they were listed) c.BPF stays empty: the
		// guest then traces every struct_ops program it loads.
		bpfFrames = append(BPFFrames(btText), BPFFrames(s.Log)...)
		for _, p := range BPFFrames(btText) {
			if len(progs) > 0 && !slices.Contains(c.BPF, p) {
				c.BPF = append(c.BPF, p)
			}
			add("bpf_op", OpCaller(p))
		}
		add("backtrace", Frames(btText)...)
		add("scheduler_log", Frames(s.Log)...)
	}
	add("call_trace", CallTrace(r.ConsoleTail)...)
	for _, p := range c.BPF {
		add("bpf_op", OpCaller(p))
	}
	// Without the scheduler's program list (a scheduler that died has
	// unloaded its programs before they were listed) or any frame, the
	// sched_ext core paths stand in for its operations.
	if len(c.Functions) == 0 || (len(c.BPF) == 0 && r.Job != nil && r.Job.Scheduler != nil) {
		add("core", CorePaths...)
	}
	slices.Sort(c.BPF)
	return c
}
