package topology

import (
	"fmt"
	"io"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// WriteText prints a human view of t, in the spirit of ktstr's `topo`:
//
//	1n2l4c2t (16 CPUs)
//	CPUs: 16  LLCs: 2  NUMA nodes: 1  threads/core: 2
//	node 0: cpus 0-15  LLCs 0,1  distances 10
//	  LLC 0 (node 0): cpus 0-7  SMT 0-1 2-3 4-5 6-7
func WriteText(w io.Writer, t *record.Topology) error {
	title := t.Name
	if t.Preset != "" {
		title = t.Preset + " " + t.Name
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d CPUs)\n", title, t.CPUs)
	fmt.Fprintf(&b, "CPUs: %d  LLCs: %d  NUMA nodes: %d  threads/core: %d\n", t.CPUs, t.LLCs, t.NUMANodes, t.ThreadsPerCore)
	for i, n := range t.Nodes {
		var llcs []string
		for _, id := range n.LLCs {
			llcs = append(llcs, fmt.Sprint(id))
		}
		var dist []string
		if i < len(t.Distances) {
			for _, d := range t.Distances[i] {
				dist = append(dist, fmt.Sprint(d))
			}
		}
		mem := ""
		if n.MemoryMB > 0 {
			mem = fmt.Sprintf("  memory %d MB", n.MemoryMB)
		}
		fmt.Fprintf(&b, "node %d: cpus %s  LLCs %s  distances %s%s\n", n.ID, n.CPUs, strings.Join(llcs, ","), strings.Join(dist, " "), mem)
		for _, g := range t.LLCGroups {
			if g.Node != n.ID {
				continue
			}
			fmt.Fprintf(&b, "  LLC %d (node %d): cpus %s", g.ID, g.Node, g.CPUs)
			if t.ThreadsPerCore > 1 {
				b.WriteString("  SMT")
				for _, s := range smtWithin(t.SMTGroups, g.CPUs) {
					b.WriteString(" " + s)
				}
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// smtWithin returns the SMT groups whose first CPU lies in the cpu list llc.
func smtWithin(groups []string, llc string) []string {
	cpus, _ := ParseList(llc)
	in := map[int]bool{}
	for _, c := range cpus {
		in[c] = true
	}
	var out []string
	for _, g := range groups {
		if gc, err := ParseList(g); err == nil && len(gc) > 0 && in[gc[0]] {
			out = append(out, g)
		}
	}
	return out
}
