package vm

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// channel is the host's end of a bidirectional result channel: a unix
// socket QEMU connects to (Machine.Channel).
type channel struct {
	ln   *net.UnixListener
	path string
}

func listenChannel(path string) (*channel, error) {
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("result channel: %w", err)
	}
	return &channel{ln: ln, path: path}, nil
}

// Close stops listening and removes the socket.
func (c *channel) Close() {
	c.ln.Close()
	os.Remove(c.path)
}

// accept waits for QEMU's connection, until timeout.
func (c *channel) accept(timeout time.Duration) (*net.UnixConn, error) {
	c.ln.SetDeadline(time.Now().Add(timeout))
	conn, err := c.ln.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("result channel: QEMU did not connect: %w", err)
	}
	return conn, nil
}

// serve accepts QEMU's connection, writes what send returns (if set) to it and appends what the
// guest writes to the file results, where Run's follower reads it. The
// returned channel closes when the guest's side is at its end (QEMU
// exited) or QEMU never connected (the listener was closed).
func (c *channel) serve(results string, send func() []byte) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := c.ln.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		if send != nil {
			if _, err := conn.Write(send()); err != nil {
				return
			}
		}
		out, err := os.OpenFile(results, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return
		}
		defer out.Close()
		io.Copy(out, conn)
	}()
	return done
}
