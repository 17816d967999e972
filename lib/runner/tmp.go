package runner

import (
	"fmt"
	"os"

	"github.com/ktstr-go/ktstr/lib/vm"
)

// tempPrefix starts the name of every job's temporary directory (the
// initrd, the result channel capture): ktstr-boot-PID-RANDOM, so that a
// later runner can tell whose it is.
const tempPrefix = "ktstr-boot-"

// makeTempDir creates a job's temporary directory under $TMPDIR.
func makeTempDir() (string, error) {
	return os.MkdirTemp("", fmt.Sprintf("%s%d-", tempPrefix, os.Getpid()))
}

// sweepStale removes what killed ktstr processes left: guest-RAM files on
// /dev/shm and ktstr-boot temporary directories whose owner is gone.
func sweepStale() {
	vm.SweepStaleShm("/dev/shm")
	vm.SweepStale(os.TempDir(), tempPrefix)
}
