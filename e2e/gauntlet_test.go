package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// sshHost is an sshd the test started on localhost: a "host" for GNU
// parallel's --sshlogin.
type sshHost struct {
	port int
	log  string
}

// startSSHD starts sshd on a free localhost port, accepting only key (the
// test's own public key) for the current user, and stops it when the test
// ends.
func startSSHD(t *testing.T, dir, name, hostKey, authorized string) sshHost {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, name+".conf")
	writeFile(t, conf, fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
`, port, hostKey, authorized, filepath.Join(dir, name+".pid")))
	h := sshHost{port: port, log: filepath.Join(dir, name+".log")}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", conf)
	logf, err := os.Create(h.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		// The sshd's process group: the listener and any session left.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd on port %d did not listen: %s", port, readFile(t, h.log))
		}
	}
}

// TestGauntletOnTwoSSHHostsEqualsALocalRun: a small gauntlet (1,1,2,1 × three
// scenarios: two runs and one skip) run here and run through `scripts/ktstr
// gauntlet --hosts` on two ssh "hosts" (two sshd on localhost, keys made
// here; they share this filesystem, so bin/ and the kernel cache are where
// the jobs say) gives the same verdicts job for job: the same ids, the same
// statuses. Each host runs one of the two runs.
func TestGauntletOnTwoSSHHostsEqualsALocalRun(t *testing.T) {
	e2e(t)
	for _, tool := range []string{"parallel", "/usr/sbin/sshd", "ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: scripts/install-deps.sh installs parallel and openssh-server", tool)
		}
	}
	// sshd's privilege separation directory; the system's sshd is not
	// running here, so nothing else creates it.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd needs /run/sshd: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, hostKey := filepath.Join(dir, "id"), filepath.Join(dir, "host_key")
	for _, k := range []string{key, hostKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	authorized := filepath.Join(dir, "authorized_keys")
	writeFile(t, authorized, readFile(t, key+".pub"))
	os.Chmod(authorized, 0o600)
	a := startSSHD(t, dir, "host-a", hostKey, authorized)
	b := startSSHD(t, dir, "host-b", hostKey, authorized)
	ssh := "ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -i " + key
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, fmt.Sprintf("# two hosts on this machine\n1/%s -p %d %s@127.0.0.1\n1/%s -p %d %s@127.0.0.1\n",
		ssh, a.port, u.Username, ssh, b.port, u.Username))

	gauntlet := driver(t) + " gauntlet --kernel " + kernelSpec() +
		" --topology 1,1,2,1 --scenario sched_batch,cgroup_cpuset_llc_steady,sched_mixed"
	local := sh(t, gauntlet+" --runs "+filepath.Join(dir, "local.ndjson")+" -- --duration 2", "")
	remote := sh(t, gauntlet+" --hosts "+hosts+" --runs "+filepath.Join(dir, "remote.ndjson")+" -- --duration 2", "")
	for name, r := range map[string]result{"local": local, "hosts": remote} {
		if r.code != 0 && r.code != 1 && r.code != 3 {
			t.Fatalf("%s gauntlet: exit %d\n%s", name, r.code, r.stderr)
		}
	}
	want, got := verdictsBySubject(t, local.stdout), verdictsBySubject(t, remote.stdout)
	if len(want) != 3 || want["1n1l2c1t/cgroup_cpuset_llc_steady"] != record.StatusSkip {
		t.Fatalf("local gauntlet: want two runs and a skip, got %v\n%s", want, local.stderr)
	}
	if len(got) != len(want) {
		t.Errorf("merged verdicts %v, local %v", got, want)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("%s: %q through the hosts, %q here\nhosts stderr:\n%s", id, got[id], st, remote.stderr)
		}
	}
	// Every run record came back, each from its own host: the two jobs
	// hash to different shards (of 2), so two ktstr-boot processes ran them
	// (a run id is TIME-PID-SEQ), and each sshd accepted the test's key.
	runs := exactly(t, readFile(t, filepath.Join(dir, "remote.ndjson")), record.KindRun, 2)
	pids := map[string]bool{}
	for _, l := range runs {
		r := decodeRun(t, l)
		if r.Outcome != record.OutcomeCompleted {
			t.Errorf("%s: %s (%s)", r.Job.ID, r.Outcome, r.Reason)
		}
		if f := strings.Split(r.ID, "-"); len(f) == 3 {
			pids[f[1]] = true
		}
	}
	if len(pids) != 2 {
		t.Errorf("the two runs came from %d ktstr-boot processes, want one per host", len(pids))
	}
	for _, h := range []sshHost{a, b} {
		if log := readFile(t, h.log); !strings.Contains(log, "Accepted publickey") {
			t.Errorf("host on port %d ran no shard: %s", h.port, log)
		}
	}
}

// verdictsBySubject maps each verdict's subject (the job id) to its status.
func verdictsBySubject(t *testing.T, out string) map[string]record.Status {
	t.Helper()
	m := map[string]record.Status{}
	for _, l := range records(t, out)[record.KindVerdict] {
		v := decodeVerdict(t, l)
		if _, dup := m[v.Subject]; dup {
			t.Errorf("two verdicts for %s", v.Subject)
		}
		m[v.Subject] = v.Status
	}
	return m
}
