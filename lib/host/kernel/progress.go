package kernel

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/machine"
)

func runtimeCPUs() int { return machine.CPUs() }

// lineSink receives a command's output line by line.
type lineSink interface{ line(string) }

// progress counts compiled objects in kbuild's output ("  CC      x.o") and
// reports objects built, the estimate and an ETA: as a live line on a
// terminal, else as a line a minute so CI logs show the build is alive.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	estimate int
	label    string
	start    time.Time
	objects  int
	last     time.Time
}

func newProgress(w io.Writer, tty bool, estimate int, label string) *progress {
	now := time.Now()
	return &progress{w: w, tty: tty, estimate: estimate, label: label, start: now, last: now}
}

var objectVerbs = []string{"CC", "AS", "LD", "AR", "HOSTCC", "CC [M]"}

func (p *progress) line(l string) {
	fields := strings.Fields(l)
	if len(fields) < 2 || !strings.HasPrefix(l, "  ") {
		return
	}
	counted := false
	for _, v := range objectVerbs {
		if fields[0] == v {
			counted = true
			break
		}
	}
	if !counted {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.objects++
	interval := time.Minute
	if p.tty {
		interval = 250 * time.Millisecond
	}
	if time.Since(p.last) < interval {
		return
	}
	p.last = time.Now()
	p.report()
}

func (p *progress) report() {
	elapsed := time.Since(p.start)
	est := max(p.estimate, p.objects)
	eta := "?"
	if p.objects > 20 {
		remaining := time.Duration(float64(elapsed) / float64(p.objects) * float64(est-p.objects))
		eta = remaining.Round(time.Second).String()
	}
	msg := fmt.Sprintf("ktstr-kernel: building %s: %d/~%d objects, %s elapsed, ETA %s", p.label, p.objects, est, elapsed.Round(time.Second), eta)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", msg)
	} else {
		fmt.Fprintln(p.w, msg)
	}
}

// clear ends a live line so that other messages start on a fresh one.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// done ends the progress display and returns the object count.
func (p *progress) done() int {
	p.clear()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.objects
}
