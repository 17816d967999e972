package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// specError stands for a library's error type that is always the user's
// doing (kernel.SpecError): it says so with an Is method.
type specError struct{ spec string }

func (e *specError) Error() string        { return "kernel " + e.spec + ": no such thing" }
func (e *specError) Is(target error) bool { return target == ErrUsage }

// TestUsageError: every usage error is ErrUsage (errors.Is), wrapped or
// not, and exits with ExitUsage; nothing else does.
func TestUsageError(t *testing.T) {
	base := errors.New("--x must be > 0")
	for name, err := range map[string]error{
		"Usagef":            Usagef("--x must be > 0"),
		"Usage":             Usage(base),
		"UsageError":        &UsageError{base},
		"wrapped":           fmt.Errorf("flags: %w", Usage(base)),
		"joined":            errors.Join(errors.New("other"), Usagef("bad")),
		"a type of its own": fmt.Errorf("plan: %w", &specError{"6.99"}),
		"bad lines":         BadLines(3),
	} {
		if !errors.Is(err, ErrUsage) || Status(err) != ExitUsage {
			t.Errorf("%s: %v: errors.Is(ErrUsage) %v, status %d", name, err, errors.Is(err, ErrUsage), Status(err))
		}
	}
	if err := Usage(base); err.Error() != base.Error() || !errors.Is(err, base) {
		t.Errorf("Usage(%v) = %v: the message changed or the cause is lost", base, err)
	}
	var ue *UsageError
	if !errors.As(fmt.Errorf("x: %w", Usagef("y")), &ue) || ue.Err.Error() != "y" {
		t.Errorf("errors.As: %+v", ue)
	}
	// Already a usage error: not wrapped again.
	own := &specError{"6.99"}
	if Usage(own) != error(own) || Usage(nil) != nil {
		t.Error("Usage wraps a usage error again, or nil")
	}
	for err, want := range map[error]int{
		nil:                                      ExitOK,
		base:                                     ExitFail,
		context.Canceled:                         ExitInterrupted,
		fmt.Errorf("read: %w", context.Canceled): ExitInterrupted,
	} {
		if got := Status(err); got != want {
			t.Errorf("Status(%v) = %d, want %d", err, got, want)
		}
	}
	if BadLines(2).Error() != "2 bad input line(s); see the error records" {
		t.Errorf("BadLines: %v", BadLines(2))
	}
	var b bytes.Buffer
	if code := Report(&b, "tool", Usagef("--x must be > 0")); code != ExitUsage || b.String() != "tool: --x must be > 0\n" {
		t.Errorf("Report: %d %q", code, b.String())
	}
}

// TestDashValue: a flag tagged dashvalue takes a value starting with a
// dash in its own word or after "="; other flags, values after "--" and a
// dash value for an untagged flag are left to kong.
func TestDashValue(t *testing.T) {
	type grammar struct {
		Args  string   `name:"args" dashvalue:""`
		Other string   `name:"other"`
		Rest  []string `arg:"" optional:""`
	}
	for _, tc := range []struct {
		args      []string
		wantArgs  string
		wantRest  []string
		wantUsage bool
	}{
		{args: []string{"--args", "-e 100"}, wantArgs: "-e 100"},
		{args: []string{"--args=-x 'a b'"}, wantArgs: "-x 'a b'"},
		{args: []string{"--args", "plain"}, wantArgs: "plain"},
		{args: []string{"--args", "-e", "--", "--args", "-z"}, wantArgs: "-e", wantRest: []string{"--args", "-z"}},
		{args: []string{"--other", "-e 100"}, wantUsage: true},
		{args: []string{"--args"}, wantUsage: true},
	} {
		var g grammar
		var out, errb bytes.Buffer
		_, code, done := Parse("t", "", &g, tc.args, &out, &errb)
		if tc.wantUsage {
			if !done || code != ExitUsage {
				t.Errorf("%q: done %v code %d, want a usage error", tc.args, done, code)
			}
			continue
		}
		if done || g.Args != tc.wantArgs || fmt.Sprint(g.Rest) != fmt.Sprint(tc.wantRest) {
			t.Errorf("%q: args %q rest %q (done %v, %s); want %q %q", tc.args, g.Args, g.Rest, done, errb.String(), tc.wantArgs, tc.wantRest)
		}
	}
}
