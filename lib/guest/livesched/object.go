package livesched

import (
	"errors"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ktstr-go/ktstr/lib/judge/bpfverifier"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// VerifyObject loads every program of a BPF object file through the
// verifier and unloads it again; nothing is attached. It reports each
// program's verified instructions and statistics line, or the error and the
// verifier's log of the rejection.
func VerifyObject(path string) record.BPFObject {
	out := record.BPFObject{Path: path}
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats, LogSizeStart: 1 << 20},
	})
	if err != nil {
		out.Error = firstLine(err.Error())
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			out.Log = strings.Join(ve.Log, "\n")
			out.Error = bpfverifier.Explain(out.Error, ve.Cause.Error(), ve.Log)
		}
		return out
	}
	defer coll.Close()
	names := make([]string, 0, len(coll.Programs))
	for n := range coll.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := coll.Programs[n]
		bp := record.BPFProgram{Name: n, Type: p.Type().String()}
		if info, err := p.Info(); err == nil {
			if id, ok := info.ID(); ok {
				bp.ID = uint32(id)
			}
			if v, ok := info.VerifiedInstructions(); ok {
				bp.VerifiedInsns = v
			}
		}
		var stats []string
		for _, l := range strings.Split(p.VerifierLog, "\n") {
			if strings.HasPrefix(l, "processed ") || strings.HasPrefix(l, "verification time") || strings.HasPrefix(l, "stack depth") {
				stats = append(stats, l)
			}
		}
		bp.VerifierStats = strings.Join(stats, "; ")
		out.Programs = append(out.Programs, bp)
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
