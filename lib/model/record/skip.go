package record

import "errors"

// ErrSkip is what every skip error is (errors.Is): work that does not
// apply — a scenario its topology is too small for, a failed run that
// cannot be rerun with probes — which becomes a skip record, never a
// failure.
var ErrSkip = errors.New("skip")

// SkipError is the skip error: why a piece of work is skipped, as its skip
// record says it (Record).
type SkipError struct {
	// Reason is the skip record's short reason: topology_too_small,
	// eevdf, missing_binary, no_job, ...
	Reason string
	// Detail says why, for people.
	Detail string
}

func (e *SkipError) Error() string { return e.Reason + ": " + e.Detail }

// Is makes every SkipError ErrSkip.
func (e *SkipError) Is(target error) bool { return target == ErrSkip }

// Record is the skip record of subject, written by source; t is the
// topology it was meant for (nil: none).
func (e *SkipError) Record(source, subject string, t *Topology) *Skip {
	return &Skip{Source: source, Subject: subject, Reason: e.Reason, Detail: e.Detail, Topology: t}
}
