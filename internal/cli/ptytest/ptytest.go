// Package ptytest opens a real pseudo-terminal for tests of the tools'
// terminal output: the tool writes to the pty's terminal end (an *os.File
// that is a terminal, with a window size), the test reads what a person
// would have seen from the other end.
package ptytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// PTY is an open pseudo-terminal.
type PTY struct {
	// TTY is the terminal end, for the tool's stdout or stderr.
	TTY    *os.File
	master *os.File
	mu     sync.Mutex
	buf    bytes.Buffer
	done   chan struct{}
	// seen is signalled when the reader has taken in more output.
	seen chan struct{}
}

// endMark is written after the tool's output so that Output knows it has
// read everything: Linux may drop what still sits in a pty's buffer when
// the terminal end closes first, which once cut the last cell off a table
// in CI.
const endMark = "\x00ptytest-end\x00"

// Open opens a pseudo-terminal cols columns wide and starts collecting
// what is written to it.
func Open(cols int) (*PTY, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("pty number: %w", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, err
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: uint16(cols)}); err != nil {
		tty.Close()
		master.Close()
		return nil, fmt.Errorf("window size: %w", err)
	}
	// Raw output: no \n → \r\n translation, so the text reads back as
	// written.
	if t, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err == nil {
		t.Oflag &^= unix.OPOST
		unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, t)
	}
	p := &PTY{TTY: tty, master: master, done: make(chan struct{}), seen: make(chan struct{}, 1)}
	go func() {
		defer close(p.done)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return p, nil
}

// Output waits until everything written to the terminal end has been
// read, closes the pty and returns what was written.
func (p *PTY) Output() string {
	if _, err := p.TTY.WriteString(endMark); err == nil {
		deadline := time.After(10 * time.Second)
	wait:
		for !p.has(endMark) {
			select {
			case <-p.seen:
			case <-p.done:
				break wait
			case <-deadline:
				break wait
			}
		}
	}
	p.TTY.Close()
	<-p.done
	p.master.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	out, _, _ := strings.Cut(p.buf.String(), endMark)
	return out
}

func (p *PTY) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Contains(p.buf.Bytes(), []byte(s))
}

// Type sends s to the terminal as if typed (Ctrl-D, "\x04", ends the
// input of a program reading the terminal end).
func (p *PTY) Type(s string) error {
	_, err := p.master.WriteString(s)
	return err
}

// Tool is a tool's testable entry point, the run every cmd/ main calls.
type Tool func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int

// Run runs tool with stdin read from a string and stdout and stderr on one
// pseudo-terminal cols columns wide, and returns its exit code and what a
// person would have seen. Where no pty opens, it skips t.
func Run(t testing.TB, cols int, tool Tool, stdin string, args ...string) (int, string) {
	t.Helper()
	p, err := Open(cols)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	code := tool(context.Background(), strings.NewReader(stdin), p.TTY, p.TTY, args)
	return code, p.Output()
}
