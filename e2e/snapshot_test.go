package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// snapshotMachine gives a test a machine of its own: a kernel argument no
// other run has makes its snapshot key new, so the test sees the first run
// of that machine whatever the cache holds. Its snapshots are removed when
// the test ends.
func snapshotMachine(t *testing.T) string {
	t.Helper()
	tag := fmt.Sprintf("ktstr.e2e=%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	t.Cleanup(func() {
		dir, err := cachedir.Sub("snapshots")
		if err != nil {
			return
		}
		metas, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, m := range metas {
			if b, err := os.ReadFile(m); err == nil && strings.Contains(string(b), tag) {
				os.RemoveAll(strings.TrimSuffix(m, ".json"))
				os.Remove(m)
			}
		}
		// Partial snapshots of processes that are gone (other processes
		// may be making snapshots of their own right now).
		tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
		for _, tmp := range tmps {
			pid, err := strconv.Atoi(tmp[strings.LastIndexByte(tmp, '-')+1:])
			if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
				t.Errorf("partial snapshot left: %s", tmp)
			}
		}
	})
	return "--kernel-arg " + tag
}

// topologyText is t without its nodes' memory, as text.
func topologyText(t *record.Topology) string {
	c := *t
	c.Nodes = slices.Clone(t.Nodes)
	for i := range c.Nodes {
		c.Nodes[i].MemoryMB = 0
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// snapshotKey is the key of a restored run ("" for a booted one).
func snapshotKey(run *record.Run) string {
	key, _ := strings.CutPrefix(run.Host.Start, "restored ")
	if key == run.Host.Start {
		return ""
	}
	return key
}

// TestSnapshotRestoredMatchesBooted: the same scenario job, booted and
// restored from a snapshot, gives the same verdict and the same observed
// topology; the records say how each guest started.
func TestSnapshotRestoredMatchesBooted(t *testing.T) {
	e2e(t)
	job := "ktstr-boot --kernel " + kernelSpec() + " --topology 1,2,2,1 --scenario cgroup_steady --duration 2 " + snapshotMachine(t)
	rb, booted := bootVerify(t, job+" --no-snapshot", "")
	rr, restored := bootVerify(t, job+" --snapshot-only", "")
	wantRuns(t, booted, 1)
	wantRuns(t, restored, 1)
	b, r := booted[0], restored[0]
	if b.Host.Start != "booted" || snapshotKey(b) != "" {
		t.Errorf("--no-snapshot run: start %q", b.Host.Start)
	}
	if snapshotKey(r) == "" || !strings.Contains(r.Host.StartReason, "snapshot created") {
		t.Errorf("first restored run: start %q, reason %q", r.Host.Start, r.Host.StartReason)
	}
	vb, vr := onlyVerdict(t, rb.stdout), onlyVerdict(t, rr.stdout)
	if vb.Status != vr.Status || vb.Status != record.StatusPass {
		t.Errorf("verdicts: booted %s (%s), restored %s (%s)", vb.Status, notPassed(vb), vr.Status, notPassed(vr))
	}
	if b.ObservedTopology == nil || r.ObservedTopology == nil {
		t.Fatal("a run has no observed topology")
	}
	// All of it but the nodes' memory: a restored guest's is the job's
	// rounded up (host.memory_mb), so that scenarios share snapshots.
	if r.Host.MemoryMB < b.Host.MemoryMB {
		t.Errorf("restored guest memory %d MB, less than the job's %d", r.Host.MemoryMB, b.Host.MemoryMB)
	}
	ob, or := topologyText(b.ObservedTopology), topologyText(r.ObservedTopology)
	if ob != or {
		t.Errorf("observed topology: booted %s, restored %s", ob, or)
	}
	// Samples counts failed reads too.
	if r.Monitor == nil || r.Monitor.Samples <= r.Monitor.ReadErrors {
		t.Errorf("the host-side monitor read nothing of the restored guest: %+v", r.Monitor)
	}
}

// TestSnapshotSiblingsDiffer: two runs restored from one snapshot draw
// different random numbers and boot ids, and read the host's clock, not
// the snapshot's.
func TestSnapshotSiblingsDiffer(t *testing.T) {
	e2e(t)
	const probe = "cat /proc/sys/kernel/random/boot_id; head -c 16 /dev/urandom | od -An -tx1 | tr -d \"[:space:]\"; echo; date +%s; echo $$"
	job := "ktstr-boot --kernel " + kernelSpec() + " --topology 1,1,2,1 --snapshot-only --exec '" + probe + "' " + snapshotMachine(t)
	sh(t, job, "") // creates the snapshot
	// A restored guest whose clock was not set would read the moment of
	// its snapshot: far enough back now to fail the clock check below.
	time.Sleep(4 * time.Second)
	type facts struct{ bootID, random, pid string }
	var got []facts
	var keys, reasons []string
	for range 2 {
		before := time.Now().Unix()
		r := sh(t, job, "")
		after := time.Now().Unix()
		run := onlyRun(t, r.stdout)
		if run.Outcome != record.OutcomeCompleted || run.Exec == nil || run.Exec.ExitCode != 0 {
			t.Fatalf("run: %s %s %+v", run.Outcome, run.Reason, run.Exec)
		}
		keys = append(keys, snapshotKey(run))
		reasons = append(reasons, run.Host.StartReason)
		f := strings.Fields(run.Exec.Stdout)
		if len(f) != 4 {
			t.Fatalf("exec output %q", run.Exec.Stdout)
		}
		// The guest's clock is set from the host's when the job is handed
		// over: without that it would read the moment of the snapshot.
		clock, _ := strconv.ParseInt(f[2], 10, 64)
		if clock < before-2 || clock > after+2 {
			t.Errorf("guest clock %d, host's was %d..%d", clock, before, after)
		}
		got = append(got, facts{f[0], f[1], f[3]})
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("both runs must restore one snapshot: %q", keys)
	}
	if got[0].bootID == got[1].bootID {
		t.Errorf("restored siblings share the boot id %s", got[0].bootID)
	}
	if got[0].random == got[1].random {
		t.Errorf("restored siblings drew the same random bytes %s", got[0].random)
	}
	// Pids differ: the agent moves the next pid to a seed-chosen place
	// (ns_last_pid; the kernels ktstr builds have CONFIG_CHECKPOINT_RESTORE
	// for it). What a guest could not make its own (the clock, the random
	// generator's reseed, the pids) is a "guest:" note in the record; ours
	// must have none.
	for i, why := range reasons {
		if strings.Contains(why, "guest:") {
			t.Errorf("run %d: %q", i, why)
		}
	}
	if got[0].pid == got[1].pid {
		t.Errorf("restored siblings share pid %s", got[0].pid)
	}
	t.Logf("pids %s and %s", got[0].pid, got[1].pid)
}

// TestSnapshotCorruptRebuilt: a snapshot whose stream no longer matches its
// checksum, and one QEMU refuses (its checksum made to match), are
// reported, never restored, and created anew.
func TestSnapshotCorruptRebuilt(t *testing.T) {
	e2e(t)
	job := "ktstr-boot --kernel " + kernelSpec() + " --topology 1,1,1,1 --exec true " + snapshotMachine(t)
	first := onlyRun(t, sh(t, job, "").stdout)
	key := snapshotKey(first)
	if key == "" {
		t.Fatalf("first run not restored: %q %q", first.Host.Start, first.Host.StartReason)
	}
	dir, _ := cachedir.Sub("snapshots")
	stream := filepath.Join(dir, key, "vmstate")

	// A flipped byte: the checksum catches it.
	b, err := os.ReadFile(stream)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	writeFile(t, stream, string(b))
	r := sh(t, job, "")
	run := onlyRun(t, r.stdout)
	if !strings.Contains(r.stderr, "corrupt") || !strings.Contains(run.Host.StartReason, "corrupt") || snapshotKey(run) != key || run.Outcome != record.OutcomeCompleted {
		t.Errorf("flipped byte: outcome %s, start %q, reason %q", run.Outcome, run.Host.Start, run.Host.StartReason)
	}

	// Garbage with a matching checksum: QEMU refuses it.
	writeFile(t, stream, strings.Repeat("not a migration stream\n", 1000))
	fixChecksum(t, dir, key)
	r = sh(t, job, "")
	run = onlyRun(t, r.stdout)
	if !strings.Contains(r.stderr, "refused") || !strings.Contains(run.Host.StartReason, "refused") || snapshotKey(run) != key || run.Outcome != record.OutcomeCompleted {
		t.Errorf("refused stream: outcome %s, start %q, reason %q", run.Outcome, run.Host.Start, run.Host.StartReason)
	}
	if b, err := os.ReadFile(stream); err != nil || strings.Contains(string(b), "not a migration stream") {
		t.Errorf("the refused snapshot was not created anew: %v", err)
	}
}

// fixChecksum rewrites the metadata of key's stream to match the file, as
// if it had been saved so (lib/host/snapshot's sum: CRC-32C over each data
// extent's offset, little-endian, and bytes; a file written whole is one
// extent at 0).
func fixChecksum(t *testing.T, dir, key string) {
	t.Helper()
	r := sh(t, fmt.Sprintf(`python3 - %q %q <<'PY'
import json, sys
d, k = sys.argv[1], sys.argv[2]
data = open(f"{d}/{k}/vmstate", "rb").read()
crc = 0xFFFFFFFF
for b in bytes(8) + data:  # CRC-32C (Castagnoli), bitwise: zlib has only IEEE
    crc ^= b
    for _ in range(8):
        crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
m = json.load(open(f"{d}/{k}.json"))
for f in m["files"]:
    if f["name"] == "vmstate":
        f["size"], f["data"], f["crc32c"] = len(data), len(data), crc ^ 0xFFFFFFFF
json.dump(m, open(f"{d}/{k}.json", "w"))
PY`, dir, key), "")
	if r.code != 0 {
		t.Fatalf("rewrite metadata: %s", r.stderr)
	}
}

// TestSnapshotConcurrentFirstRuns: two ktstr-boot processes starting the
// same new machine at once create one snapshot and both restore it.
func TestSnapshotConcurrentFirstRuns(t *testing.T) {
	e2e(t)
	job := "ktstr-boot --kernel " + kernelSpec() + " --topology 1,1,1,1 --exec true " + snapshotMachine(t)
	var wg sync.WaitGroup
	res := make([]result, 2)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = sh(t, job, "")
		}()
	}
	wg.Wait()
	creations := 0
	var keys []string
	for _, r := range res {
		creations += strings.Count(r.stderr, "creating snapshot")
		run := onlyRun(t, r.stdout)
		if run.Outcome != record.OutcomeCompleted {
			t.Errorf("run %s: %s", run.Outcome, run.Reason)
		}
		keys = append(keys, snapshotKey(run))
	}
	if creations != 1 {
		t.Errorf("%d snapshot creations for one machine, want 1", creations)
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("keys %q: both runs must restore the one snapshot", keys)
	}
}

// TestSIGINTWhileCreatingSnapshot: SIGINT while the first run of a machine
// boots the VM that makes its snapshot stops everything and leaves no
// partial snapshot, guest-RAM file or QEMU behind.
func TestSIGINTWhileCreatingSnapshot(t *testing.T) {
	e2e(t)
	arg := snapshotMachine(t)
	tag := strings.TrimPrefix(arg, "--kernel-arg ")
	cmd, out, errb := startSh(t, "exec ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,2,1 --exec true "+arg)
	pid := cmd.Process.Pid
	dir, err := cachedir.Sub("snapshots")
	if err != nil {
		t.Fatal(err)
	}
	tmpGlob := filepath.Join(dir, fmt.Sprintf(".tmp-*-%d", pid))
	shmGlob := fmt.Sprintf("/dev/shm/ktstr-%d-*", pid)
	// Wait until the snapshot's directory is being written and its VM's
	// RAM file exists. The deadline only bounds a hang.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		tmps, _ := filepath.Glob(tmpGlob)
		shm, _ := filepath.Glob(shmGlob)
		if len(tmps) > 0 && len(shm) > 0 {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("no snapshot creation seen; stderr: %s", errb)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130; stderr: %s", code, errb)
	}
	if !strings.Contains(errb.String(), "creating snapshot") {
		t.Errorf("stderr does not say the snapshot was being created: %s", errb)
	}
	runs := records(t, out.String())[record.KindRun]
	if len(runs) != 1 || decodeRun(t, runs[0]).Outcome != record.OutcomeInterrupted {
		t.Errorf("want one interrupted run record, got %q", out)
	}
	if tmps, _ := filepath.Glob(tmpGlob); len(tmps) > 0 {
		t.Errorf("partial snapshot left: %v", tmps)
	}
	if shm, _ := filepath.Glob(shmGlob); len(shm) > 0 {
		t.Errorf("guest-RAM files left: %v", shm)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), tag) {
			t.Errorf("a process of the interrupted run is left: %s: %q", p, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// TestBootMethodsAgree: the harness's fast cold start (the vmlinux through
// PVH, entered by qboot) and QEMU's plain one (the bzImage under SeaBIOS)
// give the same observed topology and the same verdict on a two-node
// machine, and the records say which was used.
func TestBootMethodsAgree(t *testing.T) {
	e2e(t)
	job := "ktstr-boot --kernel " + kernelSpec() + " --topology 2,2,2,1 --no-snapshot"
	rf, fast := bootVerify(t, job, "")
	rp, plain := bootVerify(t, job+" --boot bzimage --firmware seabios", "")
	wantRuns(t, fast, 1)
	wantRuns(t, plain, 1)
	f, p := fast[0], plain[0]
	if f.Host.Boot != "pvh" || f.Host.Firmware != "qboot" {
		t.Errorf("default cold start: boot %q firmware %q, want pvh and qboot (qboot.rom is installed here)", f.Host.Boot, f.Host.Firmware)
	}
	if p.Host.Boot != "bzimage" || p.Host.Firmware != "seabios" {
		t.Errorf("--boot bzimage --firmware seabios: boot %q firmware %q", p.Host.Boot, p.Host.Firmware)
	}
	if f.ObservedTopology == nil || p.ObservedTopology == nil {
		t.Fatal("a run has no observed topology")
	}
	if a, b := topologyText(f.ObservedTopology), topologyText(p.ObservedTopology); a != b {
		t.Errorf("observed topology: pvh/qboot %s, bzimage/seabios %s", a, b)
	}
	if f.ObservedTopology.NUMANodes != 2 || f.ObservedTopology.CPUs != 4 {
		t.Errorf("observed %d nodes, %d CPUs; want 2 and 4", f.ObservedTopology.NUMANodes, f.ObservedTopology.CPUs)
	}
	vf, vp := onlyVerdict(t, rf.stdout), onlyVerdict(t, rp.stdout)
	if vf.Status != record.StatusPass || vp.Status != record.StatusPass {
		t.Errorf("verdicts: pvh/qboot %s (%s), bzimage/seabios %s (%s)", vf.Status, notPassed(vf), vp.Status, notPassed(vp))
	}
}
