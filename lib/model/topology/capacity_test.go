package topology

import (
	"errors"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestCapacity(t *testing.T) {
	c := Capacity{CPUs: 2, MemoryMB: 8000, Overcommit: 8}
	if err := c.CheckFits(Spec{NUMANodes: 1, LLCs: 2, CoresPerLLC: 4, ThreadsPerCore: 2}); err != nil {
		t.Error(err)
	}
	err := c.CheckFits(Spec{NUMANodes: 1, LLCs: 4, CoresPerLLC: 4, ThreadsPerCore: 2})
	// A skip (errors.Is record.ErrSkip), its record's reason and detail.
	var skip *record.SkipError
	if !errors.Is(err, record.ErrSkip) || !errors.As(err, &skip) || skip.Reason != SkipHostCapacity || skip.Detail != "32 vCPUs exceed 2 host CPUs × overcommit 8 = 16" {
		t.Errorf("%v", err)
	}
	c = Capacity{CPUs: 64, MemoryMB: 1000}
	if err := c.CheckFits(Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 16, ThreadsPerCore: 1}); err == nil || !strings.Contains(err.Error(), "guest needs 1280 MB") {
		t.Errorf("%v", err)
	}
	if mb := GuestMemoryMB(Spec{NUMANodes: 3, LLCs: 3, CoresPerLLC: 1, ThreadsPerCore: 1}); mb%3 != 0 || mb < 768 {
		t.Errorf("memory %d", mb)
	}
}
