package vm

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

var (
	panicLine   = regexp.MustCompile(`Kernel panic - not syncing: ?(.*)`)
	agentMarker = "KTSTR_AGENT_MESSAGE "
)

// Classify turns a run's facts into an outcome and a one-line reason. It
// trusts what arrived on the result channel and what the console says, never
// QEMU's exit status (0 after a panic under -no-reboot).
func Classify(res *Result, console []string, timeoutS float64) (record.Outcome, string) {
	if res.Interrupted {
		return record.OutcomeInterrupted, "interrupted by signal; QEMU killed"
	}
	for _, l := range console {
		m := panicLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		why := strings.TrimSpace(m[1])
		if strings.HasPrefix(why, "Attempted to kill init") {
			// The harness's own agent died, not the kernel under test.
			return record.OutcomeGuestError, "the agent (PID 1) died: " + agentDeath(console)
		}
		return record.OutcomeKernelPanic, "Kernel panic - not syncing: " + why
	}
	var errs []string
	for _, m := range res.Messages {
		if m.Type == proto.MsgError {
			errs = append(errs, firstLine(m.Text))
		}
		if m.Type == proto.MsgScheduler && m.Scheduler != nil && (m.Scheduler.Died || !m.Scheduler.Attached) {
			reason := m.Scheduler.Reason
			if reason == "" {
				reason = "never attached"
			}
			return record.OutcomeSchedulerDied, reason
		}
	}
	switch {
	case res.Done && len(errs) > 0:
		return record.OutcomeGuestError, "agent reported: " + strings.Join(errs, "; ")
	case res.Done:
		return record.OutcomeCompleted, ""
	case res.TimedOut:
		last := "no message from the agent"
		if n := len(res.Messages); n > 0 {
			last = fmt.Sprintf("last agent message %q at %.1fs", res.Messages[n-1].Type, res.Messages[n-1].T)
		}
		return record.OutcomeTimeout, fmt.Sprintf("no result within the %.0fs timeout (%s)", timeoutS, last)
	case len(errs) > 0:
		return record.OutcomeGuestError, "agent reported: " + strings.Join(errs, "; ")
	}
	for _, l := range console {
		if i := strings.Index(l, agentMarker); i >= 0 {
			return record.OutcomeGuestError, "agent (no result channel): " + l[i+len(agentMarker):]
		}
		if strings.Contains(l, "Attempted to kill init") {
			return record.OutcomeGuestError, "the agent (PID 1) exited: " + strings.TrimSpace(l)
		}
	}
	if len(res.Messages) > 0 {
		return record.OutcomeGuestError, "the agent stopped without reporting done"
	}
	reason := "the kernel never started the agent"
	if out := strings.TrimSpace(res.QEMUOutput); out != "" {
		reason += "; QEMU said: " + firstLine(lastLines(out, 3))
	} else if res.ExitErr != nil {
		reason += "; QEMU: " + res.ExitErr.Error()
	}
	return record.OutcomeBootFailed, reason
}

// ConsoleLines returns the last n lines of a console log, without the
// carriage returns the serial console adds.
func ConsoleLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		if len(lines) > 4*n+1000 {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

var agentFatal = regexp.MustCompile(`^(fatal error: |panic: |runtime: |ktstr-agent: error: )`)

// agentDeath finds the Go runtime's or the agent's own last words.
func agentDeath(console []string) string {
	var found []string
	for _, l := range console {
		if agentFatal.MatchString(strings.TrimSpace(l)) {
			found = append(found, strings.TrimSpace(l))
		}
	}
	if len(found) == 0 {
		return "no message (see the console log)"
	}
	return strings.Join(found[:min(len(found), 3)], "; ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
