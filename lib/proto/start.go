package proto

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// The job over the channel (snapshot restore).
//
// A guest booted without JobPath in its initramfs is a snapshot source: the
// agent mounts, opens PortName, sends MsgReady and blocks reading one line
// from the same port. The host saves the machine at that point (before any
// job) and later restores copies of it; each copy gets its Start line on
// the port, and the agent goes on as if it had found the job in the
// initramfs. Everything that copies of one snapshot must not share is in
// Start: the agent sets the guest's clock and reseeds its random generator
// from it before it runs anything of the job.

// MsgReady says the agent has no job yet and is waiting for a Start line.
const MsgReady = "ready"

// MsgIntake is a restored agent's account of its Start line (Text): what
// it could not make differ from its siblings (the clock, the random
// generator, the pids) and why. The host puts it in the run record.
const MsgIntake = "intake"

// IntakePIDsNotSpread begins MsgIntake's text when the guest's pids follow
// the snapshot's sequence.
const IntakePIDsNotSpread = "pids not spread"

// Start is what the host sends a guest waiting for its job: one JSON line
// on PortName.
type Start struct {
	// Job is the job record (record.Marshal).
	Job json.RawMessage `json:"job"`
	// UnixNS is the host's wall clock when it sent Start, nanoseconds since
	// the epoch: the guest's clock is set to it (a restored guest's clock
	// would otherwise read the moment the snapshot was taken).
	UnixNS int64 `json:"unix_ns"`
	// Seed is mixed into the guest's random generator, which is then
	// reseeded: copies of one snapshot must not draw the same numbers (or
	// the same boot id).
	Seed []byte `json:"seed"`
}

// MaxStartLine bounds a Start line the agent accepts.
const MaxStartLine = 16 << 20

// EncodeStart is the Start line for job: JSON with a trailing newline.
func EncodeStart(job *record.Job, unixNS int64, seed []byte) ([]byte, error) {
	jb, err := record.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("encode start: %w", err)
	}
	b, err := json.Marshal(Start{Job: jb, UnixNS: unixNS, Seed: seed})
	if err != nil {
		return nil, fmt.Errorf("encode start: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeStart parses a Start line and its job.
func DecodeStart(line []byte) (*Start, *record.Job, error) {
	var s Start
	if err := json.Unmarshal(line, &s); err != nil {
		return nil, nil, fmt.Errorf("decode start: %w", err)
	}
	if len(s.Job) == 0 {
		return nil, nil, errors.New("decode start: no job")
	}
	var j record.Job
	if err := record.Unmarshal(s.Job, &j); err != nil {
		return nil, nil, fmt.Errorf("decode start: job: %w", err)
	}
	return &s, &j, nil
}
