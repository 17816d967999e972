//go:generate go run ../../internal/cli/gendoc

package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/units"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

const name = "ktstr-kernel"

// help is the tool's text: --help's description and, via go generate, the
// package documentation (doc.go).
//
//go:embed help.txt
var help string

type globals struct {
	CacheDir string `name:"cache-dir" help:"Kernel cache directory (default: see above)." type:"path"`
	Profile  string `default:"minimal" enum:"minimal,defconfig" help:"Config profile: minimal (tinyconfig-based, safe under multi-threaded TCG) or defconfig (for KVM hosts)."`
}

type buildFlags struct {
	Jobs         int    `short:"j" help:"make -j (default: the host's CPUs)."`
	Force        bool   `help:"Rebuild even if the cache has the kernel (a SPEC that names its source, not a cache entry's key or label)."`
	NoSchedulers bool   `name:"no-schedulers" help:"Do not build tools/sched_ext."`
	Mirror       string `default:"https://cdn.kernel.org/pub/linux/kernel" help:"Download base for versions not installed locally."`
	SourceDir    string `name:"source-dir" default:"/usr/src" hidden:"" help:"Where Debian's linux-source tarballs are."`
	Fragment     string `help:"Extra config fragment (a file of CONFIG_ lines) merged after the profile's: its own cache entry, labelled with the file's name (e.g. preempt.config: kernel_6_12_117_preempt). Not with a source tree or a cache entry's key or label." type:"existingfile"`
	KeepTree     bool   `name:"keep-tree" help:"Keep a tarball's build tree in the cache so that later builds of the same source (another --fragment) only rebuild what their config changes; a kept tree is reused whenever it exists (clean --all removes it). A cache hit builds nothing and keeps no tree (add --force)."`
}

type options struct {
	globals
	Resolve struct {
		Spec  string `arg:"" help:"Kernel SPEC."`
		Build bool   `help:"Build on a cache miss."`
		buildFlags
		cli.Output
	} `cmd:"" help:"Print the kernel record for SPEC (on a terminal: a line saying which kernel); builds only with --build."`
	Build struct {
		Spec string `arg:"" help:"Kernel SPEC."`
		buildFlags
		cli.Output
	} `cmd:"" help:"Build SPEC (or find it in the cache) and print its record (on a terminal: a line saying which kernel)."`
	List struct {
		cli.Output
	} `cmd:"" help:"List cache entries, newest first: a table on a terminal; piped, a kernel record per usable entry and a skip record per corrupt or stale one."`
	Clean struct {
		Keep        int            `help:"Keep the N newest usable entries (with --files: the N newest files of each kind), remove the rest." default:"-1"`
		OlderThan   units.Duration `name:"older-than" help:"Remove entries (with --files: files) older than this: 72h, 7d, 2w (a bare number is seconds); with --keep, what either selects goes."`
		CorruptOnly bool           `name:"corrupt-only" help:"Remove only corrupt entries."`
		All         bool           `help:"Remove every entry (with --files: every file)."`
		Files       bool           `help:"Clean what runs leave in the cache instead of kernels: console logs (logs/), initramfs archives (initramfs/) and the records ktstr-boot keeps on a terminal (runs/)."`
	} `cmd:"" help:"Remove cache entries, or with --files console logs, initramfs archives and run records."`
	Config struct{} `cmd:"" help:"Print the embedded config fragment of --profile."`
}

// CompletionWords: a SPEC completes as the cached kernels' labels (asked
// for at Tab time), a version, or a file (cli.Completer).
func (*options) CompletionWords() map[string][]string {
	spec := []string{"6.12", cli.Values("kernel")}
	return map[string][]string{cli.Args("resolve"): spec, cli.Args("build"): spec}
}

// CompletionValues gives shell completion the labels of the kernel cache's
// usable entries (cli.ValueLister).
func (*options) CompletionValues(kind string) ([]string, error) {
	if kind == "kernel" {
		return kernel.CachedLabels()
	}
	return nil, fmt.Errorf("no values of %q", kind)
}

func main() { cli.Main(run) }

func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	var o options
	kctx, code, done := cli.Parse(name, help, &o, args, stdout, stderr)
	if done {
		return code
	}
	err := o.dispatch(ctx, kctx.Command(), stdout, stderr)
	var be *kernel.BuildError
	if errors.As(err, &be) && len(be.Tail) > 0 {
		fmt.Fprintf(stderr, "%s: last %d lines of %s:\n", name, len(be.Tail), be.Log)
		for _, l := range be.Tail {
			fmt.Fprintf(stderr, "  %s\n", l)
		}
	}
	return cli.Report(stderr, name, err) // a *kernel.SpecError is a usage error
}

func (o *options) cache() (*kernel.Cache, error) {
	root := o.CacheDir
	if root == "" {
		var err error
		if root, err = kernel.DefaultRoot(); err != nil {
			return nil, err
		}
	}
	return kernel.OpenCache(root)
}

func (o *options) dispatch(ctx context.Context, command string, stdout, stderr io.Writer) error {
	if command == "config" {
		f, err := kernel.Fragment(o.Profile)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, f)
		return err
	}
	c, err := o.cache()
	if err != nil {
		return err
	}
	switch command {
	case "resolve <spec>":
		return o.resolve(ctx, c, o.Resolve.Spec, o.Resolve.Build, o.Resolve.buildFlags, o.Resolve.Human(stdout), stdout, stderr)
	case "build <spec>":
		return o.resolve(ctx, c, o.Build.Spec, true, o.Build.buildFlags, o.Build.Human(stdout), stdout, stderr)
	case "list":
		return o.list(c, stdout)
	case "clean":
		return o.clean(c, stderr)
	}
	return fmt.Errorf("unknown command %q", command)
}

// resolve prints the kernel record of spec, or on a terminal (human) one
// line for people: label, release, profile, image.
func (o *options) resolve(ctx context.Context, c *kernel.Cache, spec string, build bool, f buildFlags, human bool, stdout, stderr io.Writer) error {
	r := &kernel.Resolver{Cache: c, Mirror: f.Mirror, SourceDir: f.SourceDir, Build: build,
		BuildOptions: kernel.BuildOptions{Profile: o.Profile, Jobs: f.Jobs, Force: f.Force, NoSchedulers: f.NoSchedulers,
			KeepTree: f.KeepTree, Progress: stderr, TTY: cli.IsTerminal(stderr)}}
	if f.Fragment != "" {
		x, err := kernel.LoadExtra(f.Fragment)
		if err != nil {
			return cli.Usagef("--fragment: %v", err)
		}
		r.Extra = x
	}
	k, err := r.Resolve(ctx, spec)
	if err != nil {
		return err
	}
	if k.Cache == "hit" {
		fmt.Fprintf(stderr, "%s: cache hit for %s: %s (%s, %s, built %s)\n", name, spec, k.Key, k.Label, k.Version, k.BuiltAt)
	}
	if human {
		profile := k.Profile
		if k.Fragment != "" {
			profile += "+" + k.Fragment
		}
		_, err := fmt.Fprintf(stdout, "%s: %s (%s, %s), %s\n", dash(k.Label), dash(k.Version), dash(profile), k.Cache, k.Image)
		return err
	}
	return record.NewWriter(stdout).Write(k)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// list writes the cache's entries: a table for people, records piped.
func (o *options) list(c *kernel.Cache, stdout io.Writer) error {
	entries, err := c.List()
	if err != nil {
		return err
	}
	if !o.List.Human(stdout) {
		// Records: the usable entries as ktstr-boot takes kernels on
		// stdin (with topologies, it runs every job on each), the rest as
		// skips that say why they are not used.
		w := record.NewWriter(stdout)
		for _, e := range entries {
			var err error
			if e.Status == kernel.StatusOK {
				err = w.Write(e.Record("hit"))
			} else {
				err = w.Write(&record.Skip{Source: name, Subject: e.Key, Reason: "kernel_" + e.Status, Detail: e.Reason})
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tLABEL\tVERSION\tPROFILE\tBUILT\tSCHEDULERS\tSTATUS")
	for _, e := range entries {
		label, version, profile, built, scheds := "-", "-", "-", "-", "-"
		if e.Meta != nil {
			version, profile, built = e.Meta.Version, e.Meta.Profile, e.Meta.BuiltAt
			if e.Meta.Extra != "" {
				profile += "+" + e.Meta.Extra
			}
			label = e.Label
			if n := len(e.Meta.Schedulers); n > 0 {
				scheds = fmt.Sprint(n)
			}
		}
		status := e.Status
		if e.Reason != "" {
			status += " (" + e.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Key, label, version, profile, built, scheds, status)
	}
	if len(entries) == 0 {
		fmt.Fprintf(tw, "(no entries in %s)\n", c.Root)
	}
	return tw.Flush()
}

func (o *options) clean(c *kernel.Cache, stderr io.Writer) error {
	cl := o.Clean
	set := 0
	for _, b := range []bool{cl.Keep >= 0 || cl.OlderThan > 0, cl.CorruptOnly, cl.All} {
		if b {
			set++
		}
	}
	if set != 1 || cl.OlderThan < 0 || (cl.Files && cl.CorruptOnly) {
		return cli.Usagef("clean needs exactly one of --keep N and/or --older-than D, --corrupt-only (not with --files), --all")
	}
	if cl.Files {
		root, err := cachedir.Root()
		if err != nil {
			return err
		}
		res, err := cleanFiles(root, cl.Keep, cl.OlderThan.Std(), cl.All, time.Now())
		fmt.Fprintf(stderr, "%s: removed %d file(s), %.1f MB, under %s\n", name, len(res.removed), float64(res.bytes)/1e6, root)
		return err
	}
	entries, err := c.List()
	if err != nil {
		return err
	}
	if cl.All {
		if err := c.RemoveTrees(); err != nil {
			return err
		}
	}
	kept := 0
	var removed []string
	for _, e := range entries {
		remove := false
		switch {
		case o.Clean.All:
			remove = true
		case o.Clean.CorruptOnly:
			remove = e.Status == kernel.StatusCorrupt
		default:
			old := cl.OlderThan > 0 && time.Since(builtAt(e)) > cl.OlderThan.Std()
			switch {
			case cl.Keep < 0:
				remove = old
			case e.Status == kernel.StatusOK && kept < cl.Keep && !old:
				kept++
			default:
				remove = true
			}
		}
		if remove {
			if err := c.Remove(e.Key); err != nil {
				return err
			}
			removed = append(removed, e.Key)
		}
	}
	fmt.Fprintf(stderr, "%s: removed %d entr%s%s\n", name, len(removed), map[bool]string{true: "y", false: "ies"}[len(removed) == 1], strings.Join(append([]string{""}, removed...), "\n  "))
	return nil
}

// builtAt is when an entry was built; the zero time (so: old) when its
// metadata is missing or unreadable.
func builtAt(e kernel.Entry) time.Time {
	if e.Meta == nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339, e.Meta.BuiltAt)
	return t
}
