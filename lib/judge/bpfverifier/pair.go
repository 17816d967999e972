package bpfverifier

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Key is what a program's verifier cost depends on besides its code: a
// count is only comparable with one of the same key. The verifier explores
// a program differently under another flag profile (other branches are
// live), topology (CPU counts are load-time constants) or kernel.
type Key struct {
	// Source is the scheduler's name, or a --bpf-object file's base name.
	Source  string
	Program string
	// Profile is the scheduler's flag profile; empty for a BPF object.
	Profile  string
	Topology string
	// Kernel is the kernel's version, else its cache key.
	Kernel string
}

// String is the key as a delta record's subject:
// "scx_qmap/qmap_dispatch default 1n1l2c1t 6.12.117".
func (k Key) String() string {
	fields := []string{k.Source + "/" + k.Program}
	for _, f := range []string{k.Profile, k.Topology, k.Kernel} {
		if f != "" {
			fields = append(fields, f)
		}
	}
	return strings.Join(fields, " ")
}

func (k Key) compare(o Key) int {
	return cmp.Or(cmp.Compare(k.Source, o.Source), cmp.Compare(k.Program, o.Program), cmp.Compare(k.Profile, o.Profile),
		cmp.Compare(k.Topology, o.Topology), cmp.Compare(k.Kernel, o.Kernel))
}

// Sample is one program's verified-instruction count in one run.
type Sample struct {
	Key
	VerifiedInsns uint32
}

// Samples returns the programs of runs (the scheduler's and those of
// --bpf-object files) with their keys.
func Samples(runs []*record.Run) []Sample {
	var out []Sample
	for _, r := range runs {
		var k Key
		if j := r.Job; j != nil {
			if j.Topology != nil {
				k.Topology = j.Topology.Name
			}
			if j.Kernel != nil {
				k.Kernel = cmp.Or(j.Kernel.Version, j.Kernel.Key)
			}
			if j.Scheduler != nil && r.Scheduler != nil {
				sk := k
				sk.Source, sk.Profile = j.Scheduler.Name, j.Scheduler.Profile
				for _, p := range r.Scheduler.Programs {
					sk.Program = p.Name
					out = append(out, Sample{sk, p.VerifiedInsns})
				}
			}
		}
		for _, o := range r.BPFObjects {
			ok := k
			ok.Source = filepath.Base(o.Path)
			for _, p := range o.Programs {
				ok.Program = p.Name
				out = append(out, Sample{ok, p.VerifiedInsns})
			}
		}
	}
	return out
}

// Delta is one program's verified-instruction count on both sides.
type Delta struct {
	Key
	A, B uint32
	// InA, InB say whether the key was seen on that side: a Delta with
	// one of them false could not be paired.
	InA, InB bool
}

// Diff is B − A.
func (d Delta) Diff() int64 { return int64(d.B) - int64(d.A) }

// Paired reports whether both sides have the key.
func (d Delta) Paired() bool { return d.InA && d.InB }

// Across is a key dimension whose value differs between the sides and is
// the same within each (e.g. every run of A on kernel 6.12, every run of B
// on 6.13): that difference is what is being compared, so it is left out
// of the pairing.
type Across struct {
	Dimension string
	A, B      string
}

func (a Across) String() string { return fmt.Sprintf("%s %s → %s", a.Dimension, a.A, a.B) }

// Comparison is the result of Compare.
type Comparison struct {
	// Deltas are sorted by key; the unpaired ones have InA or InB false.
	Deltas []Delta
	// Across are the dimensions compared across (see Across).
	Across []Across
}

// dimensions are the key fields Compare may compare across.
var dimensions = []struct {
	name string
	get  func(*Key) *string
}{
	{"profile", func(k *Key) *string { return &k.Profile }},
	{"topology", func(k *Key) *string { return &k.Topology }},
	{"kernel", func(k *Key) *string { return &k.Kernel }},
}

// only returns the single value of a dimension over samples, if there is one.
func only(samples []Sample, get func(*Key) *string) (string, bool) {
	v, ok := "", false
	for i := range samples {
		s := *get(&samples[i].Key)
		if ok && s != v {
			return "", false
		}
		v, ok = s, true
	}
	return v, ok
}

// Compare pairs programs of two sets of runs by their whole Key, except for
// the dimensions each side has one differing value of (Across). Runs that
// repeat a key on one side give its largest count (the verifier's cost of a
// fixed program under a fixed key does not vary; this only guards against
// a partial load).
func Compare(a, b []Sample) Comparison {
	var c Comparison
	a, b = slices.Clone(a), slices.Clone(b)
	for _, d := range dimensions {
		va, oka := only(a, d.get)
		vb, okb := only(b, d.get)
		if !oka || !okb || va == vb {
			continue
		}
		c.Across = append(c.Across, Across{d.name, va, vb})
		for i := range a {
			*d.get(&a[i].Key) = ""
		}
		for i := range b {
			*d.get(&b[i].Key) = ""
		}
	}
	largest := func(ss []Sample) map[Key]uint32 {
		m := map[Key]uint32{}
		for _, s := range ss {
			m[s.Key] = max(m[s.Key], s.VerifiedInsns)
		}
		return m
	}
	ma, mb := largest(a), largest(b)
	for k, va := range ma {
		vb, inb := mb[k]
		c.Deltas = append(c.Deltas, Delta{Key: k, A: va, B: vb, InA: true, InB: inb})
	}
	for k, vb := range mb {
		if _, ina := ma[k]; !ina {
			c.Deltas = append(c.Deltas, Delta{Key: k, B: vb, InB: true})
		}
	}
	slices.SortFunc(c.Deltas, func(x, y Delta) int { return x.Key.compare(y.Key) })
	return c
}
