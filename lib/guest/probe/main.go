package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cilium/ebpf/asm"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

var asmErrUnreferenced = asm.ErrUnreferencedSymbol

// pollInterval is how often the loader looks for the scheduler's new BPF
// programs and for the trigger.
const pollInterval = 20 * time.Millisecond

// Main is the probe loader process: the binary in role.Probe, which the
// agent starts so that the probes live in a process of their own. args[0] is the job's probes (JSON).
// It writes one record.ProbeResult per line on stdout: when the probes are
// attached (no events), whenever it attached more (the scheduler's
// programs), when the trigger fired (the events), and when told to stop
// with SIGTERM (the events, unless the trigger already flushed them; then
// that result again). Exit status 0, or 1 when nothing could be loaded.
func Main(args []string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var p record.Probes
	if len(args) != 1 {
		fmt.Fprintln(stderr, "probe: want the probes as one JSON argument")
		return 2
	}
	if err := json.Unmarshal([]byte(args[0]), &p); err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	l, err := Load(&p)
	if err != nil {
		enc.Encode(&record.ProbeResult{Errors: []string{err.Error()}})
		return 1
	}
	defer l.Close()
	l.Poll()
	enc.Encode(l.Result(""))
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var fired *record.ProbeResult
	for {
		select {
		case <-sigs:
			if fired == nil {
				fired = l.Result("end")
			}
			enc.Encode(fired)
			return 0
		case <-tick.C:
			if fired != nil {
				continue
			}
			if l.Poll() > 0 {
				enc.Encode(l.Result(""))
			}
			if l.Fired() {
				fired = l.Result(p.Trigger)
				enc.Encode(fired)
			}
		}
	}
}
