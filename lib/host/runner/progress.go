package runner

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// progress is the one status line ktstr-boot keeps at the bottom of a
// terminal: jobs done of the total, the verdicts so far and an ETA. Log
// lines are printed above it. Its methods are no-ops on a nil *progress.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	estimate func(*record.Job) float64
	began    time.Time
	total    int
	finished int
	counts   map[record.Status]int
	// leftS and doneS are the estimated seconds of the jobs not yet
	// finished and of those finished: the ETA scales leftS by how fast
	// estimated work has been getting done.
	leftS, doneS float64
	drawn        bool
}

func newProgress(w io.Writer, estimate func(*record.Job) float64) *progress {
	return &progress{w: w, estimate: estimate, counts: map[record.Status]int{}}
}

func (p *progress) start(jobs []*record.Job) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.began, p.total = time.Now(), len(jobs)
	for _, j := range jobs {
		p.leftS += p.estimate(j)
	}
	p.draw()
}

// done counts a finished job with its status.
func (p *progress) done(j *record.Job, st record.Status) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished++
	p.counts[st]++
	e := p.estimate(j)
	p.leftS, p.doneS = max(0, p.leftS-e), p.doneS+e
	p.draw()
}

// logf prints a log line above the status line.
func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.draw()
}

// finish leaves the last status on its own line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progress) draw() {
	if p.total == 0 {
		return
	}
	p.clear()
	line := fmt.Sprintf("[%d/%d] pass %d  fail %d  inconclusive %d", p.finished, p.total,
		p.counts[record.StatusPass], p.counts[record.StatusFail], p.counts[record.StatusInconclusive])
	if n := p.counts[record.StatusError] + p.counts[record.StatusSkip]; n > 0 {
		line += fmt.Sprintf("  other %d", n)
	}
	if p.finished < p.total {
		line += "  ETA " + p.eta()
	}
	fmt.Fprint(p.w, line)
	p.drawn = true
}

// eta is the estimated time left: the estimates of the jobs left, scaled by
// how long the finished ones really took per estimated second (which also
// accounts for the VMs running side by side); before the first job ends,
// the estimates as they are.
func (p *progress) eta() string {
	left := p.leftS
	if elapsed := time.Since(p.began).Seconds(); p.doneS > 0 && elapsed > 0 {
		left *= elapsed / p.doneS
	}
	return (time.Duration(left) * time.Second).Round(time.Second).String()
}
