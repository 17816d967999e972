package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/internal/meminfo"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// ReadSysfs reads the topology of the running machine from a sysfs tree
// rooted at sysRoot ("/sys" normally; a fixture directory in tests): online
// CPUs, NUMA nodes with their cpu lists, memory and SLIT distances, LLC groups
// from the highest cache level's shared_cpu_list, and SMT sibling groups.
// source is recorded in the result ("host" or "guest").
//
// The groups are what the kernel reports; the dimensions are derived from
// them (the largest seen, for an irregular machine).
func ReadSysfs(sysRoot, source string) (*record.Topology, error) {
	cpuDir := filepath.Join(sysRoot, "devices/system/cpu")
	online, err := readList(filepath.Join(cpuDir, "online"))
	if err != nil {
		return nil, fmt.Errorf("read online cpus: %w", err)
	}
	if len(online) == 0 {
		return nil, errors.New("read online cpus: none online")
	}

	llcOf := map[string][]int{} // cpu list text → cpus, de-duplicates shared groups
	smtOf := map[string][]int{}
	for _, cpu := range online {
		dir := filepath.Join(cpuDir, fmt.Sprintf("cpu%d", cpu))
		llc, err := llcCPUs(dir)
		if err != nil {
			return nil, fmt.Errorf("cpu%d: %w", cpu, err)
		}
		llc = intersect(llc, online)
		llcOf[FormatList(llc)] = llc
		smt, err := readList(filepath.Join(dir, "topology/thread_siblings_list"))
		if err != nil {
			smt = []int{cpu} // no topology directory: every CPU is its own core
		}
		smt = intersect(smt, online)
		smtOf[FormatList(smt)] = smt
	}

	nodes, err := readNodes(sysRoot, online)
	if err != nil {
		return nil, err
	}

	t := &record.Topology{Source: source, CPUs: len(online)}
	llcs := sortedGroups(llcOf)
	for id, cpus := range llcs {
		node := nodeOf(nodes, cpus[0])
		t.LLCGroups = append(t.LLCGroups, record.LLCGroup{ID: id, Node: node, CPUs: FormatList(cpus)})
		t.ThreadsPerCore = max(t.ThreadsPerCore, 1)
	}
	for _, smt := range sortedGroups(smtOf) {
		t.SMTGroups = append(t.SMTGroups, FormatList(smt))
		t.ThreadsPerCore = max(t.ThreadsPerCore, len(smt))
	}
	for _, llc := range llcs {
		t.CoresPerLLC = max(t.CoresPerLLC, (len(llc)+t.ThreadsPerCore-1)/t.ThreadsPerCore)
	}
	t.LLCs = len(llcs)
	for i, n := range nodes {
		tn := record.TopologyNode{ID: n.id, CPUs: FormatList(n.cpus), MemoryMB: n.memoryMB}
		for _, g := range t.LLCGroups {
			if g.Node == n.id {
				tn.LLCs = append(tn.LLCs, g.ID)
			}
		}
		t.Nodes = append(t.Nodes, tn)
		t.Distances = append(t.Distances, nodes[i].distances)
	}
	t.NUMANodes = len(nodes)
	t.Name = Spec{t.NUMANodes, t.LLCs, t.CoresPerLLC, t.ThreadsPerCore}.Name()
	return t, nil
}

// llcCPUs returns the CPUs sharing the highest-level data or unified cache
// of the CPU whose sysfs directory is dir. Without cache information it falls
// back to the die, then the package, the way the scheduler's topology would.
func llcCPUs(dir string) ([]int, error) {
	indexes, _ := filepath.Glob(filepath.Join(dir, "cache/index*"))
	best, bestLevel := "", -1
	for _, idx := range indexes {
		typ, _ := readString(filepath.Join(idx, "type"))
		if typ == "Instruction" {
			continue
		}
		levelText, err := readString(filepath.Join(idx, "level"))
		if err != nil {
			continue
		}
		if level, err := strconv.Atoi(levelText); err == nil && level > bestLevel {
			best, bestLevel = idx, level
		}
	}
	candidates := []string{"topology/die_cpus_list", "topology/package_cpus_list", "topology/core_siblings_list"}
	if best != "" {
		candidates = append([]string{filepath.Join(best, "shared_cpu_list")}, candidates...)
	}
	for _, c := range candidates {
		p := c
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, c)
		}
		if cpus, err := readList(p); err == nil && len(cpus) > 0 {
			return cpus, nil
		}
	}
	return nil, errors.New("no cache or package information in sysfs")
}

type sysNode struct {
	id        int
	cpus      []int
	memoryMB  int
	distances []int
}

// readNodes reads the NUMA nodes that have online CPUs. A kernel without
// NUMA has no node directory: that is one node holding every CPU.
func readNodes(sysRoot string, online []int) ([]sysNode, error) {
	dirs, _ := filepath.Glob(filepath.Join(sysRoot, "devices/system/node/node[0-9]*"))
	var all []sysNode
	for _, dir := range dirs {
		id, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "node"))
		if err != nil {
			continue
		}
		cpus, err := readList(filepath.Join(dir, "cpulist"))
		if err != nil {
			return nil, fmt.Errorf("node%d: %w", id, err)
		}
		n := sysNode{id: id, cpus: intersect(cpus, online), memoryMB: meminfo.MB(filepath.Join(dir, "meminfo"), "MemTotal")}
		if text, err := readString(filepath.Join(dir, "distance")); err == nil {
			for _, f := range strings.Fields(text) {
				d, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("node%d distance %q: %w", id, text, err)
				}
				n.distances = append(n.distances, d)
			}
		}
		all = append(all, n)
	}
	slices.SortFunc(all, func(a, b sysNode) int { return a.id - b.id })
	if len(all) == 0 {
		return []sysNode{{id: 0, cpus: online, distances: []int{LocalDistance}}}, nil
	}
	// Keep the distance columns of CPU-bearing nodes only, so the matrix is
	// square over the nodes reported.
	var keep []int
	var nodes []sysNode
	for i, n := range all {
		if len(n.cpus) > 0 {
			keep = append(keep, i)
			nodes = append(nodes, n)
		}
	}
	for i := range nodes {
		var row []int
		for _, col := range keep {
			if col < len(nodes[i].distances) {
				row = append(row, nodes[i].distances[col])
			}
		}
		nodes[i].distances = row
	}
	return nodes, nil
}

func nodeOf(nodes []sysNode, cpu int) int {
	for _, n := range nodes {
		if slices.Contains(n.cpus, cpu) {
			return n.id
		}
	}
	return 0
}

// sortedGroups returns the distinct CPU groups ordered by their first CPU.
func sortedGroups(groups map[string][]int) [][]int {
	out := make([][]int, 0, len(groups))
	for _, g := range groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}

func intersect(a, b []int) []int {
	var out []int
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readList(path string) ([]int, error) {
	s, err := readString(path)
	if err != nil {
		return nil, err
	}
	return ParseList(s)
}
