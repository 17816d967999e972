package rootfs

import (
	"bytes"
	"testing"

	"github.com/ktstr-go/ktstr/internal/newcread"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

func TestJobSuffixCarriesTheJob(t *testing.T) {
	job := &record.Job{ID: "j1", Exec: "echo 'a&b'", Topology: &record.Topology{Name: "1n1l1c1t", CPUs: 1}}
	b, err := JobSuffix(job)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := newcread.ReadAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range entries {
		if "/"+e.Name == proto.JobPath {
			found = true
			var back record.Job
			if err := record.Unmarshal(bytes.TrimSpace(e.Data), &back); err != nil || back.Exec != job.Exec || back.Topology.Name != "1n1l1c1t" {
				t.Errorf("job in archive: %+v %v", back, err)
			}
		}
	}
	if !found {
		t.Errorf("no %s in the suffix: %+v", proto.JobPath, entries)
	}
}
