package repro

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// traceLine is one event of the probes' panic path: the guest's probes
// also write every event to the trace buffer, which the kernel prints on
// the console when it panics (ftrace_dump_on_oops), e.g.
//
//	[ 7.029] sh-51   1....1 9881637us : bpf_trace_printk: ktstr-probe 0 0 51 63 1255 0 0 0 0 0 0 0
//
// comm-pid, cpu, time (µs in the latency format, else seconds), then the
// target id, the exit flag, the pid and the eight field values and the
// return value in hex.
var traceLine = regexp.MustCompile(`^(?:\[\s*[0-9.]+\]\s*)?\s*(.+)-(\d+)\s+\[?(\d+)\]?\S*\s+(\d+(?:\.\d+)?)(us)?\s*: bpf_trace_printk: ktstr-probe ((?:[0-9a-f]+ ?){12})\s*$`)

// ConsoleEvents returns the probe events of a console's trace dump,
// decoded with the legend of targets (ProbeTarget.Fields; the target id is
// the index). The dump holds each CPU's last events, oldest first.
func ConsoleEvents(lines []string, targets []record.ProbeTarget) []record.ProbeEvent {
	var out []record.ProbeEvent
	for _, l := range lines {
		m := traceLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		f := strings.Fields(m[6])
		if len(f) != 12 {
			continue
		}
		id, err1 := strconv.ParseUint(f[0], 10, 32)
		exit, err2 := strconv.ParseUint(f[1], 10, 32)
		pid, err3 := strconv.Atoi(f[2])
		cpu, err4 := strconv.Atoi(m[3])
		ts, err5 := strconv.ParseFloat(m[4], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		ns := uint64(ts * 1e9)
		if m[5] == "us" {
			ns = uint64(ts * 1e3)
		}
		ev := record.ProbeEvent{TNS: ns, CPU: cpu, PID: pid, Comm: strings.TrimSpace(m[1]), Exit: exit == 1}
		ev.Func = fmt.Sprintf("target#%d", id)
		var legend []string
		if int(id) < len(targets) {
			ev.Func, legend = targets[id].Name, targets[id].Fields
		}
		for i, fl := range legend {
			if i >= 8 {
				break
			}
			v, _ := strconv.ParseUint(f[3+i], 16, 64)
			name, kind, _ := strings.Cut(fl, ":")
			ev.Args = append(ev.Args, name+"="+rawValue(kind, v))
		}
		if ev.Exit {
			ev.Ret = "0x" + f[11]
		}
		out = append(out, ev)
	}
	return out
}

// rawValue renders a value without the kernel's enums (the host decodes
// the panic path without the guest's BTF): numbers in decimal, the rest
// in hex.
func rawValue(kind string, v uint64) string {
	switch kind {
	case "pid", "cpu", "int":
		return strconv.FormatInt(int64(int32(v)), 10)
	case "uint":
		return strconv.FormatUint(v, 10)
	case "bool":
		return strconv.FormatBool(v != 0)
	}
	return fmt.Sprintf("%#x", v)
}

// consoleLines reads a console log, nil when it is gone.
func consoleLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
