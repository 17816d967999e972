// Package topology models the synthetic CPU topologies ktstr boots: NUMA
// nodes × last-level caches × cores × SMT threads. It parses topology specs
// ("1,2,4,2" or "1n2l4c2t"), knows the gauntlet presets, builds topology
// records with the CPU numbering QEMU gives the guest, and reads a real
// machine's topology from sysfs (the host's, or the guest's from inside).
package topology

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// MaxVCPUs is the most CPUs a q35 machine in QEMU takes (-smp maxcpus).
const MaxVCPUs = 288

// maxDim bounds each dimension separately, before the product is checked,
// so the product cannot overflow.
const maxDim = 512

// Spec is a regular topology: NUMANodes nodes, LLCs last-level caches in all
// (spread evenly over the nodes), CoresPerLLC cores per LLC and
// ThreadsPerCore hardware threads per core.
type Spec struct {
	NUMANodes      int
	LLCs           int
	CoresPerLLC    int
	ThreadsPerCore int
}

// CPUs is the number of logical CPUs.
func (s Spec) CPUs() int { return s.LLCs * s.CoresPerLLC * s.ThreadsPerCore }

// LLCsPerNode is the number of LLCs on each node (QEMU's dies per socket).
func (s Spec) LLCsPerNode() int { return s.LLCs / s.NUMANodes }

// Name is the compact form, e.g. "1n2l4c2t".
func (s Spec) Name() string {
	return fmt.Sprintf("%dn%dl%dc%dt", s.NUMANodes, s.LLCs, s.CoresPerLLC, s.ThreadsPerCore)
}

// String is the comma form, e.g. "1,2,4,2".
func (s Spec) String() string {
	return fmt.Sprintf("%d,%d,%d,%d", s.NUMANodes, s.LLCs, s.CoresPerLLC, s.ThreadsPerCore)
}

// Validate checks that s is a topology the VM can be given. The error names
// the field and the allowed range.
func (s Spec) Validate() error {
	fields := []struct {
		name string
		v    int
	}{{"numa_nodes", s.NUMANodes}, {"llcs", s.LLCs}, {"cores_per_llc", s.CoresPerLLC}, {"threads_per_core", s.ThreadsPerCore}}
	for _, f := range fields {
		if f.v < 1 || f.v > maxDim {
			return fmt.Errorf("%s must be 1..%d, got %d", f.name, maxDim, f.v)
		}
	}
	if s.LLCs%s.NUMANodes != 0 {
		return fmt.Errorf("llcs (%d) must be a multiple of numa_nodes (%d): an LLC cannot span nodes", s.LLCs, s.NUMANodes)
	}
	if s.LLCs*s.CoresPerLLC > maxDim*maxDim || s.CPUs() > MaxVCPUs {
		return fmt.Errorf("cpus = llcs×cores_per_llc×threads_per_core must be 1..%d (QEMU q35's limit), got %d", MaxVCPUs, s.LLCs*s.CoresPerLLC*s.ThreadsPerCore)
	}
	return nil
}

var compactSpec = regexp.MustCompile(`^(\d+)n(\d+)l(\d+)c(\d+)t$`)

// ParseSpec parses "N,L,C,T" (e.g. "1,2,4,2") or the compact "NnLlCcTt"
// (e.g. "1n2l4c2t") and validates the result.
func ParseSpec(text string) (Spec, error) {
	t := strings.TrimSpace(text)
	var parts []string
	if m := compactSpec.FindStringSubmatch(strings.ToLower(t)); m != nil {
		parts = m[1:]
	} else {
		parts = strings.Split(t, ",")
	}
	if len(parts) != 4 {
		return Spec{}, fmt.Errorf("topology %q: want N,L,C,T (e.g. 1,2,4,2: numa nodes, LLCs in total, cores per LLC, threads per core) or NnLlCcTt (e.g. 1n2l4c2t)", text)
	}
	var v [4]int
	names := [4]string{"numa_nodes", "llcs", "cores_per_llc", "threads_per_core"}
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return Spec{}, fmt.Errorf("topology %q: %s must be a whole number 1..%d, got %q", text, names[i], maxDim, strings.TrimSpace(p))
		}
		v[i] = n
	}
	s := Spec{NUMANodes: v[0], LLCs: v[1], CoresPerLLC: v[2], ThreadsPerCore: v[3]}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("topology %q: %w", text, err)
	}
	return s, nil
}

// DefaultRemoteDistance is the SLIT distance between different nodes unless
// told otherwise; the local distance is always 10.
const DefaultRemoteDistance = 20

// LocalDistance is the SLIT distance of a node to itself.
const LocalDistance = 10

// Record builds the topology record for s with the CPU numbering QEMU gives a
// guest started with the DESIGN recipe (-smp sockets=N,dies=L/N,cores=C,
// threads=T): thread varies fastest, then core, then die (LLC), then socket
// (node). remoteDistance is the SLIT distance between nodes (11..254).
func (s Spec) Record(remoteDistance int) *record.Topology {
	cpusPerLLC := s.CoresPerLLC * s.ThreadsPerCore
	t := &record.Topology{
		Name: s.Name(), Source: "spec",
		NUMANodes: s.NUMANodes, LLCs: s.LLCs, CoresPerLLC: s.CoresPerLLC, ThreadsPerCore: s.ThreadsPerCore,
		CPUs: s.CPUs(),
	}
	for n := 0; n < s.NUMANodes; n++ {
		node := record.TopologyNode{ID: n, CPUs: FormatList(Range(n*s.LLCsPerNode()*cpusPerLLC, s.LLCsPerNode()*cpusPerLLC))}
		for d := 0; d < s.LLCsPerNode(); d++ {
			node.LLCs = append(node.LLCs, n*s.LLCsPerNode()+d)
		}
		t.Nodes = append(t.Nodes, node)
	}
	for l := 0; l < s.LLCs; l++ {
		t.LLCGroups = append(t.LLCGroups, record.LLCGroup{ID: l, Node: l / s.LLCsPerNode(), CPUs: FormatList(Range(l*cpusPerLLC, cpusPerLLC))})
	}
	for c := 0; c < s.CPUs(); c += s.ThreadsPerCore {
		t.SMTGroups = append(t.SMTGroups, FormatList(Range(c, s.ThreadsPerCore)))
	}
	t.Distances = DistanceMatrix(s.NUMANodes, remoteDistance)
	return t
}

// DistanceMatrix is the n×n SLIT with LocalDistance on the diagonal and
// remote elsewhere.
func DistanceMatrix(n, remote int) [][]int {
	m := make([][]int, n)
	for i := range m {
		m[i] = make([]int, n)
		for j := range m[i] {
			m[i][j] = remote
			if i == j {
				m[i][j] = LocalDistance
			}
		}
	}
	return m
}

// SpecOf returns the dimensions of a topology record as a Spec.
func SpecOf(t *record.Topology) Spec {
	return Spec{NUMANodes: t.NUMANodes, LLCs: t.LLCs, CoresPerLLC: t.CoresPerLLC, ThreadsPerCore: t.ThreadsPerCore}
}
