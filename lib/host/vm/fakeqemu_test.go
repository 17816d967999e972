package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// fakeQEMUEnv makes this test binary act as QEMU (fakeQEMU) in the mode
// it names.
const fakeQEMUEnv = "KTSTR_FAKE_QEMU"

// TestMain lets the test binary be QEMU for Run and Save.
func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeQEMUEnv); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeArgs is what fakeQEMU takes from a QEMU command line.
type fakeArgs struct {
	results, channel, qmp string
	ram                   []string
}

func parseFakeArgs(args []string) fakeArgs {
	var a fakeArgs
	for i := 0; i+1 < len(args); i++ {
		v := args[i+1]
		switch args[i] {
		case "-chardev":
			if p, ok := strings.CutPrefix(v, "file,id=results,path="); ok {
				a.results = p
			}
			if p, ok := strings.CutPrefix(v, "socket,id=results,path="); ok {
				a.channel = p
			}
		case "-qmp":
			a.qmp = strings.TrimPrefix(strings.Split(v, ",")[0], "unix:")
		case "-object":
			for _, f := range strings.Split(v, ",") {
				if p, ok := strings.CutPrefix(f, "mem-path="); ok {
					a.ram = append(a.ram, p)
				}
			}
		}
	}
	return a
}

// fakeQEMU stands for QEMU and the guest's agent in one process, by mode:
//
//	done       says hello and done on the result file, some noise on stderr, exits
//	hang       says nothing and never exits
//	done-hang  says done and never exits (a guest that cannot power off)
//	partial    a bad line, then a line cut off, exits 1
//	channel    reads the Start line from the channel socket, says it back as an error, then done
//	save       the agent says ready on the channel; QMP migrates (active, then completed), quit exits
//	save-fail  as save, but the migration fails
//	save-exit  exits before the agent is ready
//	save-error the agent reports an error instead of ready
func fakeQEMU(mode string, args []string) int {
	a := parseFakeArgs(args)
	for _, p := range a.ram { // QEMU creates the guest-RAM files
		os.WriteFile(p, []byte("guest ram"), 0o600)
	}
	write := func(lines ...string) {
		f, _ := os.OpenFile(a.results, os.O_WRONLY|os.O_APPEND, 0)
		defer f.Close()
		for _, l := range lines {
			f.WriteString(l)
		}
	}
	switch mode {
	case "done":
		fmt.Fprintln(os.Stderr, "qemu: warning: TCG doesn't support requested feature: CPUID.01H:ECX.vmx [bit 5]")
		fmt.Fprintln(os.Stderr, "qemu: something real")
		write(`{"type":"hello","t":0.1}`+"\n", `{"type":"done","t":0.2}`+"\n")
		return 0
	case "hang":
		time.Sleep(time.Hour)
	case "done-hang":
		write(`{"type":"done","t":0.1}` + "\n")
		time.Sleep(time.Hour)
	case "partial":
		write("garbage\n", `{"type":"hello","t":0.1}`+"\n", `{"type":"do`)
		return 1
	case "channel":
		conn, err := net.Dial("unix", a.channel)
		if err != nil {
			return 2
		}
		defer conn.Close()
		line, _ := bufio.NewReader(conn).ReadString('\n')
		b, _ := json.Marshal(proto.Message{Type: proto.MsgError, Text: strings.TrimSpace(line)})
		conn.Write(append(b, '\n'))
		conn.Write([]byte(`{"type":"done","t":0.1}` + "\n"))
		return 0
	case "save-exit":
		fmt.Fprintln(os.Stderr, "qemu: cannot boot")
		return 3
	case "save", "save-fail", "save-error":
		return fakeSave(mode, a)
	}
	return 2
}

// fakeSave is a booted guest whose agent waits for a job, and QEMU's
// migration over QMP.
func fakeSave(mode string, a fakeArgs) int {
	ln, err := net.Listen("unix", a.qmp)
	if err != nil {
		return 2
	}
	ch, err := net.Dial("unix", a.channel)
	if err != nil {
		return 2
	}
	defer ch.Close()
	if mode == "save-error" {
		ch.Write([]byte(`{"type":"error","t":0.1,"text":"no job intake"}` + "\n"))
		time.Sleep(time.Hour)
	}
	ch.Write([]byte(`{"type":"ready","t":0.1}` + "\n"))
	conn, err := ln.Accept()
	if err != nil {
		return 2
	}
	conn.Write([]byte(`{"QMP":{}}` + "\n"))
	sc := bufio.NewScanner(conn)
	queries := 0
	for sc.Scan() {
		var req struct {
			Execute   string         `json:"execute"`
			Arguments map[string]any `json:"arguments"`
		}
		json.Unmarshal(sc.Bytes(), &req)
		ret := `{}`
		switch req.Execute {
		case "migrate":
			uri, _ := req.Arguments["uri"].(string)
			path := strings.Trim(strings.TrimPrefix(uri, "exec:cat > "), "'")
			os.WriteFile(path, []byte("migration stream"), 0o644)
		case "query-migrate":
			queries++
			switch {
			case mode == "save-fail":
				ret = `{"status":"failed","error-desc":"disk full"}`
			case queries == 1:
				ret = `{"status":"active"}`
			default:
				ret = `{"status":"completed"}`
			}
		case "quit":
			conn.Write([]byte(`{"return":{}}` + "\n"))
			return 0
		}
		conn.Write([]byte(`{"event":"SOMETHING"}` + "\n" + `{"return":` + ret + "}\n"))
	}
	return 0
}

// fakeMachine is a one-node machine whose files are in a fresh directory
// (short: its sockets' paths must fit sockaddr_un).
func fakeMachine(t *testing.T) *Machine {
	t.Helper()
	dir, err := os.MkdirTemp("", "ktstr-vmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &Machine{Name: "t", Topology: topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 1, ThreadsPerCore: 1}.Record(20),
		MemoryMB: 256, Kernel: "k", Initrd: "i", Accel: AccelTCG, TCGThreads: TCGMulti,
		ConsoleLog: filepath.Join(dir, "console.log"), Results: filepath.Join(dir, "results"), ShmDir: dir}
}

// fakeRun runs m with this binary as QEMU in mode.
func fakeRun(t *testing.T, ctx context.Context, m *Machine, mode string, opts RunOptions) *Result {
	t.Helper()
	t.Setenv(fakeQEMUEnv, mode)
	exe, _ := os.Executable()
	opts.QEMU = exe
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	opts.Period = 10 * time.Millisecond
	res, err := Run(ctx, m, opts)
	if err != nil {
		t.Fatalf("%s: %v", mode, err)
	}
	for _, p := range m.ShmFiles() {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: guest-RAM file %s left: %v", mode, p, err)
		}
	}
	return res
}

// TestRunCollectsWhatTheGuestSaid: messages in order with the agent's
// start and clock, done, QEMU's output without TCG's feature noise, every
// message to OnMessage and the vCPU sampling to OnTick.
func TestRunCollectsWhatTheGuestSaid(t *testing.T) {
	var seen []string
	ticks := 0
	res := fakeRun(t, context.Background(), fakeMachine(t), "done", RunOptions{
		OnMessage: func(m proto.Message) { seen = append(seen, m.Type) },
		OnTick:    func(time.Duration, []record.VCPUUsage) { ticks++ },
	})
	if !res.Done || len(res.Messages) != 2 || res.Messages[0].Type != proto.MsgHello || res.AgentStart <= 0 || res.Wall <= 0 ||
		res.TimedOut || res.Interrupted || res.KilledAfterDone || res.ExitErr != nil || len(res.DecodeErrors) > 0 {
		t.Errorf("result %+v", res)
	}
	if strings.Join(seen, ",") != "hello,done" {
		t.Errorf("OnMessage saw %v", seen)
	}
	if res.QEMUOutput != "qemu: something real" {
		t.Errorf("QEMU output %q", res.QEMUOutput)
	}
	_ = ticks // the fake exits before a tick, or after one: either is right
}

// TestRunBadAndCutLines: a line that is no message is a decode error, a
// last line without its newline is said to be truncated, and QEMU's exit
// status is kept.
func TestRunBadAndCutLines(t *testing.T) {
	res := fakeRun(t, context.Background(), fakeMachine(t), "partial", RunOptions{})
	if len(res.Messages) != 1 || res.Done || res.ExitErr == nil || len(res.DecodeErrors) != 2 ||
		!strings.Contains(res.DecodeErrors[1], "truncated last result line (11 bytes)") {
		t.Errorf("result %+v, decode errors %q", res, res.DecodeErrors)
	}
}

// TestRunKills: the timeout, an interruption, an agent that says nothing
// by AgentTimeout and a guest that does not power off after done each end
// the run, said in the result.
func TestRunKills(t *testing.T) {
	if res := fakeRun(t, context.Background(), fakeMachine(t), "hang", RunOptions{Timeout: 200 * time.Millisecond}); !res.TimedOut || res.Interrupted {
		t.Errorf("timeout: %+v", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if res := fakeRun(t, ctx, fakeMachine(t), "hang", RunOptions{}); !res.Interrupted || res.TimedOut {
		t.Errorf("interrupted: %+v", res)
	}
	if res := fakeRun(t, context.Background(), fakeMachine(t), "hang", RunOptions{AgentTimeout: 200 * time.Millisecond}); !res.AgentSilent || res.TimedOut {
		t.Errorf("agent silent: %+v", res)
	}
	if res := fakeRun(t, context.Background(), fakeMachine(t), "done-hang", RunOptions{PowerOffGrace: 100 * time.Millisecond}); !res.Done || !res.KilledAfterDone {
		t.Errorf("no power-off: %+v", res)
	}
}

// TestRunChannel: with a channel socket, what Send returns reaches the
// guest once QEMU connects, and the guest's messages land in Results.
func TestRunChannel(t *testing.T) {
	m := fakeMachine(t)
	m.Channel = filepath.Join(m.ShmDir, "ch.sock")
	res := fakeRun(t, context.Background(), m, "channel", RunOptions{Send: func() []byte { return []byte(`{"job":"j"}` + "\n") }})
	if !res.Done || len(res.Messages) != 2 || res.Messages[0].Text != `{"job":"j"}` {
		t.Errorf("result %+v", res)
	}
}

// TestRunRestoreCopiesRAM: a restore's guest-RAM files are copied in
// before QEMU starts; a count that does not match the nodes is an error.
func TestRunRestoreCopiesRAM(t *testing.T) {
	m := fakeMachine(t)
	m.IncomingRAM = []string{filepath.Join(m.ShmDir, "a.ram"), filepath.Join(m.ShmDir, "b.ram")}
	t.Setenv(fakeQEMUEnv, "done")
	if _, err := Run(context.Background(), m, RunOptions{QEMU: "/nonexistent", Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "2 guest-RAM files for 1 NUMA nodes") {
		t.Errorf("mismatched RAM files: %v", err)
	}
}

// saveMachine is fakeMachine with what Save needs: a channel and QMP.
func saveMachine(t *testing.T) *Machine {
	m := fakeMachine(t)
	m.Channel, m.QMP, m.SharedRAMSnapshot = filepath.Join(m.ShmDir, "ch.sock"), filepath.Join(m.ShmDir, "qmp.sock"), true
	return m
}

func fakeSaveRun(t *testing.T, m *Machine, mode string) (stream string, err error) {
	t.Helper()
	t.Setenv(fakeQEMUEnv, mode)
	exe, _ := os.Executable()
	stream = filepath.Join(m.ShmDir, "vmstate")
	err = Save(context.Background(), m, stream, SaveOptions{QEMU: exe, Timeout: 20 * time.Second, RAM: []string{filepath.Join(m.ShmDir, "node0.ram")}})
	for _, p := range m.ShmFiles() {
		if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%s: guest-RAM file %s left", mode, p)
		}
	}
	return stream, err
}

// TestSave: the agent says ready, the machine migrates to the stream, its
// RAM is copied beside it, and QEMU quits.
func TestSave(t *testing.T) {
	m := saveMachine(t)
	stream, err := fakeSaveRun(t, m, "save")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(stream); string(b) != "migration stream" {
		t.Errorf("stream %q", b)
	}
	if b, err := os.ReadFile(filepath.Join(m.ShmDir, "node0.ram")); err != nil || !strings.HasPrefix(string(b), "guest ram") {
		t.Errorf("saved RAM %q, %v", b, err)
	}
}

// TestSaveFailures: each way a save fails says why, with what QEMU said.
func TestSaveFailures(t *testing.T) {
	for mode, want := range map[string]string{
		"save-fail":  "save snapshot: migration failed: disk full",
		"save-exit":  "save snapshot: QEMU exited before the agent was ready: exit status 3 (qemu: cannot boot)",
		"save-error": "save snapshot: agent: no job intake",
	} {
		if _, err := fakeSaveRun(t, saveMachine(t), mode); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", mode, err, want)
		}
	}
	m := saveMachine(t)
	m.QMP = ""
	if err := Save(context.Background(), m, "x", SaveOptions{}); err == nil || !strings.Contains(err.Error(), "needs a channel and a QMP socket") {
		t.Errorf("no QMP: %v", err)
	}
	m = saveMachine(t)
	if err := Save(context.Background(), m, "x", SaveOptions{RAM: []string{"a", "b"}}); err == nil || !strings.Contains(err.Error(), "2 guest-RAM destinations for 1 NUMA nodes") {
		t.Errorf("RAM destinations: %v", err)
	}
}
