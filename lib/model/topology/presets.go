package topology

// Preset is a named gauntlet topology.
type Preset struct {
	Name string
	Spec Spec
}

// Presets are ktstr's 24 x86_64 gauntlet topologies, in its order.
var Presets = []Preset{
	{"tiny-1llc", Spec{1, 1, 4, 1}},
	{"tiny-2llc", Spec{1, 2, 2, 1}},
	{"odd-3llc", Spec{1, 3, 3, 1}},
	{"odd-5llc", Spec{1, 5, 3, 1}},
	{"odd-7llc", Spec{1, 7, 2, 1}},
	{"smt-2llc", Spec{1, 2, 2, 2}},
	{"smt-3llc", Spec{1, 3, 2, 2}},
	{"medium-4llc", Spec{1, 4, 4, 2}},
	{"medium-8llc", Spec{1, 8, 4, 2}},
	{"large-4llc", Spec{1, 4, 16, 2}},
	{"large-8llc", Spec{1, 8, 8, 2}},
	{"near-max-llc", Spec{1, 15, 8, 2}},
	{"max-cpu", Spec{1, 14, 9, 2}},
	{"medium-4llc-nosmt", Spec{1, 4, 8, 1}},
	{"medium-8llc-nosmt", Spec{1, 8, 8, 1}},
	{"large-4llc-nosmt", Spec{1, 4, 32, 1}},
	{"large-8llc-nosmt", Spec{1, 8, 16, 1}},
	{"near-max-llc-nosmt", Spec{1, 15, 16, 1}},
	{"max-cpu-nosmt", Spec{1, 14, 18, 1}},
	{"numa2-4llc", Spec{2, 4, 4, 1}},
	{"numa2-8llc", Spec{2, 8, 8, 2}},
	{"numa2-8llc-nosmt", Spec{2, 8, 16, 1}},
	{"numa4-8llc", Spec{4, 8, 4, 1}},
	{"numa4-12llc", Spec{4, 12, 8, 2}},
}

// LookupPreset returns the preset called name.
func LookupPreset(name string) (Preset, bool) {
	for _, p := range Presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// Filter selects topologies by size. A zero bound is no bound; SMT nil
// accepts both.
type Filter struct {
	MinCPUs, MaxCPUs int
	MinLLCs, MaxLLCs int
	MinNUMA, MaxNUMA int
	SMT              *bool
}

// Match reports whether s passes every bound of f.
func (f Filter) Match(s Spec) bool {
	in := func(v, lo, hi int) bool { return v >= lo && (hi == 0 || v <= hi) }
	if !in(s.CPUs(), f.MinCPUs, f.MaxCPUs) || !in(s.LLCs, f.MinLLCs, f.MaxLLCs) || !in(s.NUMANodes, f.MinNUMA, f.MaxNUMA) {
		return false
	}
	return f.SMT == nil || *f.SMT == (s.ThreadsPerCore > 1)
}
