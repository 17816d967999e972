package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as a tool whose run reads stdin to the
// end (TestMain), so that a real signal reaches a real process.
const childEnv = "KTSTR_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		Main(func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
			fmt.Fprintln(stdout, "reading")
			_, err := io.Copy(io.Discard, bufio.NewReader(stdin))
			return Report(stderr, "child", err)
		})
	}
	os.Exit(m.Run())
}

// TestSignalStopsStdinRead: SIGINT and SIGTERM stop a tool blocked reading
// a stdin pipe whose writer stays open, with ExitInterrupted.
func TestSignalStopsStdinRead(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=1")
			cmd.Stdin = pr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var errb strings.Builder
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pr.Close()
			// "reading" comes after signal.NotifyContext; the read itself
			// may start a moment later, which the signal must not depend on.
			if line, _ := bufio.NewReader(out).ReadString('\n'); line != "reading\n" {
				t.Fatalf("child said %q", line)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second): // a hang, not a timing measurement
				cmd.Process.Kill()
				<-done
				t.Fatalf("still reading stdin 30 s after %s", sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
				t.Errorf("exit %d after %s, want %d; stderr %q", code, sig, ExitInterrupted, errb.String())
			}
		})
	}
}

// TestCancelReaderPassesData: before cancellation the reader yields r's
// bytes and its EOF unchanged; after it, ctx's error.
func TestCancelReaderPassesData(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := io.ReadAll(CancelReader(ctx, strings.NewReader("a\nb\n")))
	if err != nil || string(b) != "a\nb\n" {
		t.Errorf("read %q, %v", b, err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	r := CancelReader(ctx, pr)
	go func() { pw.Write([]byte("x")) }()
	buf := make([]byte, 8)
	if n, err := r.Read(buf); n != 1 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", err)
	}
}
