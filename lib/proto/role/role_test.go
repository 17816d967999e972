package role

import (
	"io"
	"testing"
)

// TestRoleOfAProcess: PID 1 is the agent whatever its environment; any
// other process is what KTSTR_ROLE says, and the tool without it.
func TestRoleOfAProcess(t *testing.T) {
	for _, c := range []struct {
		pid       int
		env, want string
	}{
		{1, "", Init},
		{1, Worker, Init},
		{42, Worker, Worker},
		{42, Fixture, Fixture},
		{42, Probe, Probe},
		{42, "", ""},
	} {
		if got := of(c.pid, c.env); got != c.want {
			t.Errorf("pid %d, %s=%q: role %q, want %q", c.pid, Env, c.env, got, c.want)
		}
	}
	if got := Environ(Fixture); got != "KTSTR_ROLE=fixture" {
		t.Errorf("Environ(Fixture) = %q", got)
	}
}

// TestTableLookup: a role of the table finds its entry; an unknown role
// and the tool's (no role) find none, so the tool runs.
func TestTableLookup(t *testing.T) {
	worker := func([]string, io.Writer, io.Writer) int { return 7 }
	tab := Table{Worker: worker}
	if m := tab.lookup(Worker); m == nil || m(nil, nil, nil) != 7 {
		t.Error("the worker role does not find its entry")
	}
	for _, name := range []string{"", "nosuchrole", Probe} {
		if tab.lookup(name) != nil {
			t.Errorf("role %q finds an entry", name)
		}
	}
}
