package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ktstr-go/ktstr/lib/proto"
)

// SaveOptions control Save.
type SaveOptions struct {
	QEMU string
	// Timeout bounds the whole save: boot to the agent's ready, and the
	// migration.
	Timeout time.Duration
	// RAM are where the guest-RAM files go, one per NUMA node, when the
	// machine has SharedRAMSnapshot.
	RAM []string
}

// Save boots m until its agent, which has no job (its initramfs has none),
// says it is ready and waits for one; then it writes the machine's
// migration stream (a snapshot Machine.Incoming restores) to path and
// quits QEMU; with SharedRAMSnapshot the guest RAM is not in the stream
// but copied to opts.RAM. m needs Channel and QMP. On every path QEMU is
// killed and reaped and m's /dev/shm files are removed before Save
// returns; on error path may hold a partial stream. It goes in phases:
// QEMU's start, the wait for the agent's ready, and the migration.
func Save(ctx context.Context, m *Machine, path string, opts SaveOptions) error {
	if m.Channel == "" || m.QMP == "" || m.Incoming != "" {
		return errors.New("save snapshot: the machine needs a channel and a QMP socket, and must boot")
	}
	if m.SharedRAMSnapshot && len(opts.RAM) != len(m.ShmFiles()) {
		return fmt.Errorf("save snapshot: %d guest-RAM destinations for %d NUMA nodes", len(opts.RAM), len(m.ShmFiles()))
	}
	args, err := m.Args()
	if err != nil {
		return err
	}
	if err := os.WriteFile(m.ConsoleLog, nil, 0o644); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	defer removeFiles(m.ShmFiles())
	ch, err := listenChannel(m.Channel)
	if err != nil {
		return err
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	s := &saveRun{m: m}
	if err := s.start(opts.QEMU, args); err != nil {
		return err
	}
	defer s.reap()
	ready := make(chan accepted, 1)
	go func() {
		conn, err := awaitReady(ch, opts.Timeout)
		ready <- accepted{conn, err}
	}()
	// The guest's channel stays connected through the save, as it will be
	// in every restored copy.
	defer func() {
		ch.ln.Close()
		if a := <-ready; a.conn != nil {
			a.conn.Close()
		}
	}()
	if err := s.awaitAgent(ctx, ready); err != nil {
		return err
	}
	q, err := dialQMP(m.QMP, 10*time.Second)
	if err != nil {
		return s.fail(err)
	}
	defer q.Close()
	return s.migrate(ctx, q, path, opts.RAM)
}

// accepted is the agent's connection to the channel, once it is ready (or
// why it is not).
type accepted struct {
	conn io.Closer
	err  error
}

// saveRun is the QEMU process of a save.
type saveRun struct {
	m      *Machine
	cmd    *exec.Cmd
	out    tailBuffer // QEMU's own output, the tail of it
	exited chan error
	killed bool // reaped: the kill on the way out is done
}

// start starts QEMU in its own process group (one kill reaches every
// thread; the kernel kills it if ktstr-boot dies).
func (s *saveRun) start(qemu string, args []string) error {
	s.out.limit = 16 << 10
	s.cmd = exec.Command(qemu, args...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("save snapshot: start %s: %w", qemu, err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	return nil
}

// reap kills and reaps QEMU unless that is done.
func (s *saveRun) reap() {
	if !s.killed {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

// fail kills QEMU and returns err with what QEMU said, or else the
// console's last lines: whatever fails, the error says why.
func (s *saveRun) fail(err error) error {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.killed = true
	detail := filterQEMUNoise(s.out.String())
	if detail == "" {
		if lines := ConsoleLines(s.m.ConsoleLog, 5); len(lines) > 0 {
			detail = "console: " + strings.Join(lines, " | ")
		}
	}
	if detail != "" {
		return fmt.Errorf("save snapshot: %w (%s)", err, detail)
	}
	return fmt.Errorf("save snapshot: %w", err)
}

// awaitAgent waits for the agent's ready on ready (put back for the
// deferred close), QEMU's exit or the end of ctx.
func (s *saveRun) awaitAgent(ctx context.Context, ready chan accepted) error {
	select {
	case a := <-ready:
		ready <- a
		if a.err != nil {
			return s.fail(a.err)
		}
		return nil
	case err := <-s.exited:
		s.killed = true
		s.exited <- err
		return s.fail(fmt.Errorf("QEMU exited before the agent was ready: %v", err))
	case <-ctx.Done():
		return s.fail(fmt.Errorf("agent not ready: %w", ctx.Err()))
	}
}

// migrate writes the machine's migration stream to path over QMP, copies
// its guest RAM to ram when the RAM is left out of the stream, and quits
// QEMU. The machine migrates live: a restored copy starts running by
// itself only if its source was running when the migration began (QEMU
// carries the run state along), and the agent, blocked reading the
// channel, dirties little, so the passes converge at once. QEMU's default
// bandwidth cap (128 MiB/s) would stretch the save.
func (s *saveRun) migrate(ctx context.Context, q *qmp, path string, ram []string) error {
	steps := []struct {
		cmd  string
		args any
	}{
		{"migrate-set-parameters", map[string]any{"max-bandwidth": int64(64) << 30}},
		{"migrate-set-capabilities", map[string]any{"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": s.m.SharedRAMSnapshot}}}},
		{"migrate", map[string]any{"uri": "exec:cat > " + shellQuote(path)}},
	}
	for _, st := range steps {
		if _, err := q.do(st.cmd, st.args); err != nil {
			return s.fail(err)
		}
	}
	for {
		b, err := q.do("query-migrate", nil)
		if err != nil {
			return s.fail(err)
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		json.Unmarshal(b, &st)
		switch st.Status {
		case "completed":
			return s.complete(q, ram)
		case "failed", "cancelled":
			return s.fail(fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc))
		}
		select {
		case <-ctx.Done():
			return s.fail(fmt.Errorf("migration: %w", ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// complete finishes a migration that completed: the source is paused, so
// its RAM is the snapshot's, copied to ram when shared; then QEMU quits.
func (s *saveRun) complete(q *qmp, ram []string) error {
	if s.m.SharedRAMSnapshot {
		for i, shm := range s.m.ShmFiles() {
			if err := saveSparse(shm, ram[i]); err != nil {
				return s.fail(fmt.Errorf("save guest RAM: %w", err))
			}
		}
	}
	q.do("quit", nil)
	select {
	case <-s.exited:
		s.killed = true
	case <-time.After(5 * time.Second):
	}
	return nil
}

// awaitReady accepts QEMU's connection to the channel and reads messages
// until the agent's ready; an error message from the agent fails it.
func awaitReady(ch *channel, timeout time.Duration) (io.Closer, error) {
	conn, err := ch.accept(timeout)
	if err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return conn, fmt.Errorf("agent not ready: %w", err)
		}
		m, err := decodeMessage(bytes.TrimSpace(line))
		if err != nil {
			continue
		}
		switch m.Type {
		case proto.MsgReady:
			return conn, nil
		case proto.MsgError:
			return conn, fmt.Errorf("agent: %s", m.Text)
		case proto.MsgDone:
			return conn, errors.New("agent finished without waiting for a job (a job in the initramfs?)")
		}
	}
}
