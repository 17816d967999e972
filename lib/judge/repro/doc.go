// Package repro is ktstr's auto-repro: it turns a failed run into a rerun of
// exactly the same job with probes on the failure's call chain, and turns
// the rerun into a report.
//
// Derive reads one run record (and its verdict, if there is one): a run that
// failed with scheduler_died, kernel_panic or a stall/starvation check gets a
// repro job — the run's own job (the job record is exactly what ran: kernel,
// topology, memory, the scheduler's binary and full argv including its flag
// profile's arguments, scenario, duration, workers, thresholds) plus Probes
// and ReproOf — or a skip with the reason it cannot be rerun. A passing run
// needs nothing.
//
// Targets picks the probe chain from the failure: the functions of the
// sched_ext exit backtrace (the debug dump's "Backtrace:"), of the panic
// console's call trace and of the scheduler's own output, filtered by a skip
// list of scheduling and dump plumbing; each BPF operation of the scheduler
// bridged to the kernel function that calls it; the sched_ext core paths when
// nothing else is left.
//
// Report judges a rerun against its origin: whether it failed the same way
// (Reproduced) and for the same reason, numbers aside (ReasonMatched), with
// the probe chain and the event timeline.
package repro
