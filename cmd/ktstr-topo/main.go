//go:generate go run ../../internal/cli/gendoc

package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/machine"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

const name = "ktstr-topo"

// help is the tool's text: --help's description and, via go generate, the
// package documentation (doc.go).
//
//go:embed help.txt
var help string

type options struct {
	Specs    []string `arg:"" optional:"" name:"spec" help:"Topologies as N,L,C,T or NnLlCcTt (e.g. 1,2,4,2 or 1n2l4c2t)."`
	Presets  bool     `help:"Emit the 24 x86 gauntlet presets."`
	Host     bool     `help:"Emit this machine's topology, read from sysfs."`
	Sysfs    string   `default:"/sys" hidden:"" help:"sysfs root for --host."`
	Distance int      `default:"20" help:"SLIT distance between different NUMA nodes (11..254); local is 10."`

	MinCPUs  int  `name:"min-cpus" help:"Only topologies with at least this many CPUs."`
	MaxCPUs  int  `name:"max-cpus" help:"Only topologies with at most this many CPUs."`
	MinLLCs  int  `name:"min-llcs" help:"Only topologies with at least this many LLCs."`
	MaxLLCs  int  `name:"max-llcs" help:"Only topologies with at most this many LLCs."`
	MinNUMA  int  `name:"min-numa" help:"Only topologies with at least this many NUMA nodes."`
	MaxNUMA  int  `name:"max-numa" help:"Only topologies with at most this many NUMA nodes."`
	SMT      bool `name:"smt" xor:"smt" help:"Only topologies with SMT (threads per core > 1)."`
	NoSMT    bool `name:"no-smt" xor:"smt" help:"Only topologies without SMT."`
	FitsHost bool `name:"fits-host" help:"Emit a skip record, with the reason, for each topology this host cannot run."`

	Overcommit int `default:"8" help:"vCPUs per host CPU that --fits-host accepts."`

	cli.Format
}

func main() { cli.Main(run) }

func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	var o options
	if _, code, done := cli.Parse(name, help, &o, args, stdout, stderr); done {
		return code
	}
	if len(o.Specs) == 0 && !o.Presets && !o.Host && cli.StdinIsTerminal(stdin) {
		fmt.Fprintf(stderr, "%s: reading specs (N,L,C,T, one per line) from stdin (this terminal); end with Ctrl-D.\n  e.g.  %s 1,2,2,1    or    %s --presets --fits-host\n", name, name, name)
	}
	return cli.Report(stderr, name, o.run(ctx, stdin, stdout))
}

// emitter writes topologies, applying filters, --fits-host and the output
// switch: records, or a view for people (human).
type emitter struct {
	o        *options
	out      *record.Writer
	text     io.Writer
	human    bool
	filter   topology.Filter
	capacity topology.Capacity
}

func (o *options) run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	if o.Distance < 11 || o.Distance > 254 {
		return cli.Usagef("--distance must be 11..254, got %d", o.Distance)
	}
	human, err := o.Format.Human(stdout)
	if err != nil {
		return err
	}
	e := &emitter{o: o, out: record.NewWriter(stdout), text: stdout, human: human, filter: o.filter()}
	if o.FitsHost {
		e.capacity = topology.Capacity{CPUs: machine.CPUs(), MemoryMB: machine.MemAvailableMB(), Overcommit: o.Overcommit}
	}

	// Validate every argument before emitting anything: a typo in the third
	// spec should not leave two records half-way down a pipeline.
	var specs []topology.Spec
	for _, text := range o.Specs {
		s, err := topology.ParseSpec(text)
		if err != nil {
			return cli.Usage(err)
		}
		specs = append(specs, s)
	}
	for _, s := range specs {
		if err := e.emit(s.Record(o.Distance)); err != nil {
			return err
		}
	}
	if o.Presets {
		for _, p := range topology.Presets {
			t := p.Spec.Record(o.Distance)
			t.Preset, t.Source = p.Name, "preset"
			if err := e.emit(t); err != nil {
				return err
			}
		}
	}
	if o.Host {
		t, err := topology.ReadSysfs(o.Sysfs, "host")
		if err != nil {
			return fmt.Errorf("read host topology: %w", err)
		}
		if err := e.write(t); err != nil {
			return err
		}
	}
	if len(o.Specs) == 0 && !o.Presets && !o.Host {
		return e.fromStdin(ctx, stdin)
	}
	return nil
}

func (o *options) filter() topology.Filter {
	f := topology.Filter{MinCPUs: o.MinCPUs, MaxCPUs: o.MaxCPUs, MinLLCs: o.MinLLCs, MaxLLCs: o.MaxLLCs, MinNUMA: o.MinNUMA, MaxNUMA: o.MaxNUMA}
	if o.SMT || o.NoSMT {
		smt := o.SMT
		f.SMT = &smt
	}
	return f
}

// emit applies the filters and the host check to t and writes it.
func (e *emitter) emit(t *record.Topology) error {
	s := topology.SpecOf(t)
	if !e.filter.Match(s) {
		return nil
	}
	if e.o.FitsHost {
		var skip *record.SkipError
		if err := e.capacity.CheckFits(s); errors.As(err, &skip) {
			subject := t.Name
			if t.Preset != "" {
				subject = t.Preset
			}
			if e.human {
				_, werr := fmt.Fprintf(e.text, "skip %s: %s\n\n", subject, skip.Detail)
				return werr
			}
			return e.out.Write(skip.Record(name, subject, t))
		}
	}
	return e.write(t)
}

func (e *emitter) write(t *record.Topology) error {
	if e.human {
		if err := topology.WriteText(e.text, t); err != nil {
			return err
		}
		_, err := io.WriteString(e.text, "\n")
		return err
	}
	return e.out.Write(t)
}

// fromStdin reads specs one per line; record lines pass through. A bad line
// becomes an error record (on a terminal, a line saying so) and the stream
// goes on; the exit status is then 2.
func (e *emitter) fromStdin(ctx context.Context, stdin io.Reader) error {
	loop := record.Loop{Source: name, Lenient: true, Out: e.out}
	if e.human {
		loop.Tell = func(err error) { fmt.Fprintf(e.text, "error: %v\n\n", err) }
	}
	bad, err := loop.Run(ctx, stdin, func(line record.Line) error {
		if line.Kind != "" { // a record (or an error record for a broken one)
			return record.Pass
		}
		s, err := topology.ParseSpec(string(line.Raw))
		if err != nil {
			return record.Reject(err)
		}
		return e.emit(s.Record(e.o.Distance))
	})
	if err != nil {
		return err
	}
	if bad > 0 {
		return cli.BadLines(bad)
	}
	return nil
}
