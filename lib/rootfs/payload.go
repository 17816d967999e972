package rootfs

import (
	"fmt"
	"path/filepath"

	"github.com/ktstr-go/ktstr/lib/initramfs"
	"github.com/ktstr-go/ktstr/lib/proto"
	"github.com/ktstr-go/ktstr/lib/record"
	"github.com/ktstr-go/ktstr/lib/scenario"
)

// PayloadFiles are the host files the job's scenario payloads need in the
// guest (lib/payload: each definition's binary and include files); nil
// when the job runs no payload.
func PayloadFiles(job *record.Job) ([]string, error) {
	if len(job.Scenario) == 0 {
		return nil, nil
	}
	sc, err := scenario.Parse(job.Scenario)
	if err != nil {
		return nil, fmt.Errorf("guest image: %w", err)
	}
	defs, err := sc.Payloads()
	if err != nil {
		return nil, fmt.Errorf("guest image: scenario %s: %w", sc.Name, err)
	}
	var out []string
	for _, d := range defs {
		files, err := d.HostFiles()
		if err != nil {
			return nil, fmt.Errorf("guest image: %w", err)
		}
		out = append(out, files...)
	}
	return out, nil
}

// addPayloads puts the job's payload files in proto.IncludeDir, binaries
// with their shared libraries. They travel in the per-run suffix, not the
// cached base: the base is keyed by the job's includes, and a payload is
// the scenario's, which the key does not see.
func addPayloads(a *initramfs.Archive, job *record.Job) error {
	files, err := PayloadFiles(job)
	if err != nil {
		return err
	}
	for _, f := range files {
		dst := filepath.Join(proto.IncludeDir, filepath.Base(f))
		if initramfs.IsELF(f) {
			err = a.AddBinary(dst, f)
		} else {
			err = a.AddFile(dst, f, 0o644)
		}
		if err != nil {
			return fmt.Errorf("guest image: payload file %s: %w", f, err)
		}
	}
	return nil
}
