// Package proto is the contract between the host and the guest agent: where
// the job sits in the guest, where included files land, and the messages the
// agent sends back on the result channel. Both sides import it and nothing
// else of each other, so the host-side tools never link the agent.
//
// The host hands the job over as JobPath in the initramfs, or, to a guest
// restored from a snapshot, as a Start line on PortName (see Start). The
// agent answers
// on a virtio-serial port named PortName with NDJSON messages (Message), one
// per line, and ends with a "done" message before powering off. Anything that
// does not arrive on that channel did not happen: the host never trusts
// QEMU's exit status, which is 0 after a kernel panic too.
package proto

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// PortName is the virtio-serial port that carries results.
const PortName = "ktstr.results"

// JobPath is where the job record sits in the guest.
const JobPath = "/ktstr/job.json"

// IncludeDir is where Job.Include files land in the guest.
const IncludeDir = "/include"

// ShellArg is the kernel command-line parameter (ShellArg=DEVICE) that asks
// the agent for an interactive shell on /dev/DEVICE (ktstr-boot --shell);
// ShellConsole is the serial port the host wires to its terminal for it.
const (
	ShellArg     = "ktstr.shell"
	ShellConsole = "ttyS1"
)

// Message types, in the order the agent sends them.
const (
	MsgHello     = "hello"
	MsgTopology  = "topology"
	MsgExec      = "exec"
	MsgScenario  = "scenario"
	MsgScheduler = "scheduler"
	MsgBPFObject = "bpf_object"
	// MsgProbe is what the job's probes attached and recorded (sent when
	// they are attached, and again with the events when the trigger fires
	// or the run ends: the last one wins).
	MsgProbe = "probe"
	MsgLog   = "log"
	MsgError = "error"
	MsgDone  = "done"
)

// Message is one line on the result channel.
type Message struct {
	Type string `json:"type"`
	// T is seconds since the agent started.
	T         float64                `json:"t"`
	Hello     *record.GuestInfo      `json:"hello,omitempty"`
	Topology  *record.Topology       `json:"topology,omitempty"`
	Exec      *record.ExecResult     `json:"exec,omitempty"`
	Scenario  *record.ScenarioResult `json:"scenario,omitempty"`
	Scheduler *record.SchedulerRun   `json:"scheduler,omitempty"`
	BPFObject *record.BPFObject      `json:"bpf_object,omitempty"`
	Probe     *record.ProbeResult    `json:"probe,omitempty"`
	// Text is the message of a log or error.
	Text string `json:"text,omitempty"`
}

// Decoder reads messages from a result channel capture. It tolerates a
// truncated last line (the guest died mid-write) and reports other bad lines
// as errors without stopping.
type Decoder struct {
	r    *bufio.Reader
	line int
}

// NewDecoder returns a Decoder reading r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 1<<20)} }

// Next returns the next message. It returns io.EOF at the end; a malformed
// line gives a non-nil error and the caller may continue.
func (d *Decoder) Next() (Message, error) {
	for {
		line, err := d.r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return Message{}, err
		}
		d.line++
		if err == io.EOF && line[len(line)-1] != '\n' {
			return Message{}, &MalformedError{d.line, fmt.Sprintf("truncated (%d bytes)", len(line))}
		}
		if len(line) <= 1 {
			continue
		}
		var m Message
		if jerr := json.Unmarshal(line, &m); jerr != nil {
			return Message{}, &MalformedError{d.line, jerr.Error()}
		}
		if m.Type == "" {
			return Message{}, &MalformedError{d.line, "no type"}
		}
		return m, nil
	}
}

// MalformedError is a result-channel line that is not a message.
type MalformedError struct {
	Line   int
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("result channel line %d: %s", e.Line, e.Reason)
}

// Collect reads every message, keeping the errors of malformed lines; it
// stops at the end of the input or at a read error (which it keeps too).
func Collect(r io.Reader) (msgs []Message, errs []error) {
	d := NewDecoder(r)
	for {
		m, err := d.Next()
		var me *MalformedError
		switch {
		case err == nil:
			msgs = append(msgs, m)
		case errors.As(err, &me):
			errs = append(errs, err)
		case err == io.EOF:
			return msgs, errs
		default:
			return msgs, append(errs, err)
		}
	}
}
