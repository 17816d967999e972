package cli

import (
	"context"
	"io"
	"os"
	"sync"
)

// CancelReader returns a reader over r whose Read returns ctx's error as
// soon as ctx is cancelled, even while a Read of r is blocked: a tool
// waiting on a terminal or on a pipe whose writer never closes must still
// stop on SIGINT or SIGTERM, and a blocking read of a file descriptor
// cannot be interrupted any other way.
//
// r is read by a goroutine, started at the first Read (a tool that never
// reads its stdin takes nothing from it), through a pipe that holds no data
// of its own: nothing is read from r that the caller does not ask for,
// except the one block in flight when ctx is cancelled. That goroutine stays
// blocked in r's Read after cancellation until r returns; the process is
// expected to exit.
func CancelReader(ctx context.Context, r io.Reader) io.Reader {
	return &cancelReader{ctx: ctx, r: r}
}

type cancelReader struct {
	ctx  context.Context
	r    io.Reader
	once sync.Once
	pr   *io.PipeReader
}

func (c *cancelReader) Read(p []byte) (int, error) {
	c.once.Do(c.start)
	return c.pr.Read(p)
}

func (c *cancelReader) start() {
	pr, pw := io.Pipe()
	c.pr = pr
	stop := context.AfterFunc(c.ctx, func() { pw.CloseWithError(c.ctx.Err()) })
	go func() {
		_, err := io.Copy(pw, c.r)
		stop()
		// A nil err closes the pipe with io.EOF; after cancellation the
		// first close (ctx's error) wins.
		pw.CloseWithError(err)
	}()
}

// StdinIsTerminal reports whether r (a tool's stdin, possibly wrapped by
// CancelReader) is a terminal: a tool then says what input it expects
// instead of waiting silently.
func StdinIsTerminal(r io.Reader) bool {
	if c, ok := r.(*cancelReader); ok {
		r = c.r
	}
	f, ok := r.(*os.File)
	return ok && isatty(f)
}
