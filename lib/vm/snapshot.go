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
// but copied to opts.RAM. m needs Channel and QMP. On every path QEMU is killed and
// reaped and m's /dev/shm files are removed before Save returns; on error
// path may hold a partial stream.
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

	var out tailBuffer
	out.limit = 16 << 10
	cmd := exec.Command(opts.QEMU, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("save snapshot: start %s: %w", opts.QEMU, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killed := false
	defer func() {
		if !killed {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	// Whatever fails, say what QEMU and the console said.
	fail := func(err error) error {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		killed = true
		detail := filterQEMUNoise(out.String())
		if detail == "" {
			if lines := ConsoleLines(m.ConsoleLog, 5); len(lines) > 0 {
				detail = "console: " + strings.Join(lines, " | ")
			}
		}
		if detail != "" {
			return fmt.Errorf("save snapshot: %w (%s)", err, detail)
		}
		return fmt.Errorf("save snapshot: %w", err)
	}

	type accepted struct {
		conn io.Closer
		err  error
	}
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
	select {
	case a := <-ready:
		ready <- a
		if a.err != nil {
			return fail(a.err)
		}
	case err := <-exited:
		killed = true
		exited <- err
		return fail(fmt.Errorf("QEMU exited before the agent was ready: %v", err))
	case <-ctx.Done():
		return fail(fmt.Errorf("agent not ready: %w", ctx.Err()))
	}

	q, err := dialQMP(m.QMP, 10*time.Second)
	if err != nil {
		return fail(err)
	}
	defer q.Close()
	// The machine migrates live: a restored copy starts running by itself
	// only if its source was running when the migration began (QEMU
	// carries the run state along), and the agent, blocked reading the
	// channel, dirties little, so the passes converge at once. QEMU's
	// default bandwidth cap (128 MiB/s) would stretch the save.
	steps := []struct {
		cmd  string
		args any
	}{
		{"migrate-set-parameters", map[string]any{"max-bandwidth": int64(64) << 30}},
		{"migrate-set-capabilities", map[string]any{"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": m.SharedRAMSnapshot}}}},
		{"migrate", map[string]any{"uri": "exec:cat > " + shellQuote(path)}},
	}
	for _, s := range steps {
		if _, err := q.do(s.cmd, s.args); err != nil {
			return fail(err)
		}
	}
	for {
		b, err := q.do("query-migrate", nil)
		if err != nil {
			return fail(err)
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		json.Unmarshal(b, &st)
		switch st.Status {
		case "completed":
			// The source is paused now: its RAM is the snapshot's.
			if m.SharedRAMSnapshot {
				for i, shm := range m.ShmFiles() {
					if err := saveSparse(shm, opts.RAM[i]); err != nil {
						return fail(fmt.Errorf("save guest RAM: %w", err))
					}
				}
			}
			q.do("quit", nil)
			select {
			case <-exited:
				killed = true
			case <-time.After(5 * time.Second):
			}
			return nil
		case "failed", "cancelled":
			return fail(fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc))
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("migration: %w", ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
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
