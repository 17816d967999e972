package plan

import (
	"slices"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
)

// includePayloads adds the host files of the scenario's payloads (lib/
// payload: each definition's binary and include files) to the files the
// guest gets in /include, as a scheduler's binary is: they travel in the
// base initramfs with their shared libraries, so a VM restored from a
// snapshot has them too. A binary missing on the host is an error naming
// its Debian package.
func includePayloads(j *record.Job, sc *scenario.Scenario) error {
	defs, err := sc.Payloads()
	if err != nil {
		return err
	}
	for _, d := range defs {
		files, err := d.HostFiles()
		if err != nil {
			return err
		}
		for _, f := range files {
			if !slices.Contains(j.Include, f) {
				// Clipped: expanded jobs may share the slice.
				j.Include = append(slices.Clip(j.Include), f)
			}
		}
	}
	return nil
}
