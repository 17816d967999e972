package record

import (
	"errors"
	"fmt"
	"testing"
)

func TestSkipError(t *testing.T) {
	err := fmt.Errorf("job x: %w", &SkipError{Reason: "topology_too_small", Detail: "scenario s: needs 2 LLCs"})
	var skip *SkipError
	if !errors.Is(err, ErrSkip) || !errors.As(err, &skip) {
		t.Fatalf("%v: not a skip", err)
	}
	if err.Error() != "job x: topology_too_small: scenario s: needs 2 LLCs" {
		t.Errorf("message %q", err)
	}
	topo := &Topology{Name: "1n1l2c1t"}
	if s := skip.Record("ktstr-boot", "x", topo); *s != (Skip{Source: "ktstr-boot", Subject: "x", Reason: "topology_too_small", Detail: "scenario s: needs 2 LLCs", Topology: topo}) {
		t.Errorf("record %+v", s)
	}
	if errors.Is(errors.New("skip"), ErrSkip) || errors.Is(fmt.Errorf("x: %w", errors.New("topology_too_small")), ErrSkip) {
		t.Error("an error that is no SkipError is ErrSkip")
	}
}
