package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/version"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func verdicts(statuses ...record.Status) []*record.Verdict {
	var out []*record.Verdict
	for _, s := range statuses {
		out = append(out, &record.Verdict{Subject: "x", Status: s})
	}
	return out
}

func TestExitStatus(t *testing.T) {
	pass, fail, errored, inc, skip := record.StatusPass, record.StatusFail, record.StatusError, record.StatusInconclusive, record.StatusSkip
	cases := []struct {
		verdicts []*record.Verdict
		allow    bool
		want     int
	}{
		{verdicts(pass, skip), false, cli.ExitOK},
		{verdicts(pass, inc, skip), false, cli.ExitInconclusive},
		{verdicts(pass, inc), true, cli.ExitOK},
		{verdicts(inc, fail), false, cli.ExitFail},
		{verdicts(inc, fail), true, cli.ExitFail},
		{verdicts(errored, inc), true, cli.ExitFail},
		{nil, true, cli.ExitFail},
	}
	for _, c := range cases {
		if got := status(c.verdicts, c.allow, io.Discard); got != c.want {
			var s []string
			for _, v := range c.verdicts {
				s = append(s, string(v.Status))
			}
			t.Errorf("%v allow=%v: exit %d, want %d", s, c.allow, got, c.want)
		}
	}
}

func runVerify(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), strings.NewReader(stdin), &out, &errb, args)
	return code, out.String(), errb.String()
}

func TestRunExitStatusAndFlag(t *testing.T) {
	skip := `{"kind":"skip","v":1,"source":"ktstr-topo","subject":"2n8l16c2t","reason":"does_not_fit","detail":"64 vCPUs"}` + "\n"
	if code, out, _ := runVerify(t, skip, "-q"); code != cli.ExitOK || !strings.Contains(out, `"status":"skip"`) {
		t.Errorf("skip only: exit %d, %s", code, out)
	}
	upstream := `{"kind":"error","v":1,"source":"ktstr-boot","message":"job x: boom"}` + "\n"
	if code, _, _ := runVerify(t, skip+upstream, "-q", "--allow-inconclusive"); code != cli.ExitFail {
		t.Errorf("an error verdict: exit %d, want %d", code, cli.ExitFail)
	}
	if code, _, errs := runVerify(t, "", "--allow-inconclusive=maybe"); code != cli.ExitUsage || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("bad flag: exit %d, stderr %q", code, errs)
	}
}

func TestHelpStatesTheExitStatuses(t *testing.T) {
	code, out, _ := runVerify(t, "", "--help")
	if code != cli.ExitOK {
		t.Fatalf("--help exit %d", code)
	}
	out = strings.Join(strings.Fields(out), " ") // kong wraps the text
	for _, want := range []string{"--allow-inconclusive", "3 nothing failed but a verdict is inconclusive", "1 a verdict failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestVerdictCarriesTheVersion (issue 25, item 4): every verdict, of a run,
// an upstream error or a skip, carries the version of the ktstr-verify
// that made it; the run's own ktstr_version is the run's.
func TestVerdictCarriesTheVersion(t *testing.T) {
	in := `{"kind":"run","v":1,"id":"r1","ktstr_version":"v9.9.9","job":{"id":"j"},"outcome":"completed","host":{"accel":"tcg","host_cpus":2,"qemu_version":"x","vcpu_overcommit":0,"memory_mb":0},"timings":{"prepare_ms":0,"wall_s":1,"timeout_s":2},"console_log":""}
{"kind":"error","v":1,"source":"ktstr-boot","message":"job x: boom"}
{"kind":"skip","v":1,"subject":"s","reason":"r","detail":"d"}
`
	_, out, errOut := runVerify(t, in, "-q")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %s %s", len(lines), out, errOut)
	}
	for _, l := range lines {
		var v record.Verdict
		if err := record.Unmarshal([]byte(l), &v); err != nil || v.KtstrVersion == "" || v.KtstrVersion != version.String() {
			t.Errorf("verdict %s: %v", l, err)
		}
	}
}
