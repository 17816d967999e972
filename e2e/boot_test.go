package e2e

import (
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestPipelineTopology1242 is the canonical pipeline: the guest must see 16
// CPUs, LLCs 0-7 and 8-15 and SMT pairs.
func TestPipelineTopology1242(t *testing.T) {
	e2e(t)
	r := sh(t, "ktstr-topo 1,2,4,2 | ktstr-boot --kernel "+kernelSpec()+" | ktstr-verify", "")
	if r.code != 0 {
		t.Fatalf("pipeline exit %d", r.code)
	}
	v := onlyVerdict(t, r.stdout)
	wantPass(t, v)
	if len(v.Checks) < 6 {
		t.Fatalf("verdict %+v", v)
	}
	if !strings.Contains(r.stderr, "1 pass, 0 fail") {
		t.Errorf("summary missing from stderr")
	}
	// The run record itself, from the same pipeline without verify.
	run := onlyRun(t, sh(t, "ktstr-topo 1,2,4,2 | ktstr-boot --kernel "+kernelSpec(), "").stdout)
	o := run.ObservedTopology
	if o == nil || o.CPUs != 16 || o.LLCGroups[0].CPUs != "0-7" || o.LLCGroups[1].CPUs != "8-15" || o.SMTGroups[0] != "0-1" || o.SMTGroups[7] != "14-15" {
		t.Fatalf("observed topology %+v", o)
	}
	if run.Host.Accel != "tcg" && run.Host.Accel != "kvm" {
		t.Errorf("accel %q", run.Host.Accel)
	}
	if run.Host.Accel == "tcg" && run.Host.TCGThreads != "multi" {
		t.Errorf("a minimal-profile kernel must run under multi-threaded TCG, got %q (%s)", run.Host.TCGThreads, run.Host.TCGThreadsReason)
	}
	if run.Guest == nil || run.Guest.SchedExtState == "" || run.Guest.HZ == 0 {
		t.Errorf("guest info %+v", run.Guest)
	}
	if len(run.VCPUs) != 16 {
		t.Errorf("host-side vCPU accounting covers %d vCPUs, want 16", len(run.VCPUs))
	}
}

// TestPipelineTwoNodes checks NUMA nodes, their distances and four LLCs.
func TestPipelineTwoNodes(t *testing.T) {
	e2e(t)
	r, runs := bootVerify(t, "ktstr-topo --distance 21 2,4,2,1 | ktstr-boot --kernel "+kernelSpec(), "")
	wantRuns(t, runs, 1)
	wantPass(t, onlyVerdict(t, r.stdout))
	if r.code != 0 {
		t.Fatalf("pipeline exit %d", r.code)
	}
	run := runs[0]
	o := run.ObservedTopology
	if o.NUMANodes != 2 || o.Nodes[0].CPUs != "0-3" || o.Nodes[1].CPUs != "4-7" || len(o.LLCGroups) != 4 {
		t.Fatalf("observed %+v", o)
	}
	if fmt.Sprint(o.Distances) != "[[10 21] [21 10]]" {
		t.Errorf("distances %v", o.Distances)
	}
}

// TestPresetsUpTo16CPUs boots every preset of at most 16 CPUs, two at a time.
func TestPresetsUpTo16CPUs(t *testing.T) {
	e2e(t)
	r := sh(t, "ktstr-topo --presets --max-cpus 16 | ktstr-boot -j 2 --kernel "+kernelSpec()+" | ktstr-verify", "")
	if r.code != 0 {
		t.Fatalf("pipeline exit %d", r.code)
	}
	// The presets with ≤ 16 CPUs.
	for _, l := range exactly(t, r.stdout, record.KindVerdict, 8) {
		wantPass(t, decodeVerdict(t, l))
	}
}

// TestKernelPanic: a guest that panics is reported as kernel_panic with the
// console tail, fails verification, and leaves nothing behind.
func TestKernelPanic(t *testing.T) {
	e2e(t)
	r, runs := bootVerify(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,2,1 --exec 'echo c > /proc/sysrq-trigger'", "")
	wantRuns(t, runs, 1)
	if v := onlyVerdict(t, r.stdout); v.Status != record.StatusFail {
		t.Errorf("verdict %s, want fail", v.Status)
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	run := runs[0]
	if run.Outcome != record.OutcomeKernelPanic || !strings.Contains(run.Reason, "sysrq triggered crash") {
		t.Errorf("outcome %s reason %q", run.Outcome, run.Reason)
	}
	if len(run.ConsoleTail) == 0 || !strings.Contains(strings.Join(run.ConsoleTail, "\n"), "Kernel panic") {
		t.Errorf("console tail does not show the panic: %q", run.ConsoleTail)
	}
	if !strings.Contains(r.stderr, "FAIL") || !strings.Contains(r.stderr, "Kernel panic - not syncing") {
		t.Errorf("the user-facing table does not name the panic")
	}
}

// TestTimeout: a guest that hangs is killed at the timeout.
func TestTimeout(t *testing.T) {
	e2e(t)
	r := sh(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,1,1 --exec 'sleep 1000' --timeout 30", "")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	run := onlyRun(t, r.stdout)
	if run.Outcome != record.OutcomeTimeout || !strings.Contains(run.Reason, "30s timeout") {
		t.Errorf("outcome %s reason %q", run.Outcome, run.Reason)
	}
	if math.Abs(run.Timings.WallS-30) > 3 {
		t.Errorf("killed after %.1fs, want about 30s", run.Timings.WallS)
	}
	if !strings.Contains(r.stderr, "timeout in") {
		t.Errorf("stderr does not report the timeout")
	}
}

// TestSIGINTMidBoot: SIGINT while a VM boots stops everything cleanly.
// --no-snapshot: a restored guest would be past its boot by then.
func TestSIGINTMidBoot(t *testing.T) {
	e2e(t)
	cmd, out, errb := startSh(t, "exec ktstr-boot --no-snapshot --kernel "+kernelSpec()+" --topology 1,2,2,1 --exec 'sleep 1000'")
	time.Sleep(2 * time.Second) // QEMU is up, the guest is booting
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	took := time.Since(sent)
	t.Logf("stdout: %s\nstderr: %s", out, errb)
	code := cmd.ProcessState.ExitCode()
	if code != 130 {
		t.Errorf("exit %d (%v), want 130", code, err)
	}
	if took > 10*time.Second {
		t.Errorf("took %s to stop after SIGINT", took)
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("no interruption message on stderr")
	}
	// The VM that was killed is still reported, as interrupted.
	runs := records(t, out.String())[record.KindRun]
	if len(runs) != 1 || decodeRun(t, runs[0]).Outcome != record.OutcomeInterrupted {
		t.Errorf("want one interrupted run record, got %q", out)
	}
}

// TestMalformedStdin: a broken line becomes an error record; the other
// records still boot.
func TestMalformedStdin(t *testing.T) {
	e2e(t)
	in := sh(t, "ktstr-topo 1,1,1,1 1,1,2,1", "").stdout
	lines := strings.SplitN(strings.TrimSpace(in), "\n", 2)
	stdin := lines[0] + "\n{\"kind\":\"topology\",\"v\":1,\"name\":\n" + lines[1] + "\n"
	r := sh(t, "ktstr-boot -j 2 --kernel "+kernelSpec()+" | ktstr-verify", stdin)
	if r.code != 2 && r.code != 1 {
		t.Errorf("exit %d, want a failure", r.code)
	}
	recs := records(t, r.stdout)
	if len(recs[record.KindVerdict]) != 3 {
		t.Fatalf("%d verdicts, want 3 (2 runs + the bad line)", len(recs[record.KindVerdict]))
	}
	pass, errs := 0, 0
	for _, l := range recs[record.KindVerdict] {
		switch v := decodeVerdict(t, l); v.Status {
		case record.StatusPass:
			pass++
		case record.StatusError:
			errs++
			if !strings.Contains(v.Subject, "line 2") {
				t.Errorf("error verdict does not name line 2: %+v", v)
			}
		}
	}
	if pass != 2 || errs != 1 {
		t.Errorf("%d pass, %d error; want 2 and 1", pass, errs)
	}
}

// TestSchedulerEnableDisable20Boots: 20 boots of 1,2,2,1, each enabling
// scx_simple and disabling it again: no kernel panic (sched_ext flips static
// keys; a false panic caused by the emulator would be a defect).
func TestSchedulerEnableDisable20Boots(t *testing.T) {
	e2e(t)
	k := sh(t, "ktstr-kernel resolve "+kernelSpec(), "")
	var kr record.Kernel
	if err := record.Unmarshal([]byte(strings.TrimSpace(k.stdout)), &kr); err != nil {
		t.Fatal(err)
	}
	simple := kr.Schedulers["scx_simple"]
	if simple == "" {
		t.Fatalf("kernel has no scx_simple: %+v", kr)
	}
	script := `/include/scx_simple >/tmp/s.log 2>&1 & p=$!
for i in $(seq 100); do [ "$(cat /sys/kernel/sched_ext/state)" = enabled ] && break; sleep 0.1; done
echo "on: $(cat /sys/kernel/sched_ext/state) $(cat /sys/kernel/sched_ext/root/ops)"
sleep 1; kill -INT $p; wait $p
for i in $(seq 50); do [ "$(cat /sys/kernel/sched_ext/state)" = disabled ] && break; sleep 0.1; done
echo "off: $(cat /sys/kernel/sched_ext/state)"`
	jobs := strings.Repeat("1,2,2,1\n", 20)
	r := sh(t, fmt.Sprintf("ktstr-topo | ktstr-boot -j 2 --kernel %s --include %s --exec '%s'", kernelSpec(), simple, strings.ReplaceAll(script, "'", `'\''`)), jobs)
	for _, l := range exactly(t, r.stdout, record.KindRun, 20) {
		run := decodeRun(t, l)
		if run.Outcome != record.OutcomeCompleted {
			t.Errorf("%s: %s: %s\n%s", run.ID, run.Outcome, run.Reason, strings.Join(run.ConsoleTail, "\n"))
			continue
		}
		if !strings.Contains(run.Exec.Stdout, "on: enabled simple") || !strings.Contains(run.Exec.Stdout, "off: disabled") {
			t.Errorf("%s: scheduler did not attach and detach: %q %q", run.ID, run.Exec.Stdout, run.Exec.Stderr)
		}
	}
}

// TestStaticKeyTogglesUnderMTTCG: with 4 busy vCPUs, toggling a static key
// (kernel.sched_schedstats) 300 times never crashes a minimal-profile kernel
// under multi-threaded TCG.
func TestStaticKeyTogglesUnderMTTCG(t *testing.T) {
	e2e(t)
	script := `for i in 1 2 3 4; do (while :; do :; done) & done
for i in $(seq 300); do echo 0 > /proc/sys/kernel/sched_schedstats; echo 1 > /proc/sys/kernel/sched_schedstats; done
echo toggled 300`
	r := sh(t, fmt.Sprintf("ktstr-boot --accel tcg --kernel %s --topology 1,1,4,1 --exec '%s'", kernelSpec(), script), "")
	run := onlyRun(t, r.stdout)
	if run.Host.TCGThreads != "multi" {
		t.Fatalf("ran with thread=%s, the test needs multi-threaded TCG", run.Host.TCGThreads)
	}
	if run.Outcome != record.OutcomeCompleted || !strings.Contains(run.Exec.Stdout, "toggled 300") {
		t.Fatalf("%s: %s\n%s", run.Outcome, run.Reason, strings.Join(run.ConsoleTail, "\n"))
	}
}
