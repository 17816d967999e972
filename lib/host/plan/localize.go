package plan

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// localizeKernel points a job planned on another host at this host's copy
// of its kernel. A plan names the kernel by its cache key — a content key:
// the same source, fragment and arch give the same key everywhere — and by
// the paths it had where it was planned. When the image is not at that
// path but this host's cache has an intact entry of the key, the job's
// kernel record and the paths into the old entry (scheduler binary,
// includes) are rewritten to the local entry. Anything else is left for
// Complete to report.
func localizeKernel(j *record.Job) {
	k := j.Kernel
	if k == nil || k.Key == "" || k.Dir == "" {
		return
	}
	if _, err := os.Stat(k.Image); err == nil {
		return
	}
	root, err := kernel.DefaultRoot()
	if err != nil {
		return
	}
	e := (&kernel.Cache{Root: root}).Get(k.Key)
	if e.Status != kernel.StatusOK || e.Meta == nil {
		return
	}
	local := e.Record("hit")
	move := func(p string) string {
		if rel, err := filepath.Rel(k.Dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.Join(local.Dir, rel)
		}
		return p
	}
	if j.Scheduler != nil {
		s := *j.Scheduler
		s.Binary = move(s.Binary)
		j.Scheduler = &s
	}
	inc := make([]string, len(j.Include))
	for i, p := range j.Include {
		inc[i] = move(p)
	}
	j.Include = inc
	j.Kernel = local
}
