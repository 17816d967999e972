package verdict

import (
	"fmt"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// The verdicts of records that are not runs: what an upstream tool could
// not do (error records, unreadable lines) and what it chose not to do
// (skip records). They are verdicts so that a pipeline's table and exit
// status account for every input, not only for the runs that happened.

// ErrorVerdict is the verdict of an upstream error record: status error,
// subject the tool (and line) that reported it.
func ErrorVerdict(e *record.Error) *record.Verdict {
	subject := e.Source
	if e.Line > 0 {
		subject = fmt.Sprintf("%s line %d", e.Source, e.Line)
	}
	return InputErrorVerdict(subject, e.Message)
}

// InputErrorVerdict is an error verdict for subject, with msg saying what
// could not be read or done.
func InputErrorVerdict(subject, msg string) *record.Verdict {
	return &record.Verdict{Subject: subject, Status: record.StatusError,
		Checks: []record.Check{{Name: "input", Status: record.StatusError, Detail: msg}}}
}

// SkipVerdict is the verdict of a skip record: the subject skipped, with
// the reason as the value and the detail as given.
func SkipVerdict(s *record.Skip) *record.Verdict {
	return &record.Verdict{Subject: s.Subject, Status: record.StatusSkip,
		Checks: []record.Check{{Name: "skipped", Status: record.StatusSkip, Value: s.Reason, Detail: s.Detail}}}
}
