package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ktstr-go/ktstr/lib/host/vm"
)

// tempPrefix starts the name of every job's temporary directory (the
// initrd, the result channel capture): ktstr-boot-PID-RANDOM, so that a
// later runner can tell whose it is.
const tempPrefix = "ktstr-boot-"

// A job's unix sockets (the result channel, QMP) live in its temporary
// directory, and a socket's path must fit sockaddr_un (107 bytes): a long
// $TMPDIR (seen: a Go test's, 68 bytes) made QEMU's and our bind fail
// with EINVAL. longestSocket is the longest socket name a job uses.
const (
	maxSocketPath = 107
	longestSocket = "save-qmp.sock"
	// fallbackTemp is where the directory goes when $TMPDIR is too long.
	fallbackTemp = "/tmp"
)

// makeTempDir creates a job's temporary directory under $TMPDIR, or under
// /tmp when $TMPDIR is too long for the job's sockets.
func makeTempDir() (string, error) {
	return os.MkdirTemp(tempBase(os.TempDir(), os.Getpid()), fmt.Sprintf("%s%d-", tempPrefix, os.Getpid()))
}

// tempBase is dir, unless a job directory in it (prefix, pid, MkdirTemp's
// up to 10 random digits) would make the longest socket path too long.
func tempBase(dir string, pid int) string {
	job := filepath.Join(dir, fmt.Sprintf("%s%d-%010d", tempPrefix, pid, 0))
	if len(filepath.Join(job, longestSocket)) > maxSocketPath {
		return fallbackTemp
	}
	return dir
}

// sweepStale removes what killed ktstr processes left: guest-RAM files on
// /dev/shm and ktstr-boot temporary directories whose owner is gone, in
// $TMPDIR and in the fallback for a long one.
func sweepStale() {
	vm.SweepStaleShm("/dev/shm")
	vm.SweepStale(os.TempDir(), tempPrefix)
	if filepath.Clean(os.TempDir()) != fallbackTemp {
		vm.SweepStale(fallbackTemp, tempPrefix)
	}
}
